/**
 * `pyshard bench` from the build: the table, --json fields, --html, --compare, the fixed-rate
 * mode, exit codes, bad flags, an unreachable cluster, and a run against a TCP cluster that
 * leaves the cluster's other indexes alone. Runs are tiny (--requests); nothing is timed.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Histogram } from '../cli/bench-histogram.js'
import { freePort, runCli, startCluster } from './helpers/cli.js'
import type { Cluster } from './helpers/cli.js'
import { redisCommand, redisMissing, skipAll, startRedis } from './helpers/redis-server.js'
import type { RedisProcess } from './helpers/redis-server.js'

interface Result {
  target: string; op: string; requests: number; keys: number; hits: number; elapsedS: number; opsPerSec: number; keysPerSec: number
  latencyUs: Record<'min' | 'mean' | 'p50' | 'p90' | 'p99' | 'p999' | 'max', number>
  errors: Record<string, number>; histogram: [number, number][]; cut: boolean
}
interface Report {
  schema: number; pyshardVersion: string; startedAt: string; finishedAt: string
  machine: { node: string; cpus: number }
  target: { kind: string; description: string; shards: number; index: string; indexDropped: boolean }
  settings: { ops: string[]; requests: number | null; durationS: number | null; clients: number; pipeline: number; valueSize: number; keyspace: number; batch: number; rate: number | null }
  timer: { source: string; performanceNowNs: number; hrtimeBigintNs: number; generatorNsPerRequest: number }
  results: Result[]
  peers: { name: string; ran: boolean; description?: string; reason?: string }[]
  comparisons: { op: string; peer: string; throughputRatio: number; p50Ratio: number; p99Ratio: number }[]
  interrupted: boolean
}

const SMALL = ['--requests', '60', '--clients', '3', '--keyspace', '400']

const unit = suite('bench histogram')

unit('percentiles of 1..100000 ns are within 1/1000 of the exact ones; max and count are exact', () => {
  const h = new Histogram()
  for (let v = 100_000; v >= 1; v--) h.record(v)
  assert.is(h.count, 100_000)
  assert.is(h.max, 100_000)
  assert.is(h.min, 1)
  for (const p of [50, 90, 99, 99.9]) {
    const exact = p * 1000
    const got = h.percentile(p)
    assert.ok(got >= exact && got <= exact * 1.001, `p${p}: ${got} vs ${exact}`)
  }
  assert.is(h.percentile(100), 100_000)
  const total = h.buckets().reduce((a, [, c]) => a + c, 0)
  assert.is(total, 100_000)
})

unit('values past an hour and merging', () => {
  const a = new Histogram()
  const b = new Histogram()
  a.record(5e12)
  b.record(3)
  b.record(-1)
  a.add(b)
  assert.is(a.count, 3)
  assert.is(a.max, 5e12)
  assert.is(a.min, 0)
  const p = a.percentile(100)
  assert.ok(p <= 5e12 && p >= 5e12 * 0.999)
})

unit.run()

const test = suite('cli: bench')

test('table: settings lines, a header, one pyshard row per operation; nothing on stderr without a TTY', async () => {
  const r = await runCli(['bench', ...SMALL, '--ops', 'pop,read,write'])
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stderr, '')
  const lines = r.stdout.split('\n')
  assert.match(lines[0] as string, /^pyshard bench: memory transport, 4 shards in this process$/)
  assert.match(r.stdout, /index pyshard-bench-[0-9a-z]+-[0-9a-f]{8} \(dropped\), 3 clients x 1 in flight, closed loop/)
  assert.match(r.stdout, /timer: performance\.now\(\) \d+ ns\/call, process\.hrtime\.bigint\(\) \d+ ns\/call/)
  assert.match(r.stdout, /^load generator: [\d,]+ ns of CPU per request against a no-op store/m)
  const head = lines.findIndex((l) => l.startsWith('target'))
  assert.ok(head > 0, r.stdout)
  assert.match(lines[head] as string, /^target\s+op\s+requests\s+ops\/s\s+keys\/s\s+p50\s+p90\s+p99\s+p99\.9\s+max\s+errors$/)
  const rows = lines.slice(head + 1, head + 4).map((l) => l.split(/\s{2,}/))
  // In run order (pop last), each with 60 requests and no errors.
  assert.equal(rows.map((c) => [c[0], c[1], c[2], c[10]]), [['pyshard', 'read', '60', '0'], ['pyshard', 'write', '60', '0'], ['pyshard', 'pop', '60', '0']])
  for (const c of rows) for (const cell of c.slice(5, 10)) assert.match(cell, /^\d+(\.\d+)?(ns|µs|ms|s)$/)
})

test('--json: one object with the documented fields; every histogram adds up to its requests', async () => {
  const r = await runCli(['bench', ...SMALL, '--json', '--transport', 'worker', '--shards', '2', '--value-size', '20', '--batch', '4'])
  assert.is(r.code, 0, r.stderr)
  const rep = JSON.parse(r.stdout) as Report
  assert.is(rep.schema, 1)
  assert.match(rep.pyshardVersion, /^\d+\.\d+\.\d+/)
  assert.ok(Date.parse(rep.startedAt) <= Date.parse(rep.finishedAt))
  assert.equal([rep.target.kind, rep.target.shards, rep.target.indexDropped], ['worker', 2, true])
  assert.match(rep.target.index, /^pyshard-bench-/)
  assert.equal(rep.settings.ops, ['read', 'write', 'readMany', 'writeMany', 'mixed', 'pop'])
  assert.equal([rep.settings.requests, rep.settings.durationS, rep.settings.clients, rep.settings.pipeline, rep.settings.valueSize, rep.settings.keyspace, rep.settings.batch, rep.settings.rate],
    [60, null, 3, 1, 20, 400, 4, null])
  assert.is(rep.timer.source, 'performance.now')
  assert.ok(rep.timer.performanceNowNs > 0 && rep.timer.hrtimeBigintNs > 0 && rep.timer.generatorNsPerRequest > 0)
  assert.equal(rep.peers, [])
  assert.equal(rep.comparisons, [])
  assert.is(rep.interrupted, false)
  assert.equal(rep.results.map((x) => x.op), rep.settings.ops)
  for (const x of rep.results) {
    assert.equal(Object.keys(x).sort(), ['cut', 'elapsedS', 'errors', 'histogram', 'hits', 'keys', 'keysPerSec', 'latencyUs', 'op', 'opsPerSec', 'requests', 'target'])
    assert.is(x.target, 'pyshard')
    assert.is(x.requests, 60)
    assert.is(x.keys, x.op === 'readMany' || x.op === 'writeMany' ? 240 : 60)
    assert.equal(x.errors, {})
    assert.ok(x.opsPerSec > 0 && x.elapsedS > 0)
    const l = x.latencyUs
    assert.ok(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l))
    assert.is(x.histogram.reduce((a, [, c]) => a + c, 0), 60)
  }
  // Every key was written before the reads: each read and each pop finds its entry.
  const by = (op: string): Result => rep.results.find((x) => x.op === op) as Result
  assert.is(by('read').hits, 60)
  assert.is(by('readMany').hits, 240)
  assert.is(by('pop').hits, 60)
})

test('--html FILE: one self-contained file with inline SVG charts and nothing fetched', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-bench-'))
  try {
    const file = join(dir, 'report.html')
    const r = await runCli(['bench', ...SMALL, '--ops', 'read,writeMany', '--html', file])
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /^target\s+op/m) // the table still goes to stdout
    assert.equal(readdirSync(dir), ['report.html'])
    const html = readFileSync(file, 'utf8')
    assert.ok(html.startsWith('<!doctype html>'))
    assert.ok((html.match(/<svg /g) ?? []).length >= 3, 'a throughput chart and a latency chart per operation')
    assert.not.match(html, /<script[^>]*\bsrc=|<link\b|<img\b|@import|url\(/)
    assert.not.match(html, /https:\/\//)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('--compare on memory: lru-cache rows beside pyshard, and pyshard ÷ peer ratios', async () => {
  const r = await runCli(['bench', ...SMALL, '--ops', 'read,write', '--compare'])
  assert.is(r.code, 0, r.stderr)
  // lru-cache is a dev dependency here, so the peer runs; without it the run goes on with one skip line.
  assert.match(r.stdout, /^peer: lru-cache( \S+)? in this process/m)
  assert.match(r.stdout, /^lru-cache\s+read\s+60\s/m)
  assert.match(r.stdout, /^lru-cache\s+write\s+60\s/m)
  assert.match(r.stdout, /^op\s+peer\s+throughput\s+p50\s+p99$/m)
  assert.match(r.stdout, /^read\s+lru-cache\s+\d+\.\d\dx\s+\d+\.\d\dx\s+\d+\.\d\dx$/m)
  const j = await runCli(['bench', ...SMALL, '--ops', 'read', '--compare', '--json'])
  const rep = JSON.parse(j.stdout) as Report
  assert.equal(rep.peers.map((p) => [p.name, p.ran]), [['lru-cache', true]])
  assert.equal(rep.comparisons.map((c) => [c.op, c.peer]), [['read', 'lru-cache']])
  assert.ok(rep.comparisons[0]!.throughputRatio > 0)
})

test('--rate: fixed-rate mode runs and reports its rate', async () => {
  const r = await runCli(['bench', '--requests', '50', '--clients', '2', '--keyspace', '100', '--ops', 'read', '--rate', '5000', '--json'])
  assert.is(r.code, 0, r.stderr)
  const rep = JSON.parse(r.stdout) as Report
  assert.is(rep.settings.rate, 5000)
  assert.is(rep.results[0]!.requests, 50)
  const t = await runCli(['bench', '--requests', '20', '--clients', '2', '--keyspace', '100', '--ops', 'read', '--rate', '5000'])
  assert.match(t.stdout, /fixed rate 5,000 requests\/s \(latency from the intended send time\)/)
})

test('-c FILE with in-process shards: runs on that config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-bench-'))
  try {
    const config = join(dir, 'cluster.json')
    writeFileSync(config, JSON.stringify({ transport: 'memory', shards: [{ name: 'a', start: 0, end: 0.5 }, { name: 'b', start: 0.5, end: 1 }] }))
    const r = await runCli(['bench', ...SMALL, '--ops', 'write', '-c', config, '--json'])
    assert.is(r.code, 0, r.stderr)
    const rep = JSON.parse(r.stdout) as Report
    assert.equal([rep.target.kind, rep.target.shards], ['config', 2])
    assert.is(rep.results[0]!.requests, 60)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('bad flags: exit 2 and one line on stderr naming the flag', async () => {
  const cases: [string[], RegExp][] = [
    [['--clients', '0'], /--clients must be an integer >= 1/],
    [['--ops', 'read,nope'], /--ops must be a comma-separated list .*"nope"/],
    [['--transport', 'tcp'], /--transport must be memory or worker/],
    [['--requests', '10', '--duration', '1'], /--requests or --duration/],
    [['--rate', '0'], /--rate must be a number > 0/],
    [['--duration', 'soon'], /--duration must be a number > 0/],
    [['--redis', 'redis://127.0.0.1:6379'], /--redis goes with --compare/],
    [['--compare', '--redis', 'localhost:6379'], /--redis must be a URL/],
    [['-b', 'nohost'], /-b\/--bootstrap must be HOST:PORT/],
    [['-b', '127.0.0.1:5000', '--shards', '2'], /--shards applies to --transport/],
    [['-b', '127.0.0.1:5000', '--transport', 'memory'], /give one of -b\/--bootstrap, -c\/--config, --transport/],
    [['--keyspace', '99999999999'], /--keyspace must be at most/],
    [['--bogus'], /--bogus/],
  ]
  for (const [args, message] of cases) {
    const r = await runCli(['bench', ...args])
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.is(r.stdout, '')
    assert.is(r.stderr.split('\n').length, 2, `one line for ${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /^pyshard bench: /)
    assert.match(r.stderr, message)
  }
})

test('an unreachable cluster: exit 1 and one line', async () => {
  const port = await freePort()
  const r = await runCli(['bench', '-b', `127.0.0.1:${port}`, '--requests', '10', '--timeout', '2000'])
  assert.is(r.code, 1)
  assert.is(r.stdout, '')
  assert.match(r.stderr, new RegExp(`^pyshard bench: cannot reach bootstrap server 127\\.0\\.0\\.1:${port}: .*\\n$`))
})

test('--help describes the flags and defaults', async () => {
  const r = await runCli(['bench', '--help'])
  assert.is(r.code, 0)
  for (const flag of ['--transport', '--ops', '--requests', '--duration', '--clients', '--pipeline', '--value-size', '--keyspace', '--rate', '--json', '--html', '--compare', '--redis']) {
    assert.ok(r.stdout.includes(flag), flag)
  }
})

test.run()

const tcp = suite<{ cluster: Cluster | null }>('cli: bench on a tcp cluster', { cluster: null })

tcp.before(async (ctx) => {
  ctx.cluster = await startCluster()
  const w = await runCli(['write', 'users', '--force', ...ctx.cluster.bootstrap], { input: 'ada|1815\n' })
  assert.is(w.code, 0, w.stderr)
})
tcp.after(async (ctx) => {
  assert.is(await ctx.cluster?.stop(), 0)
})

tcp('runs every operation through the bootstrap server, drops its own index and leaves the others', async (ctx) => {
  const c = ctx.cluster as Cluster
  const r = await runCli(['bench', ...c.bootstrap, ...SMALL, '--pipeline', '2', '--json', '--compare'])
  assert.is(r.code, 0, r.stderr)
  const rep = JSON.parse(r.stdout) as Report
  assert.equal([rep.target.kind, rep.target.shards, rep.target.indexDropped], ['bootstrap', 2, true])
  assert.match(rep.target.description, /2 tcp shards/)
  assert.is(rep.results.length, 6)
  for (const x of rep.results) {
    assert.is(x.requests, 60)
    assert.equal(x.errors, {})
  }
  // A tcp cluster's peer is Redis: without --redis it is skipped with a line that says how to add it.
  assert.equal(rep.peers.map((p) => [p.name, p.ran]), [['ioredis', false]])
  assert.match(rep.peers[0]!.reason as string, /--redis redis:\/\/HOST:PORT/)
  const list = await runCli(['indexes', ...c.bootstrap])
  assert.is(list.stdout, 'users\n')
  const ada = await runCli(['read', 'users', 'ada', ...c.bootstrap])
  assert.is(ada.code, 0, ada.stderr)
})

tcp('the table names the cluster', async (ctx) => {
  const c = ctx.cluster as Cluster
  const r = await runCli(['bench', ...c.bootstrap, ...SMALL, '--ops', 'read'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, new RegExp(`^pyshard bench: cluster at ${c.address.replace(/\./g, '\\.')} \\(2 tcp shards\\), 3 client connections$`, 'm'))
  assert.match(r.stdout, /^pyshard\s+read\s+60\s/m)
})

tcp.run()

const missing = redisMissing()
if (missing !== null) {
  skipAll('cli: bench --compare with Redis', missing, ['ioredis rows beside pyshard, and the bench keys removed from Redis'])
} else {
  const withRedis = suite<{ redis: RedisProcess | null }>('cli: bench --compare with Redis', { redis: null })
  withRedis.before(async (ctx) => {
    ctx.redis = await startRedis()
  })
  withRedis.after(async (ctx) => {
    await ctx.redis?.stop()
  })
  withRedis('ioredis rows beside pyshard, and the bench keys removed from Redis', async (ctx) => {
    const redis = ctx.redis as RedisProcess
    await redisCommand(redis.port, 'SET other 1')
    const r = await runCli(['bench', ...SMALL, '--compare', '--redis', redis.url, '--json'])
    assert.is(r.code, 0, r.stderr)
    const rep = JSON.parse(r.stdout) as Report
    assert.equal(rep.peers.map((p) => [p.name, p.ran]), [['lru-cache', true], ['ioredis', true]])
    const rows = rep.results.filter((x) => x.target === 'ioredis')
    assert.equal(rows.map((x) => x.op), ['read', 'write', 'readMany', 'writeMany', 'mixed', 'pop'])
    for (const x of rows) assert.is(x.requests, 60)
    assert.is(rows.find((x) => x.op === 'read')!.hits, 60)
    assert.is(rep.comparisons.filter((c) => c.peer === 'ioredis').length, 6)
    assert.is(await redisCommand(redis.port, 'DBSIZE'), ':1\r\n')
  })
  withRedis.run()
}
