/**
 * How worker shards scale with cores: a script (not a benny suite) meant for a
 * machine with many cores, measuring the built package (dist/, `npm run build`
 * first) so it needs nothing but Node and msgpackr there.
 *
 * For each N in --counts (default 1,2,4,8,16 up to the cores):
 * - processors: the CPU-heavy `score` processor over --docs documents split over
 *   N worker shards (N workers, or --workers) against N memory shards (run one after another
 *   on the main thread); median of --runs runs each, interleaved;
 * - throughput: reads with 256 in flight per shard over N worker shards, for
 *   --seconds seconds.
 * Prints one JSON object (and writes it to --out when given). It imports nothing
 * from bench/lib.ts (which loads benny) so that it can run as one plain file.
 *
 *   npm run build && node --import tsx bench/scaling.ts --counts 1,2 --docs 50000
 */
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

const { values: flags } = parseArgs({
  options: {
    counts: { type: 'string' }, docs: { type: 'string' }, runs: { type: 'string' }, seconds: { type: 'string' },
    rounds: { type: 'string' }, out: { type: 'string' }, processors: { type: 'string' }, workers: { type: 'string' },
  },
})
const cores = availableParallelism()
const counts = flags.counts ? flags.counts.split(',').map(Number) : [1, 2, 4, 8, 16].filter((n) => n <= cores)
/** Workers for N worker shards: --workers, else one per shard. */
const workersFor = (n: number): number => Math.min(n, Number(flags.workers ?? n))
const DOCS = Number(flags.docs ?? 400_000)
const RUNS = Number(flags.runs ?? 5)
const SECONDS = Number(flags.seconds ?? 2)
const ROUNDS = Number(flags.rounds ?? 20)
const processors = flags.processors ?? 'test/helpers/worker-processors.ts'

const { Pyshard } = (await import(new URL('../dist/src/index.js', import.meta.url).href)) as typeof import('../src/index.js')
type Store = Awaited<ReturnType<typeof Pyshard.open>>

const docs = Array.from({ length: DOCS }, (_, i): [string, { v: number[]; label: string }] => [
  `doc-${String(i).padStart(12, '0')}`,
  { v: Array.from({ length: 8 }, (_, j) => ((i * 31 + j * 7) % 101) / 10), label: `label-${i % 9973}` },
])
const args = { q: [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4], rounds: ROUNDS, top: 5 }

async function open(transport: 'memory' | 'worker', shards: number): Promise<Store> {
  const db = await Pyshard.open({ shards, transport, processors, size: 2 ** 31, ...(transport === 'worker' ? { workers: workersFor(shards) } : {}) })
  await db.createIndex('docs')
  for (let i = 0; i < DOCS; i += 10_000) await db.writeMany('docs', docs.slice(i, i + 10_000))
  return db
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function timeRun(db: Store): Promise<number> {
  const t = performance.now()
  const results = (await db.run('docs', 'score', args)) as { count: number }[]
  const ms = performance.now() - t
  if (results.reduce((a, r) => a + r.count, 0) !== DOCS) throw new Error('processor saw the wrong number of documents')
  return ms
}

async function throughput(db: Store, shards: number): Promise<number> {
  const keys = docs.map(([k]) => k)
  const inFlight = 256 * shards
  let done = 0
  let i = 0
  const until = performance.now() + SECONDS * 1000
  while (performance.now() < until) {
    const batch: Promise<unknown>[] = []
    for (let j = 0; j < inFlight; j++) batch.push(db.read('docs', keys[(i++ * 7919) % keys.length] as string))
    await Promise.all(batch)
    done += inFlight
  }
  return done / SECONDS
}

const rows: Record<string, number>[] = []
for (const n of counts) {
  const memory = await open('memory', n)
  const worker = await open('worker', n)
  const mem: number[] = []
  const wrk: number[] = []
  await timeRun(memory)
  await timeRun(worker) // warm both
  for (let r = 0; r < RUNS; r++) {
    mem.push(await timeRun(memory))
    wrk.push(await timeRun(worker))
  }
  const readsPerSec = await throughput(worker, n)
  await memory.close()
  await worker.close()
  const row = { shards: n, workers: workersFor(n), memoryMs: median(mem), workerMs: median(wrk), speedup: median(mem) / median(wrk), workerReadsPerSec: Math.round(readsPerSec) }
  rows.push(row)
  console.error(JSON.stringify(row))
}
const result = { cores, node: process.version, docs: DOCS, rounds: ROUNDS, runs: RUNS, rows }
if (flags.out) writeFileSync(flags.out, JSON.stringify(result, null, 2) + '\n')
console.log(JSON.stringify(result))
