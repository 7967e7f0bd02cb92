/**
 * TCP transport against ioredis → redis-server, same run, same workload:
 * 16-byte keys, 100-byte values, 100k keys. A 1-shard pyshard cluster (shard
 * server + bootstrap server) runs in a child process, as redis-server does, so
 * neither server shares the client's thread.
 *
 * - sequential read latency p50 / p99 (one request at a time)
 * - read and write throughput with 100 requests in flight (ioredis: enableAutoPipelining)
 * - readMany / writeMany of 100 keys against an ioredis pipeline() of 100
 *
 * Skips the Redis side when `redis-server` is not on the PATH. Measures the
 * built package (dist/, what users run; `npm run build` first) when it exists,
 * else the sources through tsx (slower: tsx adds a name helper to every closure);
 * BENCH_SRC=1 forces the sources. Peers run next to each other so the machine's
 * fast/slow phases hit both; latency alternates rounds and keeps the median.
 *
 *   node --import tsx bench/tcp.bench.ts [--time S]
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import type { Json } from '../src/index.js'
import { loadPyshard, measuredFrom, runSuite, workload, writeReport } from './lib.js'
import { redisMissing, startRedis } from '../test/helpers/redis-server.js'

const { values: flags } = parseArgs({ options: { serve: { type: 'boolean' }, time: { type: 'string' } } })
const { Pyshard, ShardServer, BootstrapServer } = await loadPyshard()

if (flags.serve) {
  // Child mode: a 1-shard cluster; prints the bootstrap address, serves until stdin closes.
  const server = new ShardServer()
  const { port } = await server.listen()
  const bootstrap = new BootstrapServer({ config: { transport: 'tcp', shards: [{ name: 'bench', host: '127.0.0.1', port }] } })
  const address = await bootstrap.listen()
  process.stdout.write(`${address.host}:${address.port}\n`)
  process.stdin.resume()
  process.stdin.on('end', () => {
    void bootstrap.close().then(() => server.destroy()).then(() => process.exit(0))
  })
} else {
  await main()
}


function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) resolve(buf.slice(0, nl).trim())
    })
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before it was ready`)))
  })
}


function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number
}

/** Latency of `n` sequential calls, in µs: p50 and p99. */
async function latency(n: number, op: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 2000; i++) await op(i)
  const t = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint()
    await op(i)
    t[i] = Number(process.hrtime.bigint() - s) / 1000
  }
  t.sort()
  return { p50: percentile(t, 0.5), p99: percentile(t, 0.99) }
}

async function main(): Promise<void> {
  const MAX_TIME = Number(flags.time ?? process.env.BENCH_TIME ?? 2)
  const N = 100_000
  const IN_FLIGHT = 100
  const PER_CHAIN = 10
  const BATCH = 100
  const { keys, value } = workload(N)
  let cursor = 0
  const next = (): string => {
    cursor = cursor + 7919 >= N ? (cursor + 7919) % N : cursor + 7919
    return keys[cursor] as string
  }
  const nextBatch = (): string[] => Array.from({ length: BATCH }, next)

  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const redis = redisMissing() === null ? await startRedis() : null
  let sink = 0
  try {
    const target = await firstLine(child)
    const db = await Pyshard.connect(target)
    await db.createIndex('bench')
    for (let i = 0; i < N; i += 1000) await db.writeMany('bench', keys.slice(i, i + 1000).map((k): [string, Json] => [k, value]))

    let auto: Redis | null = null
    let plain: Redis | null = null
    if (redis !== null) {
      auto = new Redis({ port: redis.port, host: '127.0.0.1', enableAutoPipelining: true })
      plain = new Redis({ port: redis.port, host: '127.0.0.1' })
      for (let i = 0; i < N; i += 1000) {
        const p = plain.pipeline()
        for (const k of keys.slice(i, i + 1000)) p.set(k, value)
        await p.exec()
      }
    }

    // ---- latency, one request at a time: rounds alternate, the median round counts ----
    const LAT_N = 10_000
    const pyRounds: { p50: number; p99: number }[] = []
    const redisRounds: { p50: number; p99: number }[] = []
    for (let round = 0; round < 5; round++) {
      pyRounds.push(await latency(LAT_N, async () => { if ((await db.read('bench', next())) !== null) sink++ }))
      if (plain) redisRounds.push(await latency(LAT_N, async () => { if ((await (plain as Redis).get(next())) !== null) sink++ }))
    }
    const median = (rounds: { p50: number; p99: number }[]): { p50: number; p99: number } => {
      const by = (k: 'p50' | 'p99'): number => (rounds.map((r) => r[k]).sort((a, b) => a - b)[rounds.length >> 1] as number)
      return { p50: by('p50'), p99: by('p99') }
    }
    const latPy = median(pyRounds)
    const latRedis = plain ? median(redisRounds) : null
    console.log('latency µs pyshard', pyRounds, 'ioredis', redisRounds)

    // ---- throughput, IN_FLIGHT chains of PER_CHAIN sequential ops ----
    const inflight = (op: () => Promise<unknown>) => async (): Promise<void> => {
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        for (let j = 0; j < PER_CHAIN; j++) await op()
      }))
    }
    const ops = IN_FLIGHT * PER_CHAIN
    const pyCases = [
      { name: 'pyshard read, 100 in flight', opsPerCall: ops, fn: inflight(async () => { if ((await db.read('bench', next())) !== null) sink++ }) },
      { name: 'pyshard write, 100 in flight', opsPerCall: ops, fn: inflight(async () => { sink += (await db.write('bench', next(), value)).size }) },
      { name: 'pyshard readMany(100)', opsPerCall: BATCH, fn: async () => { sink += (await db.readMany('bench', nextBatch())).length } },
      { name: 'pyshard writeMany(100)', opsPerCall: BATCH, fn: async () => { sink += (await db.writeMany('bench', nextBatch().map((k): [string, Json] => [k, value]))).length } },
    ]
    const redisCases: typeof pyCases = []
    if (auto !== null && plain !== null) {
      const a = auto
      const p = plain
      redisCases.push(
        { name: 'ioredis GET, 100 in flight (auto-pipelining)', opsPerCall: ops, fn: inflight(async () => { if ((await a.get(next())) !== null) sink++ }) },
        { name: 'ioredis SET, 100 in flight (auto-pipelining)', opsPerCall: ops, fn: inflight(async () => { if ((await a.set(next(), value)) === 'OK') sink++ }) },
        { name: 'ioredis pipeline of 100 GET', opsPerCall: BATCH, fn: async () => {
          const pl = p.pipeline()
          for (const k of nextBatch()) pl.get(k)
          sink += ((await pl.exec()) ?? []).length
        } },
        { name: 'ioredis pipeline of 100 SET', opsPerCall: BATCH, fn: async () => {
          const pl = p.pipeline()
          for (const k of nextBatch()) pl.set(k, value)
          sink += ((await pl.exec()) ?? []).length
        } },
      )
    }
    // Each pyshard case right before its ioredis peer.
    const cases = pyCases.flatMap((c, i) => (redisCases[i] ? [c, redisCases[i]] : [c]))
    const results = await runSuite('tcp', 'TCP transport vs ioredis → redis-server, 100k keys', cases, { maxTime: MAX_TIME, minSamples: 5 })
    const rate = (name: string): number => results.find((r) => r.name === name)?.opsPerSec ?? Number.NaN
    const ratio = (a: string, b: string): number => rate(a) / rate(b)
    const readRatio = ratio('pyshard read, 100 in flight', 'ioredis GET, 100 in flight (auto-pipelining)')
    const writeRatio = ratio('pyshard write, 100 in flight', 'ioredis SET, 100 in flight (auto-pipelining)')
    const readManyRatio = ratio('pyshard readMany(100)', 'ioredis pipeline of 100 GET')
    const writeManyRatio = ratio('pyshard writeMany(100)', 'ioredis pipeline of 100 SET')
    const p50Ratio = latRedis ? latPy.p50 / latRedis.p50 : Number.NaN
    const rows: (string | number)[][] = results.map((r) => [r.name, Math.round(r.opsPerSec), r.margin])
    rows.push(['pyshard sequential read p50 / p99 (µs)', `${latPy.p50.toFixed(1)} / ${latPy.p99.toFixed(1)}`, '-'])
    if (latRedis) rows.push(['ioredis sequential GET p50 / p99 (µs)', `${latRedis.p50.toFixed(1)} / ${latRedis.p99.toFixed(1)}`, '-'])
    const notes = redis === null
      ? ['redis-server is not on the PATH: the ioredis side was skipped']
      : [
          `100-in-flight read: pyshard / ioredis auto-pipelining **${readRatio.toFixed(2)}x** (target ≥ 1.0x); write ${writeRatio.toFixed(2)}x`,
          `readMany(100) / pipeline of 100 GET: **${readManyRatio.toFixed(2)}x** (target ≥ 1.0x); writeMany(100) / 100 SET: **${writeManyRatio.toFixed(2)}x**`,
          `sequential read p50 pyshard / ioredis: **${p50Ratio.toFixed(2)}x** (target ≤ 1.1x)`,
          'servers in child processes (pyshard shard server + bootstrap server; redis-server 7 with persistence off); client in this process',
          `${measuredFrom()}; latency: median of 5 alternating rounds of 10,000 reads`,
        ]
    writeReport('tcp', 'TCP transport vs ioredis → redis-server (same run)', ['case', 'ops/s', '± %'], rows, notes,
      { readRatio, writeRatio, readManyRatio, writeManyRatio, p50Ratio, latency: { pyshard: latPy, ioredis: latRedis } })
    console.log(notes.join('\n'))
    await db.close()
    auto?.disconnect()
    plain?.disconnect()
  } finally {
    child.stdin?.end()
    await redis?.stop()
  }
  if (sink === 42) console.log('')
}
