/**
 * Online resharding figures. The move is measured as users run it: three shard servers
 * (`pyshard shard`) and a bootstrap server (`pyshard bootstrap`) in child processes, the
 * clients in this one:
 *
 * - entries moved per second by a reshard 2 -> 3 shard servers (100-byte values)
 * - client latency p50 / p99 of read+write loops in steady state and while the move runs
 * - how long writes to the moving ranges were paused (the freeze)
 * - with `--many`: what a map of 64+ shard servers costs (served map size, connect time, one
 *   stat round), in this process
 *
 *   npx tsup --silent && node --import tsx bench/reshard.bench.ts [--entries N] [--runs R] [--many] [--shards S]
 * Writes bench/results/reshard.json (every run and the median); bench/results/reshard.md reports it.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Pyshard } from '../src/index.js'
import { BootstrapClient, BootstrapServer, ShardServer } from '../transports/tcp/servers.js'
import type { ClusterConfig } from '../src/index.js'

const { values: flags } = parseArgs({
  options: { entries: { type: 'string' }, shards: { type: 'string' }, runs: { type: 'string' }, many: { type: 'boolean' }, loops: { type: 'string' } },
})
const ENTRIES = Number(flags.entries ?? 100_000)
const MANY = Number(flags.shards ?? 64)
const RUNS = Number(flags.runs ?? 3)
/** Concurrent client loops (each one request at a time). */
const LOOPS = Number(flags.loops ?? 4)
const VALUE = 'x'.repeat(100)
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

async function loop(db: Pyshard, seed: number, until: () => boolean, lat: number[]): Promise<void> {
  let i = seed
  while (!until()) {
    const key = `k${(i++ * 7919) % ENTRIES}`
    const t = performance.now()
    if (i % 2 === 0) await db.read('b', key)
    else await db.write('b', key, VALUE)
    lat.push(performance.now() - t)
  }
}

async function loops(db: Pyshard, until: () => boolean): Promise<number[]> {
  const lat: number[] = []
  await Promise.all(Array.from({ length: LOOPS }, (_, n) => loop(db, n * 1_000_003, until, lat)))
  return lat.sort((a, b) => a - b)
}

/** Starts `pyshard ...args` and resolves with the child once its output matches `ready`. */
function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const on = (d: Buffer): void => {
      out += d.toString()
      if (ready.test(out)) resolve({ child, out: () => out })
    }
    child.stdout?.on('data', on)
    child.stderr?.on('data', on)
    child.once('exit', (code) => reject(new Error(`pyshard ${args[0]} exited ${code}: ${out}`)))
  })
}

interface MoveRun {
  entries: number
  moved: number
  seconds: number
  movedPerSec: number
  frozenMs: number
  steady: { p50: number; p99: number; requests: number }
  during: { p50: number; p99: number; requests: number }
  p99Ratio: number
}

async function moveRun(): Promise<MoveRun> {
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-bench-reshard-'))
  const children: ChildProcess[] = []
  try {
    const ports: number[] = []
    for (let i = 0; i < 3; i++) {
      const s = await start(['shard', '--port', '0'], /listening on 127\.0\.0\.1:(\d+)/)
      children.push(s.child)
      ports.push(Number(/listening on 127\.0\.0\.1:(\d+)/.exec(s.out())?.[1]))
    }
    const shard = (i: number, begin: number, end: number): ClusterConfig['shards'][number] => ({ name: `s${i}`, host: '127.0.0.1', port: ports[i], start: begin, end })
    const file = join(dir, 'cluster.json')
    writeFileSync(file, JSON.stringify({ transport: 'tcp', shards: [shard(0, 0, 0.5), shard(1, 0.5, 1)] }))
    const b = await start(['bootstrap', '--config', file, '--port', '0'], /ready on 127\.0\.0\.1:(\d+)/)
    children.push(b.child)
    const target = `127.0.0.1:${/ready on 127\.0\.0\.1:(\d+)/.exec(b.out())?.[1]}`
    const db = await Pyshard.connect({ bootstrap: target, requestTimeout: 30_000 })
    const admin = new BootstrapClient(target)
    try {
      await db.createIndex('b')
      for (let i = 0; i < ENTRIES; i += 1000) await db.writeMany('b', Array.from({ length: 1000 }, (_, j) => [`k${i + j}`, VALUE]))
      await loops(db, ((end) => () => performance.now() > end)(performance.now() + 1000)) // warm-up
      const before = await loops(db, ((end) => () => performance.now() > end)(performance.now() + 3000))
      let done = false
      const t0 = performance.now()
      const moving = admin.reshard({ transport: 'tcp', shards: [shard(0, 0, 1 / 3), shard(1, 1 / 3, 2 / 3), shard(2, 2 / 3, 1)] }, { pollMs: 50 })
        .finally(() => { done = true })
      const during = await loops(db, () => done)
      const result = await moving
      const seconds = (performance.now() - t0) / 1000
      // Steady state around the move (before and after), so that both sides see the machine's load of the moment.
      const after = await loops(db, ((end) => () => performance.now() > end)(performance.now() + 3000))
      // concat, not push(...): a quiet machine answers more requests than a call has room for arguments.
      const steady = before.concat(after).sort((x, y) => x - y)
      const fig = (l: number[]): { p50: number; p99: number; requests: number } => ({ p50: +pct(l, 50).toFixed(3), p99: +pct(l, 99).toFixed(3), requests: l.length })
      return {
        entries: ENTRIES, moved: result.moved, seconds: +seconds.toFixed(2), movedPerSec: Math.round(result.moved / seconds), frozenMs: result.frozenMs,
        steady: fig(steady), during: fig(during), p99Ratio: +(pct(during, 99) / pct(steady, 99)).toFixed(2),
      }
    } finally {
      await admin.close()
      await db.close()
    }
  } finally {
    for (const c of children) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

function median<T>(runs: T[], by: (r: T) => number): T {
  return [...runs].sort((a, b) => by(a) - by(b))[Math.floor(runs.length / 2)] as T
}

async function manyFigures(): Promise<string[]> {
  const servers: ShardServer[] = []
  for (let i = 0; i < MANY; i++) {
    const s = new ShardServer()
    await s.listen()
    servers.push(s)
  }
  const config: ClusterConfig = {
    transport: 'tcp',
    shards: servers.map((s, i) => ({ name: `s${i}`, host: '127.0.0.1', port: (s.address as { port: number }).port, start: i / MANY, end: i === MANY - 1 ? 1 : (i + 1) / MANY })),
  }
  const t0 = performance.now()
  const bootstrap = new BootstrapServer({ config })
  const { port } = await bootstrap.listen()
  const assignMs = performance.now() - t0
  const target = `127.0.0.1:${port}`
  const bc = new BootstrapClient(target)
  const mapBytes = JSON.stringify(await bc.getMap()).length
  await bc.close()
  const t1 = performance.now()
  const db = await Pyshard.connect({ bootstrap: target })
  const connectMs = performance.now() - t1
  try {
    await db.createIndex('m')
    await db.writeMany('m', Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]))
    const t2 = performance.now()
    const stats = await db.stat()
    const statMs = performance.now() - t2
    const t3 = performance.now()
    // Epoch propagation: one server takes half of its neighbour's range.
    const next = structuredClone(config)
    const mid = (next.shards[0]!.end as number) / 2
    next.shards[0]!.end = mid
    next.shards[1]!.start = mid
    const r = await bootstrap.reshard(next)
    const reshardMs = performance.now() - t3
    await db.read('m', 'k1')
    return [
      `- ${MANY} shard servers: bootstrap assigned all in ${assignMs.toFixed(0)} ms; served map ${mapBytes} bytes (${(mapBytes / MANY).toFixed(0)} per shard)`,
      `- a client connects in ${connectMs.toFixed(0)} ms and holds one connection per shard server it uses (up to ${MANY}); stat over all: ${statMs.toFixed(0)} ms (${stats.length} shards)`,
      `- a reshard moving one range to epoch ${r.epoch} (${r.moved} entries) took ${reshardMs.toFixed(0)} ms end to end; clients learn the epoch on their next MOVED (one map fetch)`,
    ]
  } finally {
    await db.close()
    await bootstrap.close()
    await Promise.all(servers.map((s) => s.destroy()))
  }
}

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsup --silent)`)
const runs: MoveRun[] = []
for (let r = 0; r < RUNS; r++) {
  const run = await moveRun()
  process.stdout.write(`run ${r + 1}: ${JSON.stringify(run)}\n`)
  runs.push(run)
}
const med = median(runs, (r) => r.p99Ratio)
const load = loadavg().map((l) => l.toFixed(2)).join(', ')
const many = flags.many === true ? await manyFigures() : null
const json = new URL('./results/reshard.json', import.meta.url)
const previous = existsSync(json) ? (JSON.parse(readFileSync(json, 'utf8')) as { many?: string[] }).many : undefined
writeFileSync(json, `${JSON.stringify({ date: new Date().toISOString(), load, loops: LOOPS, runs, median: med, many: many ?? previous ?? null }, null, 2)}\n`)
process.stdout.write(`median of ${RUNS} (by p99 ratio): ${JSON.stringify(med)}\nload average: ${load}\n`)
