/**
 * Memory transport against the in-process peers people use today, same run:
 * a Map behind an async function, lru-cache behind an async function.
 * 16-byte keys, 100-byte values, 100k keys; each call does 1,000 sequential
 * awaited operations (per-operation rates are reported).
 */
import { LRUCache } from 'lru-cache'
import { loadPyshard, measuredFrom, runSuite, writeReport, workload } from './lib.js'

const { Pyshard, hashKey } = await loadPyshard()

const N = 100_000
const PER_CALL = 1000
const { keys, value } = workload(N)

const map = new Map<string, string>()
const mapGet = async (k: string): Promise<string | undefined> => map.get(k)
const mapSet = async (k: string, v: string): Promise<void> => { map.set(k, v) }
const lru = new LRUCache<string, string>({ max: N * 2 })
const lruGet = async (k: string): Promise<string | undefined> => lru.get(k)
const lruSet = async (k: string, v: string): Promise<void> => { lru.set(k, v) }
const db = await Pyshard.open()
await db.createIndex('bench')
for (const k of keys) {
  map.set(k, value)
  lru.set(k, value)
  await db.write('bench', k, value)
}

let sink = 0
let cursor = 0
function next(): string {
  cursor = cursor + 7919 >= N ? (cursor + 7919) % N : cursor + 7919
  return keys[cursor] as string
}

const results = await runSuite('memory', 'memory transport vs Map and lru-cache (async), 100k keys', [
  { name: 'pyshard memory read', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) if ((await db.read('bench', next())) !== null) sink++ } },
  { name: 'lru-cache get (async)', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) if ((await lruGet(next())) !== undefined) sink++ } },
  { name: 'Map get (async)', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) if ((await mapGet(next())) !== undefined) sink++ } },
  { name: 'pyshard memory write', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) sink += (await db.write('bench', next(), value)).size } },
  { name: 'lru-cache set (async)', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) await lruSet(next(), value) } },
  { name: 'Map set (async)', opsPerCall: PER_CALL, fn: async () => { for (let i = 0; i < PER_CALL; i++) await mapSet(next(), value) } },
  { name: 'hashKey alone (sync)', opsPerCall: PER_CALL, fn: () => { for (let i = 0; i < PER_CALL; i++) sink += hashKey('bench', next()) } },
])
await db.close()
if (sink === 42) console.log('') // keep the results observable

const rate = (name: string): number => results.find((r) => r.name === name)?.opsPerSec ?? Number.NaN
const readRatio = rate('pyshard memory read') / rate('lru-cache get (async)')
const writeRatio = rate('pyshard memory write') / rate('lru-cache set (async)')
writeReport('memory', 'Memory transport vs Map / lru-cache (same run)', ['case', 'ops/s', 'ns/op', '± %'],
  results.map((r) => [r.name, Math.round(r.opsPerSec), Math.round(1e9 / r.opsPerSec), r.margin]),
  [
    `read ratio pyshard / lru-cache async get: **${readRatio.toFixed(2)}x** (target ≥ 0.5x)`,
    `write ratio pyshard / lru-cache async set: ${writeRatio.toFixed(2)}x`,
    measuredFrom(),
    `hashKey costs ${Math.round(1e9 / rate('hashKey alone (sync)'))} ns of the ${Math.round(1e9 / rate('pyshard memory read'))} ns of a read: not the bottleneck`,
  ],
  { readRatio, writeRatio },
)
console.log(`read ratio ${readRatio.toFixed(2)}x, write ratio ${writeRatio.toFixed(2)}x`)
