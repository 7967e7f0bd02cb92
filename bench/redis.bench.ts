/**
 * The redis transport against raw ioredis, same redis-server, same run: 100
 * operations in flight, and batches of 100 (readMany/writeMany against an
 * ioredis pipeline of 100). Documents are JSON on both sides (raw ioredis
 * stringifies and parses too), so the difference is the routing layer, the
 * key layout (index check, members set) and the Lua scripts. Target: the
 * transport at ≥ 0.8x raw ioredis.
 *
 * benny's cases run one after another, and this machine flips between a fast
 * and a slow state, so the headline ratios come from interleaved rounds
 * (peer A, peer B, A, B, ...; median of per-round ratios).
 *
 *   node --import tsx bench/redis.bench.ts [--time S] [--rounds N]
 */
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import type { Json } from '../src/index.js'
import { redisMissing, startRedis } from '../test/helpers/redis-server.js'
import { SCRIPTS } from '../transports/redis/scripts.js'
import { loadPyshard, measuredFrom, median, runSuite, workload, writeReport } from './lib.js'
import type { Case } from './lib.js'

const { Pyshard } = await loadPyshard()

const { values: flags } = parseArgs({ options: { time: { type: 'string' }, rounds: { type: 'string' } } })
const MAX_TIME = Number(flags.time ?? process.env.BENCH_TIME ?? 2)
const ROUNDS = Number(flags.rounds ?? 7)
const N = 20_000
const IN_FLIGHT = 100
const PER_CHAIN = 10
const BATCH = 100

let sink = 0

/** One call: IN_FLIGHT chains of PER_CHAIN sequential operations. */
function inflight(op: () => Promise<unknown>): () => Promise<void> {
  const chain = async (): Promise<void> => {
    for (let i = 0; i < PER_CHAIN; i++) await op()
  }
  return async () => {
    await Promise.all(Array.from({ length: IN_FLIGHT }, chain))
  }
}

/** Operations per second of `c` over about `ms`. */
async function rate(c: Case, ms: number): Promise<number> {
  const start = performance.now()
  let ops = 0
  while (performance.now() - start < ms) {
    await c.fn()
    ops += c.opsPerCall
  }
  return ops / ((performance.now() - start) / 1000)
}

async function main(): Promise<void> {
  const missing = redisMissing()
  if (missing !== null) {
    console.log(`SKIP bench/redis.bench.ts: ${missing}`)
    return
  }
  const server = await startRedis()
  const { keys, value } = workload(N)
  const doc: Json = { value }
  let cursor = 0
  const next = (): string => {
    cursor = (cursor + 7919) % N
    return keys[cursor] as string
  }
  const nextBatch = (): string[] => Array.from({ length: BATCH }, next)
  const db = await Pyshard.open({ config: { transport: 'redis', shards: [{ name: 'bench', url: server.url }] } })
  const auto = new Redis(server.url, { enableAutoPipelining: true })
  const plain = new Redis(server.url)
  plain.defineCommand('pyWriteMany', SCRIPTS.pyWriteMany)
  try {
    await db.createIndex('b')
    for (let i = 0; i < N; i += 1000) await db.writeMany('b', keys.slice(i, i + 1000).map((k): [string, Json] => [k, doc]))
    const pipe = plain.pipeline()
    for (const k of keys) pipe.set(`raw:${k}`, JSON.stringify(doc))
    await pipe.exec()

    const pairs: [Case, Case][] = [
      [
        { name: 'pyshard(redis) read, 100 in flight', opsPerCall: IN_FLIGHT * PER_CHAIN, fn: inflight(async () => { if ((await db.read('b', next())) !== null) sink++ }) },
        { name: 'ioredis GET + JSON.parse, 100 in flight (auto-pipelining)', opsPerCall: IN_FLIGHT * PER_CHAIN, fn: inflight(async () => {
          const v = await auto.get(`raw:${next()}`)
          if (v !== null && JSON.parse(v) !== null) sink++
        }) },
      ],
      [
        { name: 'pyshard(redis) write, 100 in flight', opsPerCall: IN_FLIGHT * PER_CHAIN, fn: inflight(async () => { sink += (await db.write('b', next(), doc)).size }) },
        { name: 'ioredis JSON.stringify + SET, 100 in flight (auto-pipelining)', opsPerCall: IN_FLIGHT * PER_CHAIN, fn: inflight(async () => {
          if ((await auto.set(`raw:${next()}`, JSON.stringify(doc))) === 'OK') sink++
        }) },
      ],
      [
        { name: 'pyshard(redis) readMany(100)', opsPerCall: BATCH, fn: async () => { sink += (await db.readMany('b', nextBatch())).length } },
        { name: 'ioredis pipeline of 100 GET + JSON.parse', opsPerCall: BATCH, fn: async () => {
          const pl = plain.pipeline()
          for (const k of nextBatch()) pl.get(`raw:${k}`)
          for (const [, v] of (await pl.exec()) ?? []) if (v !== null && JSON.parse(v as string) !== null) sink++
        } },
      ],
      [
        { name: 'pyshard(redis) writeMany(100)', opsPerCall: BATCH, fn: async () => {
          sink += (await db.writeMany('b', nextBatch().map((k): [string, Json] => [k, doc]))).length
        } },
        { name: 'ioredis pipeline of 100 JSON.stringify + SET', opsPerCall: BATCH, fn: async () => {
          const pl = plain.pipeline()
          for (const k of nextBatch()) pl.set(`raw:${k}`, JSON.stringify(doc))
          sink += ((await pl.exec()) ?? []).length
        } },
      ],
      // The same Redis work as the transport (its commands and script, raw): isolates the routing layer's cost.
      [
        { name: 'pyshard(redis) readMany(100) (beside the raw MGET peer)', opsPerCall: BATCH, fn: async () => { sink += (await db.readMany('b', nextBatch())).length } },
        { name: 'ioredis MGET(marker, 100 keys) + JSON.parse', opsPerCall: BATCH, fn: async () => {
          const args = ['pyshard:index:{bench:b}']
          for (const k of nextBatch()) args.push(`pyshard:{bench:b}:${k}`)
          const r = await plain.mget(args)
          if (r[0] !== null) for (let i = 1; i < r.length; i++) if (r[i] !== null && JSON.parse(r[i] as string) !== null) sink++
        } },
      ],
      [
        { name: 'pyshard(redis) writeMany(100) (beside the raw script peer)', opsPerCall: BATCH, fn: async () => {
          sink += (await db.writeMany('b', nextBatch().map((k): [string, Json] => [k, doc]))).length
        } },
        { name: 'ioredis one EVALSHA of the transport\'s write script with 100 writes', opsPerCall: BATCH, fn: async () => {
          const docs: string[] = []
          const members: (string | number)[] = []
          for (const k of nextBatch()) {
            docs.push(`pyshard:{bench:b}:${k}`, JSON.stringify(doc))
            // A fixed score: the member's hash does not change the cost.
            members.push(12345, k)
          }
          const r = await (plain as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>).pyWriteMany?.(
            'pyshard:index:{bench:b}', 'pyshard:keys:{bench:b}', 'pyshard:ttl:{bench:b}', '0', 0, ...docs, ...members)
          if (r === BATCH) sink++
        } },
      ],
    ]

    const results = await runSuite('redis', 'Redis transport vs raw ioredis → the same redis-server', pairs.flat(), { maxTime: MAX_TIME, minSamples: 5 })

    // Interleaved rounds for the ratios: each round runs both peers for the same short time.
    const ratios = pairs.map(() => [] as number[])
    for (let r = 0; r < ROUNDS; r++) {
      for (let p = 0; p < pairs.length; p++) {
        const [a, b] = pairs[p] as [Case, Case]
        const ra = await rate(a, 300)
        const rb = await rate(b, 300)
        ;(ratios[p] as number[]).push(ra / rb)
      }
    }
    const med = ratios.map(median)
    const rows: (string | number)[][] = results.map((r) => [r.name, Math.round(r.opsPerSec), r.margin])
    const labels = ['read, 100 in flight', 'write, 100 in flight', 'readMany(100) vs pipeline of 100 GET', 'writeMany(100) vs pipeline of 100 SET',
      'readMany(100) vs the same MGET raw', 'writeMany(100) vs the same script call raw']
    const notes = [
      ...labels.map((l, i) => `${l}: transport / raw ioredis **${(med[i] as number).toFixed(2)}x** (median of ${ROUNDS} interleaved rounds${i < 4 ? '; target ≥ 0.8x' : ''})`),
      `one redis shard, redis-server 7 on loopback with persistence off, ${N.toLocaleString('en-US')} keys, 100-byte documents as JSON on both sides`,
      measuredFrom(),
      'a batch (readMany, writeMany, or the 100 requests one tick issues, which the router sends as one batch) goes to Redis as one command per index bucket: reads as one MGET (index marker + every key), writes as one EVALSHA of the write script (marker check, MSET, one ZADD of the members); raw GET/SET do less Redis work (no index check, no members set), and the last two rows give raw ioredis the transport\'s very commands',
    ]
    writeReport('redis', 'Redis transport vs raw ioredis (same redis-server, same run)', ['case', 'ops/s', '± %'], rows, notes, {
      ratios: Object.fromEntries(labels.map((l, i) => [l, { median: med[i], rounds: ratios[i] }])),
    })
    console.log(notes.join('\n'))
  } finally {
    await db.close()
    auto.disconnect()
    plain.disconnect()
    await server.stop()
  }
  if (sink === 42) console.log('')
}

await main()
