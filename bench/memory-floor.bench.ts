/**
 * The in-process read and write path against its floor, same process, same run:
 * a minimal sketch of the design (hash the key, binary-search the ranges, one
 * Map lookup, wrap `{ hash, record }`, behind `async`), the memory transport
 * (4 shards, the default store), and lru-cache behind an async function.
 * 100k keys of 16 bytes, 100-byte values; each call does 1,000 sequential awaited
 * operations. Figures: benny (JSON + chart), then the same cases interleaved
 * call by call, timed in CPU time (medians), which this shared machine's load
 * skews least; the ratios are taken from the interleaved medians.
 *
 *   node --import tsx bench/memory-floor.bench.ts [--before=DIR] [--before-label=NAME] [--calls=N] [--time=S]
 *
 * `--before=DIR` adds the build in DIR/dist (an earlier commit) as more cases, for a
 * before/after in one run; NAME (say, the commit) names it in the report.
 */
import { LRUCache } from 'lru-cache'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadPyshard, measuredFrom, median, runSuite, writeReport, workload } from './lib.js'
import type { Case } from './lib.js'

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const CALLS = Number(arg('calls') ?? 300)
const MAX_TIME = Number(arg('time') ?? 1)
const beforeDir = arg('before')
const beforeLabel = arg('before-label') ?? 'before'

const pkg = await loadPyshard()
const { Pyshard, hashKey } = pkg
type Store = Awaited<ReturnType<typeof Pyshard.open>>

const N = 100_000
const PER_CALL = 1000
const INDEX = 'bench'
const { keys, value } = workload(N)

// ---- the sketch: the least this design can do per operation ----

/** MurmurHash3 x86_32 of `index + ':' + key` for ASCII strings, the textbook loop: the same hash as hashKey. */
function sketchHash(index: string, key: string): number {
  let h = 0
  let k = 0
  let n = 0
  const total = index.length + 1 + key.length
  for (let i = 0; i < total; i++) {
    const c = i < index.length ? index.charCodeAt(i) : i === index.length ? 0x3a : key.charCodeAt(i - index.length - 1)
    k |= c << ((n & 3) << 3)
    if ((++n & 3) === 0) {
      k = Math.imul(k, 0xcc9e2d51)
      k = (k << 15) | (k >>> 17)
      h ^= Math.imul(k, 0x1b873593)
      h = (h << 13) | (h >>> 19)
      h = (Math.imul(h, 5) + 0xe6546b64) | 0
      k = 0
    }
  }
  if ((n & 3) !== 0) {
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, 0x1b873593)
  }
  h ^= n
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 4294967296
}

class Sketch {
  readonly #starts = Float64Array.of(0, 0.25, 0.5, 0.75)
  readonly #maps = [new Map<string, string>(), new Map<string, string>(), new Map<string, string>(), new Map<string, string>()]

  #shard(hash: number): Map<string, string> {
    const starts = this.#starts
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((starts[mid] as number) <= hash) lo = mid
      else hi = mid - 1
    }
    return this.#maps[lo] as Map<string, string>
  }

  async read(index: string, key: string): Promise<{ hash: number; record: string } | null> {
    const hash = sketchHash(index, key)
    const record = this.#shard(hash).get(key)
    return record === undefined ? null : { hash, record }
  }

  async write(index: string, key: string, doc: string): Promise<{ hash: number; size: number }> {
    const hash = sketchHash(index, key)
    this.#shard(hash).set(key, doc)
    return { hash, size: key.length + doc.length + 2 }
  }
}

/**
 * The sketch again, its Map holding an entry record per key (document, size, expiry) as a
 * store with a byte limit and TTL must: what one more object per entry costs a read.
 */
interface Rec { doc: string; size: number; expires: number }
class SketchWithRecords {
  readonly #starts = Float64Array.of(0, 0.25, 0.5, 0.75)
  readonly #maps = [new Map<string, Rec>(), new Map<string, Rec>(), new Map<string, Rec>(), new Map<string, Rec>()]

  #shard(hash: number): Map<string, Rec> {
    const starts = this.#starts
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((starts[mid] as number) <= hash) lo = mid
      else hi = mid - 1
    }
    return this.#maps[lo] as Map<string, Rec>
  }

  async read(index: string, key: string): Promise<{ hash: number; record: string } | null> {
    const hash = sketchHash(index, key)
    const rec = this.#shard(hash).get(key)
    return rec === undefined || (rec.expires !== 0 && rec.expires <= Date.now()) ? null : { hash, record: rec.doc }
  }

  async write(index: string, key: string, doc: string): Promise<{ hash: number; size: number }> {
    const hash = sketchHash(index, key)
    const map = this.#shard(hash)
    const size = key.length + doc.length + 2
    const rec = map.get(key)
    if (rec === undefined) map.set(key, { doc, size, expires: 0 })
    else {
      rec.doc = doc
      rec.size = size
    }
    return { hash, size }
  }
}

for (const k of keys.slice(0, 1000)) {
  if (sketchHash(INDEX, k) !== hashKey(INDEX, k)) throw new Error(`the sketch's hash differs from hashKey for ${k}`)
}

// ---- the peers ----
const sketch = new Sketch()
const records = new SketchWithRecords()
const lru = new LRUCache<string, string>({ max: N * 2 })
const lruGet = async (k: string): Promise<string | undefined> => lru.get(k)
const lruSet = async (k: string, v: string): Promise<void> => { lru.set(k, v) }

async function openStore(P: typeof Pyshard): Promise<Store> {
  const db = await P.open({ shards: 4 })
  await db.createIndex(INDEX)
  for (const k of keys) await db.write(INDEX, k, value)
  return db
}
const db = await openStore(Pyshard)
let before: Store | null = null
if (beforeDir !== undefined) {
  const entry = join(resolve(beforeDir), 'dist/src/index.js')
  if (!existsSync(entry)) throw new Error(`--before: ${entry} is missing (build it there first)`)
  const old = (await import(pathToFileURL(entry).href)) as typeof pkg
  before = await openStore(old.Pyshard as typeof Pyshard)
}
for (const k of keys) {
  await sketch.write(INDEX, k, value)
  await records.write(INDEX, k, value)
  lru.set(k, value)
}

let sink = 0
let cursor = 0
function next(): string {
  cursor = cursor + 7919 >= N ? (cursor + 7919) % N : cursor + 7919
  return keys[cursor] as string
}

const cases: Case[] = [
  { name: 'sketch read', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) if ((await sketch.read(INDEX, next())) !== null) sink++ } },
  { name: 'pyshard memory read', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) if ((await db.read(INDEX, next())) !== null) sink++ } },
  { name: 'sketch with entry records read', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) if ((await records.read(INDEX, next())) !== null) sink++ } },
  { name: 'lru-cache get (async)', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) if ((await lruGet(next())) !== undefined) sink++ } },
  { name: 'sketch write', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) sink += (await sketch.write(INDEX, next(), value)).size } },
  { name: 'pyshard memory write', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) sink += (await db.write(INDEX, next(), value)).size } },
  { name: 'sketch with entry records write', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) sink += (await records.write(INDEX, next(), value)).size } },
  { name: 'lru-cache set (async)', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) await lruSet(next(), value) } },
  { name: 'hashKey alone (sync)', opsPerCall: PER_CALL, fn: () => { for (let i = 0; i < PER_CALL; i++) sink += hashKey(INDEX, next()) } },
  { name: "sketch's hash alone (sync)", opsPerCall: PER_CALL, fn: () => { for (let i = 0; i < PER_CALL; i++) sink += sketchHash(INDEX, next()) } },
]
if (before !== null) {
  const old = before
  cases.push(
    { name: 'pyshard memory read (before)', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) if ((await old.read(INDEX, next())) !== null) sink++ } },
    { name: 'pyshard memory write (before)', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) sink += (await old.write(INDEX, next(), value)).size } },
  )
}

const results = await runSuite('memory-floor', 'memory transport vs a minimal sketch and lru-cache (async), 100k keys', cases, { maxTime: MAX_TIME })

// Interleaved: one call of each case in turn, CALLS times; per-case medians of the CPU time
// each call took (this process's), which other processes on the machine inflate less than wall time.
// The order is shuffled every round: a case that always ran after the same other case would
// always find the caches that case left behind.
const times = cases.map(() => [] as number[])
const order = cases.map((_, c) => c)
let seed = 12345
const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296)
for (let i = 0; i < CALLS; i++) {
  for (let j = order.length - 1; j > 0; j--) {
    const k = Math.floor(random() * (j + 1))
    ;[order[j], order[k]] = [order[k] as number, order[j] as number]
  }
  for (const c of order) {
    const t = process.cpuUsage()
    await (cases[c] as Case).fn()
    const u = process.cpuUsage(t)
    ;(times[c] as number[]).push((u.user + u.system) / 1000)
  }
}
await db.close()
await before?.close()
if (sink === 42) console.log('') // keep the results observable

const interleaved = cases.map((c, i) => ({ name: c.name, nsPerOp: (median(times[i] as number[]) * 1e6) / PER_CALL }))
const ns = (name: string): number => interleaved.find((r) => r.name === name)?.nsPerOp ?? Number.NaN
const benny = (name: string): number => results.find((r) => r.name === name)?.opsPerSec ?? Number.NaN
// A ratio of rates: how fast pyshard runs as a fraction of the peer (1 = as fast).
const ratio = (a: string, b: string): number => Math.round((ns(b) / ns(a)) * 100) / 100
const ratios: Record<string, number> = {
  readVsSketch: ratio('pyshard memory read', 'sketch read'),
  writeVsSketch: ratio('pyshard memory write', 'sketch write'),
  readVsLru: ratio('pyshard memory read', 'lru-cache get (async)'),
  writeVsLru: ratio('pyshard memory write', 'lru-cache set (async)'),
  sketchReadVsLru: ratio('sketch read', 'lru-cache get (async)'),
  readVsRecords: ratio('pyshard memory read', 'sketch with entry records read'),
  writeVsRecords: ratio('pyshard memory write', 'sketch with entry records write'),
  recordsReadVsSketch: ratio('sketch with entry records read', 'sketch read'),
}
if (before !== null) {
  ratios.beforeReadVsSketch = ratio('pyshard memory read (before)', 'sketch read')
  ratios.beforeWriteVsSketch = ratio('pyshard memory write (before)', 'sketch write')
  ratios.beforeReadVsLru = ratio('pyshard memory read (before)', 'lru-cache get (async)')
  ratios.beforeWriteVsLru = ratio('pyshard memory write (before)', 'lru-cache set (async)')
}

const notes = [
  `read: pyshard / sketch **${ratios.readVsSketch?.toFixed(2)}x** (target ≥ 0.9x), pyshard / lru-cache ${ratios.readVsLru?.toFixed(2)}x`,
  `write: pyshard / sketch **${ratios.writeVsSketch?.toFixed(2)}x** (target ≥ 0.9x), pyshard / lru-cache ${ratios.writeVsLru?.toFixed(2)}x`,
  `the sketch itself reads at ${ratios.sketchReadVsLru?.toFixed(2)}x lru-cache; with an entry record per key it reads at ${ratios.recordsReadVsSketch?.toFixed(2)}x the plain sketch, and pyshard reads at ${ratios.readVsRecords?.toFixed(2)}x / writes at ${ratios.writeVsRecords?.toFixed(2)}x that sketch`,
  ...(before !== null ? [
    `${beforeLabel}: read ${ratios.beforeReadVsSketch?.toFixed(2)}x the sketch (${ratios.beforeReadVsLru?.toFixed(2)}x lru-cache), write ${ratios.beforeWriteVsSketch?.toFixed(2)}x the sketch (${ratios.beforeWriteVsLru?.toFixed(2)}x lru-cache)`,
  ] : []),
  `ratios from interleaved medians of CPU time (${CALLS} calls of ${PER_CALL} operations per case, cases in a new random order each round); benny's wall-clock rates beside them`,
  'sketch: its own textbook MurmurHash3 loop (the same hash values as hashKey, checked), 4 ranges in a Float64Array, one Map per range, `{ hash, record }` / `{ hash, size }` built per call, each method `async`',
  measuredFrom(),
]
writeReport('memory-floor', 'Memory transport vs its floor (a minimal sketch) and lru-cache, same run',
  ['case', 'CPU ns/op (interleaved median)', 'ops/s (benny, wall)', 'benny ± %'],
  cases.map((c, i) => {
    const r = results[i]
    return [c.name, Math.round((interleaved[i] as { nsPerOp: number }).nsPerOp), Math.round(benny(c.name)), r?.margin ?? Number.NaN]
  }),
  notes,
  { ratios, interleaved },
)
console.log(notes.join('\n'))
