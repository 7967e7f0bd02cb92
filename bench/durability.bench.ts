/**
 * Durability costs, same run:
 * - write throughput with 100 writes in flight over TCP to one shard server (the built
 *   `pyshard shard`, in a child process): no data dir vs `--fsync no` vs `everysec` vs `always`,
 *   rounds alternated, median kept;
 * - restart time of a store whose data dir holds 1,000,000 entries (open = load);
 * - resident memory per entry (1,000,000 entries) with and without a data dir, each in a fresh process;
 * - the disk's flush latency under the data dirs: a 4 KB write + `fdatasync` of the same file, and one
 *   durable lmdb commit of 100 writes as `fsync: 'always'` makes it (in-process, one after another).
 *   At 100 writes in flight `always` cannot answer more than 100 writes per durable commit.
 *
 *   npm run build && node --import tsx bench/durability.bench.ts [--seconds S] [--entries N]
 *   node --import tsx bench/durability.bench.ts --md-only   (rewrites durability.md from durability.json)
 */
import { execFileSync } from 'node:child_process'
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { Pyshard } from '../src/index.js'
import { openOn, startChildShard } from '../test/helpers/crash-shard.js'
import type { ChildShard } from '../test/helpers/crash-shard.js'
import { spawnCli } from '../test/helpers/cli.js'

const { values: flags } = parseArgs({ options: { seconds: { type: 'string' }, entries: { type: 'string' }, rss: { type: 'string' }, dir: { type: 'string' }, 'md-only': { type: 'boolean' } } })
const ENTRIES = Number(flags.entries ?? 1_000_000)
const SECONDS = Number(flags.seconds ?? 2)
const doc = { name: 'x'.repeat(80), n: 1 }

async function fill(db: Pyshard, n: number): Promise<void> {
  await db.createIndex('b')
  const CHUNK = 10_000
  for (let i = 0; i < n; i += CHUNK) {
    await db.writeMany('b', Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => [`key${i + j}`, doc] as [string, typeof doc]))
  }
}

const JSON_OUT = fileURLToPath(new URL('./results/durability.json', import.meta.url))
const MD_OUT = fileURLToPath(new URL('./results/durability.md', import.meta.url))

interface Result {
  date: string; node: string; load?: [number, number]; secondsPerRun: number
  writesPerSecond: Record<Mode, number>; ratios: Record<Exclude<Mode, 'none'>, number>
  restartMs: number; restartEntries: number | undefined; rssPerEntry: { none: number; dataDir: number }
  flushMs?: { fdatasync4k: Latency; durableCommit100: Latency }; alwaysBound?: { writesPerSecond: number; ratio: number }
}

/** The table bench/run.ts gathers into bench/results/README.md. */
function markdown(r: Result): string {
  const n = (x: number): string => Math.round(x).toLocaleString('en-US')
  const x = (m: Exclude<Mode, 'none'>): string => `${r.ratios[m].toFixed(2)}x`
  const lat = (l: Latency): string => `p50 ${l.p50.toFixed(2)} ms, p90 ${l.p90.toFixed(2)} ms, mean ${l.mean.toFixed(2)} ms`
  return [
    '# Durability (bench/durability.bench.ts)',
    '',
    `${r.date}, Node ${r.node}, 2 cores shared with other jobs${r.load ? ` (load average ${r.load[0].toFixed(1)} at the start, ${r.load[1].toFixed(1)} at the end)` : ''}.`,
    `100 writes in flight over TCP to one \`pyshard shard\` child process; median of 3 alternated rounds of ${r.secondsPerRun} s. JSON: \`durability.json\`.`,
    '',
    '| case | writes/s | vs no data dir | target |',
    '|---|---|---|---|',
    `| no data dir | ${n(r.writesPerSecond.none)} | 1.00x | – |`,
    `| \`--fsync no\` | ${n(r.writesPerSecond.no)} | ${x('no')} | – |`,
    `| \`--fsync everysec\` | ${n(r.writesPerSecond.everysec)} | ${x('everysec')} | ≥ 0.8x |`,
    `| \`--fsync always\` | ${n(r.writesPerSecond.always)} | ${x('always')} | ≥ 0.5x |`,
    ...(r.alwaysBound ? [`| \`always\`'s ceiling at 100 in flight (100 writes per durable commit) | ${n(r.alwaysBound.writesPerSecond)} | ${r.alwaysBound.ratio.toFixed(2)}x | – |`] : []),
    `| restart, ${n(r.restartEntries ?? 0)} entries | ${(r.restartMs / 1000).toFixed(2)} s | – | ≤ 5 s |`,
    `| RSS per entry | ${r.rssPerEntry.none} B without a data dir, ${r.rssPerEntry.dataDir} B with one (lmdb's mapped file pages count in RSS) | – | – |`,
    ...(r.flushMs ? [
      '',
      `Flush latency of the disk under the data dirs, same run: 4 KB write + \`fdatasync\`: ${lat(r.flushMs.fdatasync4k)};`,
      `one durable lmdb commit of 100 writes (\`fsync: 'always'\`, in-process, one after another): ${lat(r.flushMs.durableCommit100)}.`,
    ] : []),
    '',
  ].join('\n')
}

if (flags['md-only']) {
  writeFileSync(MD_OUT, markdown(JSON.parse(readFileSync(JSON_OUT, 'utf8')) as Result))
  process.exit(0)
}

if (flags.rss !== undefined) {
  // Child mode: load ENTRIES into one memory shard (with or without a data dir), report RSS per entry.
  global.gc?.()
  const before = process.memoryUsage().rss
  const db = await Pyshard.open({ shards: 1, size: 2 ** 40, ...(flags.rss === 'dir' ? { dataDir: flags.dir as string } : {}) })
  await fill(db, ENTRIES)
  global.gc?.()
  const after = process.memoryUsage().rss
  process.stdout.write(JSON.stringify({ perEntry: (after - before) / ENTRIES }))
  await db.close()
  process.exit(0)
}

type Mode = 'none' | 'no' | 'everysec' | 'always'

async function startNone(): Promise<ChildShard> {
  const child = spawnCli(['shard', '--port', '0'])
  return new Promise((resolve) => {
    let out = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out)
      if (m) resolve({ child, port: Number(m[1]), kill: async () => { child.kill('SIGKILL') } })
    })
  })
}

async function throughput(mode: Mode, dir: string): Promise<number> {
  const shard = mode === 'none' ? await startNone() : await startChildShard(join(dir, `${mode}-${Date.now()}`), mode)
  const db = await openOn(shard.port)
  await db.createIndex('b')
  let i = 0
  let done = 0
  let stop = false
  const worker = async (): Promise<void> => {
    while (!stop) {
      await db.write('b', `k${i++ % 100_000}`, doc)
      done++
    }
  }
  const warm = Array.from({ length: 100 }, worker)
  await new Promise((r) => setTimeout(r, 300))
  const start = performance.now()
  const d0 = done
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  const rate = (done - d0) / ((performance.now() - start) / 1000)
  stop = true
  await Promise.all(warm)
  await db.close()
  await shard.kill()
  return rate
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

interface Latency { p50: number; p90: number; mean: number }

function latency(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number): number => Math.round((s[Math.floor(q * (s.length - 1))] as number) * 1000) / 1000
  return { p50: at(0.5), p90: at(0.9), mean: Math.round((s.reduce((a, b) => a + b, 0) / s.length) * 1000) / 1000 }
}

/** A 4 KB write, then `fdatasync`, of one file in `dir`, `n` times: what one flush costs on this disk. */
function rawFlush(dir: string, n: number): Latency {
  const file = join(dir, 'flush.bin')
  const fd = openSync(file, 'w')
  const page = Buffer.alloc(4096, 7)
  const ms: number[] = []
  try {
    for (let i = 0; i < 16; i++) writeSync(fd, page, 0, page.length, i * 4096)
    fdatasyncSync(fd)
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      writeSync(fd, page, 0, page.length, (i % 16) * 4096)
      fdatasyncSync(fd)
      ms.push(performance.now() - t)
    }
  } finally {
    closeSync(fd)
    rmSync(file, { force: true })
  }
  return latency(ms)
}

/** One durable commit of 100 writes with `fsync: 'always'` (in-process: the write resolves once on disk), `n` times. */
async function durableCommit(dir: string, n: number): Promise<Latency> {
  const db = await Pyshard.open({ shards: 1, size: 2 ** 40, dataDir: dir, fsync: 'always' })
  const ms: number[] = []
  try {
    await db.createIndex('b')
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      await db.writeMany('b', Array.from({ length: 100 }, (_, j) => [`k${(i * 100 + j) % 100_000}`, doc] as [string, typeof doc]))
      ms.push(performance.now() - t)
    }
  } finally {
    await db.close()
  }
  return latency(ms)
}

const dir = mkdtempSync(join(tmpdir(), 'pyshard-bench-durability-'))
const loadAtStart = loadavg()[0] as number
try {
  const modes: Mode[] = ['none', 'no', 'everysec', 'always']
  const runs: Record<Mode, number[]> = { none: [], no: [], everysec: [], always: [] }
  for (let round = 0; round < 3; round++) for (const m of modes) runs[m].push(await throughput(m, dir))
  const writes = Object.fromEntries(modes.map((m) => [m, Math.round(median(runs[m]))])) as Record<Mode, number>
  console.log('writes/s, 100 in flight:', writes, runs)

  const flush = rawFlush(dir, 300)
  const commit = await durableCommit(join(dir, 'commit'), 300)
  const alwaysBound = Math.round(100 / (commit.mean / 1000))
  console.log(`flush latency (ms): 4 KB write + fdatasync ${JSON.stringify(flush)}, durable lmdb commit of 100 writes ${JSON.stringify(commit)}; ` +
    `always at 100 in flight: at most ${alwaysBound} writes/s (${(alwaysBound / writes.none).toFixed(2)}x of no data dir)`)

  const restartDir = join(dir, 'restart')
  mkdirSync(restartDir)
  const db = await Pyshard.open({ shards: 1, size: 2 ** 40, dataDir: restartDir })
  await fill(db, ENTRIES)
  await db.close()
  const t0 = performance.now()
  const again = await Pyshard.open({ shards: 1, size: 2 ** 40, dataDir: restartDir })
  const restartMs = Math.round(performance.now() - t0)
  const count = (await again.stat())[0]?.count
  await again.close()
  console.log(`restart with ${count} entries: ${restartMs} ms`)

  const self = fileURLToPath(import.meta.url)
  const rss = (mode: 'none' | 'dir'): number => JSON.parse(execFileSync(process.execPath,
    ['--expose-gc', '--import', 'tsx', self, '--rss', mode, '--dir', join(dir, `rss-${mode}`), '--entries', String(ENTRIES)], { encoding: 'utf8' })).perEntry
  const rssNone = Math.round(rss('none'))
  const rssDir = Math.round(rss('dir'))
  console.log(`RSS per entry: ${rssNone} B without a data dir, ${rssDir} B with one`)

  const result = {
    date: new Date().toISOString().slice(0, 10), node: process.version, load: [loadAtStart, loadavg()[0] as number] as [number, number],
    entries: ENTRIES, secondsPerRun: SECONDS,
    writesPerSecond: writes, runs,
    ratios: { no: writes.no / writes.none, everysec: writes.everysec / writes.none, always: writes.always / writes.none },
    restartMs, restartEntries: count, rssPerEntry: { none: rssNone, dataDir: rssDir },
    flushMs: { fdatasync4k: flush, durableCommit100: commit },
    alwaysBound: { writesPerSecond: alwaysBound, ratio: alwaysBound / writes.none },
  }
  writeFileSync(JSON_OUT, `${JSON.stringify(result, null, 2)}\n`)
  writeFileSync(MD_OUT, markdown(result))
  console.log(JSON.stringify(result.ratios))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
