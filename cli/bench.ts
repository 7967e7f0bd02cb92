/**
 * `pyshard bench`: the micro-benchmark a user runs on their own transport or
 * cluster, as `redis-benchmark` is for Redis. It creates its own uniquely named
 * index, fills the keyspace, then for each operation warms up and measures
 * throughput and the latency distribution, optionally beside the peers a user
 * would choose instead (`--compare`). It drops its index when done.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { Pyshard } from '../src/index.js'
import type { OpenOptions } from '../src/index.js'
import { CommandFailed, EXIT_OK, UsageError, intOption, stringOption } from './command.js'
import type { Command, Values } from './command.js'
import { checkHostPort, describe } from './client.js'
import { OPS, generatorCost, makeKeys, runOp, timerOverhead } from './bench-engine.js'
import type { BenchSettings, BenchTarget, OpName } from './bench-engine.js'
import { comparisons, formatHtml, formatTable, resultJson } from './bench-report.js'
import type { BenchReport, ResultJson } from './bench-report.js'
import { inProcessOptions, ioredisTarget, lruTarget, openStores, pyshardTarget } from './bench-targets.js'
import type { Skipped } from './bench-targets.js'

/** Defaults: about one minute in all (6 operations × (1 s warm-up + 9 s)), plus filling the keyspace. */
export const BENCH_DEFAULTS = {
  transport: 'memory', shards: 4, durationS: 9, warmupS: 1, clients: 50, pipeline: 1, valueSize: 100, keyspace: 100_000, batch: 10,
  readShare: 0.8,
} as const

const EXIT_INTERRUPTED = 130

export const bench: Command = {
  name: 'bench',
  summary: 'measure throughput and latency per operation (like redis-benchmark)',
  positionals: [],
  options: {
    bootstrap: { type: 'string', short: 'b' },
    config: { type: 'string', short: 'c' },
    transport: { type: 'string' },
    token: { type: 'string' },
    timeout: { type: 'string' },
    shards: { type: 'string' },
    ops: { type: 'string' },
    requests: { type: 'string', short: 'n' },
    duration: { type: 'string', short: 'd' },
    warmup: { type: 'string' },
    clients: { type: 'string' },
    pipeline: { type: 'string', short: 'P' },
    'value-size': { type: 'string' },
    keyspace: { type: 'string' },
    batch: { type: 'string' },
    rate: { type: 'string' },
    json: { type: 'boolean' },
    html: { type: 'string' },
    compare: { type: 'boolean' },
    redis: { type: 'string' },
  },
  help: `Usage: pyshard bench [-b HOST:PORT | -c FILE | --transport memory|worker] [options]

Creates an index of its own (pyshard-bench-<random>), fills the keyspace, then
for each operation warms up and measures: requests/s, keys/s, latency p50, p90,
p99, p99.9 and max, and errors by code (counted, not fatal). Drops the index at
the end. The defaults take about a minute.

Target (one of):
  -b, --bootstrap HOST:PORT  a cluster behind a bootstrap server (one connection set per client)
  -c, --config FILE          a cluster config, opened directly (any transport)
      --transport NAME       memory or worker shards in this process (default: memory)
      --shards N             shards for --transport (default: ${BENCH_DEFAULTS.shards})
      --token TOKEN          token for the shard servers (default: $PYSHARD_TOKEN)
      --timeout MS           per-request and connect timeout (default: 5000 / 3000)

Workload:
      --ops LIST             comma-separated, from read,write,readMany,writeMany,pop,mixed
                             (default: all; they run in that order with pop last, as it
                             empties the keyspace; mixed is ${BENCH_DEFAULTS.readShare * 100}% reads, ${100 - BENCH_DEFAULTS.readShare * 100}% writes)
  -n, --requests N           requests per operation (warm-up: a tenth more)
  -d, --duration S           seconds per operation (default: ${BENCH_DEFAULTS.durationS})
      --warmup S             warm-up seconds per operation with --duration (default: ${BENCH_DEFAULTS.warmupS})
      --clients C            concurrent clients (default: ${BENCH_DEFAULTS.clients})
  -P, --pipeline P           requests in flight per client (default: ${BENCH_DEFAULTS.pipeline})
      --rate R               fixed rate: R requests/s in all; latency counts from each
                             request's intended send time (no coordinated omission)
      --value-size B         bytes per value, a string of B characters (default: ${BENCH_DEFAULTS.valueSize})
      --keyspace K           distinct keys, chosen uniformly at random (default: ${BENCH_DEFAULTS.keyspace})
      --batch N              keys per readMany / writeMany call (default: ${BENCH_DEFAULTS.batch})

Output:
      --json                 one JSON object on stdout instead of the table
      --html FILE            also write a self-contained HTML report (inline SVG charts)
      --compare              run the same workload on the peers a user would choose
                             instead: lru-cache in this process (memory, worker), and
                             ioredis against --redis URL; shows pyshard ÷ peer ratios
      --redis URL            Redis for --compare (redis://HOST:PORT)
  -h, --help                 this help

Exit: 0 ok (operation errors are counted, not fatal), 1 cluster unreachable,
2 bad usage, 130 interrupted (Ctrl-C; the index is still dropped).`,
  run: runBench,
}

/** A positive number option (seconds, rate), or its default. */
function numberOption(values: Values, name: string, fallback: number | null): number | null {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${name} must be a number > 0, got ${JSON.stringify(raw)}`)
  }
  return n
}

function capped(values: Values, name: string, fallback: number, max: number): number {
  const n = intOption(values, name, fallback)
  if (n > max) throw new UsageError(`--${name} must be at most ${max}, got ${n}`)
  return n
}

interface Plan {
  settings: BenchSettings
  kind: 'memory' | 'worker' | 'bootstrap' | 'config'
  address?: string
  configFile?: string
  shards: number
  open: OpenOptions
  json: boolean
  html?: string
  compare: boolean
  redis?: string
  timeoutMs: number
}

/** Checks every flag before anything starts; each mistake is a UsageError naming its flag. */
export function plan(values: Values): Plan {
  const bootstrap = stringOption(values, 'bootstrap')
  const config = stringOption(values, 'config')
  const transport = stringOption(values, 'transport')
  const given = [bootstrap !== undefined && '-b/--bootstrap', config !== undefined && '-c/--config', transport !== undefined && '--transport'].filter(Boolean)
  if (given.length > 1) throw new UsageError(`give one of -b/--bootstrap, -c/--config, --transport, not ${given.join(' and ')}`)
  if (transport !== undefined && transport !== 'memory' && transport !== 'worker') {
    throw new UsageError(`--transport must be memory or worker, got ${JSON.stringify(transport)} (for a cluster use -b or -c)`)
  }
  if (values.shards !== undefined && (bootstrap !== undefined || config !== undefined)) {
    throw new UsageError('--shards applies to --transport memory|worker; a cluster has the shards its config gives')
  }
  const shards = capped(values, 'shards', BENCH_DEFAULTS.shards, 256)
  let ops: OpName[] = [...OPS]
  const opsRaw = stringOption(values, 'ops')
  if (opsRaw !== undefined) {
    const want = opsRaw.split(',').map((o) => o.trim()).filter((o) => o !== '')
    const bad = want.find((o) => !(OPS as readonly string[]).includes(o))
    if (bad !== undefined || want.length === 0) {
      throw new UsageError(`--ops must be a comma-separated list of ${OPS.join(', ')}, got ${JSON.stringify(bad ?? opsRaw)}`)
    }
    ops = OPS.filter((o) => want.includes(o))
  }
  if (values.requests !== undefined && values.duration !== undefined) throw new UsageError('give --requests or --duration, not both')
  if (values.requests !== undefined && values.warmup !== undefined) throw new UsageError('--warmup goes with --duration (with --requests the warm-up is a tenth of the requests)')
  const requests = values.requests === undefined ? null : capped(values, 'requests', 1, 1e9)
  const duration = numberOption(values, 'duration', BENCH_DEFAULTS.durationS) as number
  const warmup = values.warmup === '0' ? 0 : numberOption(values, 'warmup', BENCH_DEFAULTS.warmupS) as number
  const rate = numberOption(values, 'rate', null)
  const redis = stringOption(values, 'redis')
  if (redis !== undefined && values.compare !== true) throw new UsageError('--redis goes with --compare')
  if (redis !== undefined && !/^rediss?:\/\/./.test(redis)) throw new UsageError(`--redis must be a URL redis://HOST:PORT, got ${JSON.stringify(redis)}`)
  const html = stringOption(values, 'html')
  if (html === '') throw new UsageError('--html needs a file name')
  const open: OpenOptions = {}
  let timeoutMs = 3000
  if (values.timeout !== undefined) {
    const ms = intOption(values, 'timeout', 0)
    open.requestTimeout = ms
    open.connectTimeout = ms
    timeoutMs = ms
  }
  const token = stringOption(values, 'token') ?? process.env.PYSHARD_TOKEN
  if (token !== undefined && token !== '') open.token = token
  const settings: BenchSettings = {
    ops, requests, duration, warmup, rate,
    clients: capped(values, 'clients', BENCH_DEFAULTS.clients, 10_000),
    pipeline: capped(values, 'pipeline', BENCH_DEFAULTS.pipeline, 100_000),
    valueSize: capped(values, 'value-size', BENCH_DEFAULTS.valueSize, 16 * 1024 * 1024),
    keyspace: capped(values, 'keyspace', BENCH_DEFAULTS.keyspace, 10_000_000),
    batch: capped(values, 'batch', BENCH_DEFAULTS.batch, 100_000),
    readShare: BENCH_DEFAULTS.readShare,
  }
  const kind = bootstrap !== undefined ? 'bootstrap' : config !== undefined ? 'config' : (transport ?? BENCH_DEFAULTS.transport) as 'memory' | 'worker'
  return {
    settings, kind, shards, open, json: values.json === true, html, compare: values.compare === true, redis, timeoutMs,
    address: bootstrap === undefined ? undefined : checkHostPort(bootstrap, '-b/--bootstrap'),
    configFile: config,
  }
}

function packageVersion(): string {
  for (const rel of ['../../package.json', '../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'pyshard' && typeof pkg.version === 'string') return pkg.version
    } catch { /* try the next place */ }
  }
  return 'unknown'
}

/** Opens what `p` names: the pyshard stores (one, or one per client for a remote cluster) and a description. */
async function openPyshard(p: Plan): Promise<{ stores: Pyshard[]; description: string; shards: number; inProcess: boolean }> {
  const { clients, keyspace, valueSize } = p.settings
  if (p.kind === 'memory' || p.kind === 'worker') {
    const options = inProcessOptions(p.kind, p.shards, keyspace, valueSize)
    let db: Pyshard
    try {
      db = await Pyshard.open({ ...p.open, ...options })
    } catch (err) {
      throw new CommandFailed(`cannot open ${p.kind} shards: ${describe(err)}`)
    }
    return { stores: [db], description: `${p.kind} transport, ${p.shards} shards in this process`, shards: p.shards, inProcess: true }
  }
  if (p.kind === 'bootstrap') {
    const address = p.address as string
    try {
      const stores = await openStores(clients, () => Pyshard.connect({ ...p.open, bootstrap: address }))
      const map = (stores[0] as Pyshard).map
      return { stores, description: `cluster at ${address} (${describeShards(map.shards)}), ${clients} client connections`, shards: map.shards.length, inProcess: false }
    } catch (err) {
      throw new CommandFailed(`cannot reach bootstrap server ${address}: ${describe(err)}`)
    }
  }
  const file = p.configFile as string
  let first: Pyshard
  try {
    first = await Pyshard.open({ ...p.open, config: file })
  } catch (err) {
    throw new CommandFailed(`cannot open config ${file}: ${describe(err)}`)
  }
  const shards = first.map.shards
  const inProcess = shards.some((s) => s.transport === 'memory' || s.transport === 'worker')
  if (inProcess || clients === 1) return { stores: [first], description: `config ${file} (${describeShards(shards)})`, shards: shards.length, inProcess }
  try {
    const rest = await openStores(clients - 1, () => Pyshard.open({ ...p.open, config: file }))
    return { stores: [first, ...rest], description: `config ${file} (${describeShards(shards)}), ${clients} client connections`, shards: shards.length, inProcess }
  } catch (err) {
    await first.close()
    throw new CommandFailed(`cannot open config ${file}: ${describe(err)}`)
  }
}

function describeShards(shards: readonly { transport: string }[]): string {
  const counts = new Map<string, number>()
  for (const s of shards) counts.set(s.transport, (counts.get(s.transport) ?? 0) + 1)
  return [...counts].map(([t, n]) => `${n} ${t} shard${n === 1 ? '' : 's'}`).join(', ')
}

async function runBench(values: Values): Promise<number> {
  const p = plan(values)
  const s = p.settings
  const startedAt = new Date().toISOString()
  const timer = { ...timerOverhead(), generatorNsPerRequest: Math.round(await generatorCost(s)) }
  const index = `pyshard-bench-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  const opened = await openPyshard(p)
  const tty = process.stderr.isTTY === true
  const status = (line: string): void => {
    if (tty) process.stderr.write(`\r\x1b[2K${line}`)
  }
  const stop = { requested: false }
  const onSigint = (): void => {
    if (stop.requested) process.exit(EXIT_INTERRUPTED)
    stop.requested = true
    status('pyshard bench: stopping (Ctrl-C again to quit at once; the index would stay)\n')
  }
  process.on('SIGINT', onSigint)

  const targets: BenchTarget[] = []
  const peers: BenchReport['peers'] = []
  const results: ResultJson[] = []
  let indexDropped = false
  try {
    let target: BenchTarget
    try {
      target = await pyshardTarget(opened.stores, index, opened.description)
    } catch (err) {
      await Promise.allSettled(opened.stores.map((db) => db.close()))
      throw new CommandFailed(`cannot create index ${index}: ${describe(err)}`)
    }
    targets.push(target)
    if (p.compare) {
      const tries: Promise<BenchTarget | Skipped>[] = []
      if (opened.inProcess) tries.push(lruTarget(s.keyspace))
      if (p.redis !== undefined) tries.push(ioredisTarget(p.redis, opened.inProcess ? 1 : s.clients, index, p.timeoutMs))
      else if (!opened.inProcess) tries.push(Promise.resolve({ name: 'ioredis', reason: 'ioredis peer skipped: give --redis redis://HOST:PORT to compare with Redis' }))
      for (const t of await Promise.all(tries)) {
        if ('clients' in t) {
          targets.push(t)
          peers.push({ name: t.name, ran: true, description: t.description })
        } else {
          peers.push({ name: t.name, ran: false, reason: t.reason })
          if (!p.json) process.stderr.write(`${t.reason}\n`)
        }
      }
    }
    const keys = makeKeys(s.keyspace)
    const value = 'x'.repeat(s.valueSize)
    for (const t of targets) {
      status(`${t.name}: writing ${s.keyspace.toLocaleString('en-US')} keys`)
      await t.prefill(keys, value)
    }
    // Operation by operation, every target in turn: a machine that changes pace mid-run
    // then treats the targets alike.
    for (const op of s.ops) {
      for (const t of targets) {
        if (stop.requested) break
        const r = await runOp(t, op, s, keys, value, stop, (name, o, phase, done, elapsed) => {
          const of = phase === 'run' && s.requests !== null ? ` / ${s.requests.toLocaleString('en-US')}` : ''
          const secs = s.requests === null ? ` / ${phase === 'run' ? s.duration : s.warmup} s` : ''
          status(`${name} ${o} ${phase}: ${elapsed.toFixed(1)} s${secs}, ${done.toLocaleString('en-US')}${of} requests`)
        })
        results.push(resultJson(r))
      }
    }
  } finally {
    status('')
    for (const t of targets) {
      try {
        await t.close()
        if (t.name === 'pyshard') indexDropped = true
      } catch (err) {
        process.stderr.write(`pyshard bench: cannot clean up ${t.name}: ${describe(err)}\n`)
      }
    }
    process.off('SIGINT', onSigint)
  }
  const report: BenchReport = {
    schema: 1,
    pyshardVersion: packageVersion(),
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { node: process.version, platform: process.platform, arch: process.arch, cpus: os.availableParallelism(), cpuModel: os.cpus()[0]?.model ?? 'unknown' },
    target: { kind: p.kind, description: opened.description, shards: opened.shards, index, indexDropped },
    settings: {
      ops: s.ops, requests: s.requests, durationS: s.requests === null ? s.duration : null, warmupS: s.requests === null ? s.warmup : null,
      clients: s.clients, pipeline: s.pipeline, valueSize: s.valueSize, keyspace: s.keyspace, batch: s.batch, rate: s.rate, mixedReadShare: s.readShare,
    },
    timer: { source: 'performance.now', ...timer },
    results,
    peers,
    comparisons: comparisons(results),
    interrupted: stop.requested,
  }
  if (p.html !== undefined) {
    try {
      writeFileSync(p.html, formatHtml(report))
    } catch (err) {
      throw new CommandFailed(`cannot write --html ${p.html}: ${describe(err)}`)
    }
  }
  process.stdout.write(p.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report))
  return stop.requested ? EXIT_INTERRUPTED : EXIT_OK
}
