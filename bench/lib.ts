/**
 * Shared bench plumbing: run a benny suite with short cases, save JSON + chart
 * to bench/results/, and write the figures as a markdown table beside them
 * (benny's chart loads Chart.js from a CDN; the table reads anywhere).
 */
import b from 'benny'
import { writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import os from 'node:os'

export const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results')

export interface Case {
  name: string
  /** Operations one call of `fn` performs (a call may do a batch), to report per-operation rates. */
  opsPerCall: number
  fn: () => unknown
}

export interface CaseResult { name: string; opsPerSec: number; callsPerSec: number; margin: number; samples: number }

/** Options for a suite; short by default so the whole bench set stays within minutes. */
export interface SuiteOptions { maxTime?: number; minSamples?: number }

/** Runs the cases side by side in this process; returns per-operation rates. */
export async function runSuite(file: string, title: string, cases: Case[], options: SuiteOptions = {}): Promise<CaseResult[]> {
  mkdirSync(RESULTS, { recursive: true })
  const config = { maxTime: options.maxTime ?? 2, minSamples: options.minSamples ?? 5 }
  const summary = await b.suite(
    title,
    ...cases.map((c) => b.add(c.name, c.fn, config)),
    b.cycle(),
    b.complete(),
    b.save({ file, folder: RESULTS, format: 'json', details: false }),
    b.save({ file, folder: RESULTS, format: 'chart.html' }),
  )
  return summary.results.map((r, i) => {
    const per = (cases[i] as Case).opsPerCall
    return { name: r.name, callsPerSec: r.ops, opsPerSec: r.ops * per, margin: r.margin, samples: r.samples }
  })
}

export function machine(): string {
  return `${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), Node ${process.version}`
}

/** Writes `bench/results/<file>.md` (and `<file>.summary.json`) with a table and notes. */
export function writeReport(file: string, title: string, header: string[], rows: (string | number)[][], notes: string[] = [], extra: Record<string, unknown> = {}): void {
  mkdirSync(RESULTS, { recursive: true })
  const fmt = (v: string | number): string => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2)) : v)
  const lines = [
    `# ${title}`, '', `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}.`, '',
    `| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`), '', ...notes.map((n) => `- ${n}`), '',
  ]
  writeFileSync(join(RESULTS, `${file}.md`), lines.join('\n'))
  writeFileSync(join(RESULTS, `${file}.summary.json`), JSON.stringify({ title, machine: machine(), date: new Date().toISOString(), header, rows, notes, ...extra }, null, 2) + '\n')
}

/**
 * Fixed-width keys and values, built outside the timed part. Keys are flat
 * strings, as keys read from a socket or a file are (a template literal would
 * make V8 cons strings, which every string-walking step pays for).
 */
export function workload(n: number, keyBytes = 16, valueBytes = 100): { keys: string[]; value: string } {
  const keys = Array.from({ length: n }, (_, i) => Buffer.from(`key-${String(i).padStart(keyBytes - 4, '0')}`, 'latin1').toString('latin1'))
  return { keys, value: 'v'.repeat(valueBytes) }
}

type Pkg = typeof import('../src/index.js') & typeof import('../transports/tcp/servers.js')
const distEntry = new URL('../dist/src/index.js', import.meta.url)
const distServer = new URL('../dist/transports/tcp/servers.js', import.meta.url)

/** True when the suites measure the build (see `loadPyshard`). */
export const measuresBuild = process.env.BENCH_SRC !== '1' && existsSync(fileURLToPath(distEntry))

/**
 * The package under test: the build (dist/, what users run; `npm run build` first)
 * when it exists, else the sources through tsx, which are slower (tsx wraps every
 * closure with a naming helper). BENCH_SRC=1 forces the sources.
 */
export async function loadPyshard(): Promise<Pkg> {
  const [core, servers] = measuresBuild
    ? await Promise.all([import(distEntry.href), import(distServer.href)])
    : await Promise.all([import('../src/index.js'), import('../transports/tcp/servers.js')])
  return { ...core, ...servers } as Pkg
}

/** A line for a report saying which code was measured. */
export function measuredFrom(): string {
  return `pyshard measured from ${measuresBuild ? 'the build (dist/)' : 'the sources through tsx'}`
}

/** The median of `xs` (the upper one for an even count); `xs` is not changed. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1] as number
}
