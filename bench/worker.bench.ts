/**
 * Worker transport throughput with IN_FLIGHT (default 256) requests in flight,
 * beside raw baselines in the same run: a worker holding a Map answering one
 * postMessage per request, and the same worker answering batches of IN_FLIGHT
 * per message. The transport's three codecs run side by side (columns, clone,
 * msgpack). 16-byte keys, 100-byte values, 100k keys.
 *
 * Knobs (flag or env): --shards N / BENCH_SHARDS (default 1), --workers N /
 * BENCH_WORKERS (default = shards), --inflight N / BENCH_INFLIGHT (default 256),
 * --time S / BENCH_TIME (seconds per benny case, default 2), BENCH_CALLS (calls
 * of each case in the interleaved pass, default 1500).
 *
 *   node --import tsx bench/worker.bench.ts --shards 4 --workers 4
 */
import { Worker } from 'node:worker_threads'
import { parseArgs } from 'node:util'
import type { Codec } from '../transports/worker/index.js'
import { machine, runSuite, workload, writeReport, loadPyshard, measuredFrom, median } from './lib.js'
import type { Case, CaseResult } from './lib.js'

const { Pyshard } = await loadPyshard()
type Store = Awaited<ReturnType<typeof Pyshard.open>>

const { values: flags } = parseArgs({
  options: { shards: { type: 'string' }, workers: { type: 'string' }, inflight: { type: 'string' }, time: { type: 'string' } },
})
const knob = (flag: string | undefined, env: string, fallback: number): number => {
  const v = Number(flag ?? process.env[env] ?? fallback)
  if (!(v > 0)) throw new TypeError(`${env} / --${env.slice(6).toLowerCase()} must be a positive number`)
  return v
}
const SHARDS = knob(flags.shards, 'BENCH_SHARDS', 1)
const WORKERS = knob(flags.workers, 'BENCH_WORKERS', SHARDS)
const IN_FLIGHT = knob(flags.inflight, 'BENCH_INFLIGHT', 256)
const MAX_TIME = knob(flags.time, 'BENCH_TIME', 2)
const N = 100_000
const { keys, value } = workload(N)

// ---- raw baseline: a worker holding a Map (plain JS, so no loader is needed) ----
const RAW_WORKER = `
const { parentPort } = require('node:worker_threads')
const map = new Map()
const apply = (r) => {
  if (r.op === 'get') { const v = map.get(r.key); return v === undefined ? null : v }
  map.set(r.key, r.value)
  return true
}
parentPort.on('message', (m) => {
  if (m.batch !== undefined) {
    const out = new Array(m.batch.length)
    for (let i = 0; i < m.batch.length; i++) out[i] = apply(m.batch[i])
    parentPort.postMessage({ id: m.id, out })
  } else {
    parentPort.postMessage({ id: m.id, out: apply(m) })
  }
})
`
interface RawReq { op: 'get' | 'set'; key: string; value?: string }
const raw = new Worker(RAW_WORKER, { eval: true })
const waiting = new Map<number, (out: unknown) => void>()
let rawId = 0
raw.on('message', (m: { id: number; out: unknown }) => {
  const done = waiting.get(m.id)
  waiting.delete(m.id)
  done?.(m.out)
})
function rawOne(req: RawReq): Promise<unknown> {
  const id = ++rawId
  return new Promise((resolve) => {
    waiting.set(id, resolve)
    raw.postMessage({ id, ...req })
  })
}
function rawBatch(batch: RawReq[]): Promise<unknown> {
  const id = ++rawId
  return new Promise((resolve) => {
    waiting.set(id, resolve)
    raw.postMessage({ id, batch })
  })
}

// ---- the stores ----
const CODECS: Codec[] = ['columns', 'clone', 'msgpack']
async function openStore(codec: Codec): Promise<Store> {
  const db = await Pyshard.open({ shards: SHARDS, workers: WORKERS, transport: 'worker', transportOptions: { codec } })
  await db.createIndex('bench')
  for (let i = 0; i < N; i += 5000) await db.writeMany('bench', keys.slice(i, i + 5000).map((k) => [k, value]))
  return db
}
const stores = new Map<Codec, Store>()
for (const codec of CODECS) stores.set(codec, await openStore(codec))
for (let i = 0; i < N; i += 5000) await rawBatch(keys.slice(i, i + 5000).map((key) => ({ op: 'set', key, value })))

let sink = 0
let cursor = 0
/** The next IN_FLIGHT keys, strided over the key space; built before timing reads them. */
function nextKeys(): string[] {
  const out = new Array<string>(IN_FLIGHT)
  for (let i = 0; i < IN_FLIGHT; i++) {
    cursor = (cursor + 7919) % N
    out[i] = keys[cursor] as string
  }
  return out
}
const rounds = Array.from({ length: 64 }, nextKeys)
let round = 0
const take = (): string[] => rounds[(round = (round + 1) % rounds.length)] as string[]

const PER_REQUEST = '1 message per request'
const BATCHED = `${IN_FLIGHT} per message`
const cases: Case[] = []
for (const op of ['read', 'write'] as const) {
  const rawOp = op === 'read' ? 'get' : 'set'
  const req = (key: string): RawReq => (op === 'read' ? { op: 'get', key } : { op: 'set', key, value })
  cases.push(
    { name: `raw Map worker ${rawOp}, ${PER_REQUEST}`, opsPerCall: IN_FLIGHT, fn: async () => { const got = await Promise.all(take().map((k) => rawOne(req(k)))); if (got[0] !== null) sink++ } },
    { name: `raw Map worker ${rawOp}, ${BATCHED}`, opsPerCall: IN_FLIGHT, fn: async () => { const got = await rawBatch(take().map(req)) as unknown[]; if (got[0] !== null) sink++ } },
  )
  for (const codec of CODECS) {
    const db = stores.get(codec) as Store
    cases.push({
      name: `pyshard worker ${op} (${codec})`, opsPerCall: IN_FLIGHT,
      fn: op === 'read'
        ? async () => { const got = await Promise.all(take().map((k) => db.read('bench', k))); if (got[0] !== null) sink++ }
        : async () => { const got = await Promise.all(take().map((k) => db.write('bench', k, value))); sink += (got[0] as { size: number }).size },
    })
  }
}

const label = `${SHARDS} worker shard${SHARDS > 1 ? 's' : ''} on ${WORKERS} worker${WORKERS > 1 ? 's' : ''}`
const results = await runSuite('worker', `worker transport, ${IN_FLIGHT} in flight, ${label}, vs raw postMessage`, cases, { maxTime: MAX_TIME })

/**
 * The same cases again, interleaved call by call (A, B, C, A, B, C...), medians
 * of each: this shared machine changes speed for minutes at a time, which
 * skews cases run one after another; interleaving exposes every case to the
 * same conditions.
 */
const CALLS = knob(undefined, 'BENCH_CALLS', 1500)
const times = cases.map(() => [] as number[])
for (let i = 0; i < CALLS; i++) {
  for (let c = 0; c < cases.length; c++) {
    const t = performance.now()
    await (cases[c] as Case).fn()
    ;(times[c] as number[]).push(performance.now() - t)
  }
}
const interleaved = times.map((ts, c) => {
  const m = median(ts)
  return { name: (cases[c] as Case).name, opsPerSec: IN_FLIGHT / (m / 1000), medianUs: m * 1000 }
})

for (const db of stores.values()) await db.close()
await raw.terminate()
if (sink === 42) console.log('')

const ratios: Record<string, number> = {}
const notes: string[] = []
for (const [source, list] of [['interleaved medians', interleaved], ['benny', results]] as const) {
  const rate = (name: string): number => list.find((r) => r.name === name)?.opsPerSec ?? Number.NaN
  for (const [op, rawOp] of [['read', 'get'], ['write', 'set']] as const) {
    for (const codec of CODECS) {
      const ours = rate(`pyshard worker ${op} (${codec})`)
      const perRequest = ours / rate(`raw Map worker ${rawOp}, ${PER_REQUEST}`)
      const batched = ours / rate(`raw Map worker ${rawOp}, ${BATCHED}`)
      ratios[`${source}: ${op} ${codec} vs per-request`] = perRequest
      ratios[`${source}: ${op} ${codec} vs batched`] = batched
      notes.push(`${source}, ${op} (${codec}): **${perRequest.toFixed(2)}x** the one-message-per-request baseline (target ≥ 1.5x), **${batched.toFixed(2)}x** the batched baseline (target ≥ 0.5x)`)
    }
  }
}
notes.push(measuredFrom())
notes.push(`${label}; ${IN_FLIGHT} requests in flight per call (Promise.all of ${IN_FLIGHT}); interleaved: ${CALLS} calls of each case, alternating; ${machine()}`)
writeReport('worker', `Worker transport vs raw postMessage (same run, ${label})`,
  ['case', 'ops/s (interleaved median)', 'µs per call of ' + IN_FLIGHT, 'ops/s (benny)', 'benny ± %'],
  cases.map((c, i) => {
    const r = results[i] as CaseResult
    const m = interleaved[i] as { opsPerSec: number; medianUs: number }
    return [c.name, Math.round(m.opsPerSec), Math.round(m.medianUs), Math.round(r.opsPerSec), r.margin]
  }),
  notes, { ratios, shards: SHARDS, workers: WORKERS, inFlight: IN_FLIGHT })
for (const n of notes) console.log(n.replaceAll('**', ''))
