/**
 * A CPU-heavy processor (`score` in test/helpers/worker-processors.ts: a dot
 * product and a string hash per document, `rounds` times) over 100k documents:
 * SHARDS worker shards against SHARDS memory shards, same run. Memory shards
 * run one after another on this thread; worker shards run in parallel, one
 * thread per worker.
 *
 * Knobs (flag or env): --shards N / BENCH_SHARDS (default 4), --workers N /
 * BENCH_WORKERS (default: the transport's, one per shard up to the cores),
 * --docs N / BENCH_DOCS (default 100000), --rounds N / BENCH_ROUNDS (work per
 * document, default 20), --runs N / BENCH_RUNS (interleaved runs of each, default 9).
 *
 *   node --import tsx bench/processors.bench.ts --shards 16 --workers 16
 */
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { Pyshard } from '../src/index.js'
import type { Json } from '../src/index.js'
import { machine, runSuite, writeReport, median } from './lib.js'

const { values: flags } = parseArgs({
  options: {
    shards: { type: 'string' }, workers: { type: 'string' }, docs: { type: 'string' }, rounds: { type: 'string' }, runs: { type: 'string' },
  },
})
const knob = (flag: string | undefined, env: string, fallback: number | undefined): number | undefined => {
  const raw = flag ?? process.env[env]
  if (raw === undefined) return fallback
  const v = Number(raw)
  if (!(Number.isSafeInteger(v) && v > 0)) throw new TypeError(`${env} must be a positive integer, got ${raw}`)
  return v
}
const SHARDS = knob(flags.shards, 'BENCH_SHARDS', 4) as number
const WORKERS = knob(flags.workers, 'BENCH_WORKERS', undefined)
const DOCS = knob(flags.docs, 'BENCH_DOCS', 100_000) as number
const ROUNDS = knob(flags.rounds, 'BENCH_ROUNDS', 20) as number
const RUNS = knob(flags.runs, 'BENCH_RUNS', 9) as number
const processors = 'test/helpers/worker-processors.ts'

const docs: [string, Json][] = Array.from({ length: DOCS }, (_, i) => [
  `doc-${String(i).padStart(12, '0')}`,
  { v: Array.from({ length: 8 }, (_, j) => ((i * 31 + j * 7) % 101) / 10), label: `label-${i % 9973}` },
])
const args = { q: [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4], rounds: ROUNDS, top: 5 }

async function open(transport: 'memory' | 'worker'): Promise<Pyshard> {
  const db = await Pyshard.open({ shards: SHARDS, transport, processors, ...(transport === 'worker' && WORKERS ? { workers: WORKERS } : {}) })
  await db.createIndex('docs')
  for (let i = 0; i < DOCS; i += 5000) await db.writeMany('docs', docs.slice(i, i + 5000))
  return db
}
const memory = await open('memory')
const worker = await open('worker')
const workers = WORKERS ?? Math.min(SHARDS, availableParallelism())

let sink = 0
const run = (db: Pyshard) => async (): Promise<void> => {
  const results = (await db.run('docs', 'score', args)) as { count: number }[]
  for (const r of results) sink += r.count
}
const cases = [
  { name: `${SHARDS} memory shards (this thread)`, opsPerCall: 1, fn: run(memory) },
  { name: `${SHARDS} worker shards on ${workers} workers`, opsPerCall: 1, fn: run(worker) },
]
const results = await runSuite('processors', `score over ${DOCS} docs: worker vs memory shards`, cases, { maxTime: 3, minSamples: 5 })

// Interleaved runs, medians: the fair comparison on a machine whose speed drifts.
const times = cases.map(() => [] as number[])
for (let i = 0; i < RUNS; i++) {
  for (let c = 0; c < cases.length; c++) {
    const t = performance.now()
    await (cases[c] as (typeof cases)[number]).fn()
    ;(times[c] as number[]).push(performance.now() - t)
  }
}
const medians = times.map(median)
await memory.close()
await worker.close()
if (sink === 42) console.log('')

const [memMs, workerMs] = medians as [number, number]
const ratio = memMs / workerMs
const bennyRatio = (results[1]?.opsPerSec ?? Number.NaN) / (results[0]?.opsPerSec ?? Number.NaN)
const cores = availableParallelism()
const notes = [
  `worker shards are **${ratio.toFixed(2)}x** faster than memory shards (interleaved medians; benny: ${bennyRatio.toFixed(2)}x) on **${cores} cores** (target ≥ 1.7x on 2 cores; scales with cores)`,
  `${DOCS.toLocaleString('en-US')} documents of 8 numbers and a label, ${ROUNDS} rounds of work per document; ${SHARDS} shards; ${machine()}`,
]
writeReport('processors', `Processors: ${SHARDS} worker shards vs ${SHARDS} memory shards (same run)`,
  ['case', 'ms per run (interleaved median)', 'runs/s (benny)', 'benny ± %'],
  cases.map((c, i) => [c.name, Math.round(medians[i] as number), results[i]?.callsPerSec ?? Number.NaN, results[i]?.margin ?? Number.NaN]),
  notes, { ratio, bennyRatio, cores, shards: SHARDS, workers, docs: DOCS, rounds: ROUNDS })
for (const n of notes) console.log(n.replaceAll('**', ''))
