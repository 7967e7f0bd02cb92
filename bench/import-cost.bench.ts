/**
 * What `import 'pyshard'` costs, against `import 'lru-cache'`, same run: each
 * sample is a fresh Node process that times one `await import()` of the
 * package (ESM) or one `require()` (CJS) and exits. Cases alternate within a
 * round so a slow phase of the machine hits them alike; the figure is the
 * median over rounds. The build is measured (dist/), built first unless
 * BENCH_NO_BUILD=1.
 *
 *   node --import tsx bench/import-cost.bench.ts [rounds] [--before=DIR] [--before-label=NAME]
 *
 * `--before=DIR` adds the build in DIR (a checkout of an earlier commit with its
 * own dist/) as one more case, for a before/after in the same run; NAME (say, the
 * commit) names it in the table.
 */
import { spawnSync } from 'node:child_process'
import { writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { median, machine, RESULTS } from './lib.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const ROUNDS = Number(args.find((a) => /^\d+$/.test(a)) ?? 21)
const before = args.find((a) => a.startsWith('--before='))?.slice('--before='.length)
const beforeLabel = args.find((a) => a.startsWith('--before-label='))?.slice('--before-label='.length) ?? 'before'

if (process.env.BENCH_NO_BUILD !== '1') {
  console.log('building (tsup)...')
  if (spawnSync('npx', ['tsup', '--silent'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('build failed')
}

const requireHere = createRequire(import.meta.url)
interface Case { name: string; esm: string; cjs: string }
const cases: Case[] = [
  {
    name: 'lru-cache',
    esm: import.meta.resolve('lru-cache'),
    cjs: requireHere.resolve('lru-cache'),
  },
  {
    name: 'pyshard',
    esm: pathToFileURL(join(ROOT, 'dist/src/index.js')).href,
    cjs: join(ROOT, 'dist/src/index.cjs'),
  },
]
if (before !== undefined) {
  const dir = resolve(before)
  if (!existsSync(join(dir, 'dist/src/index.js'))) throw new Error(`--before: ${dir}/dist/src/index.js is missing (build it there first)`)
  cases.push({ name: `pyshard (${beforeLabel})`, esm: pathToFileURL(join(dir, 'dist/src/index.js')).href, cjs: join(dir, 'dist/src/index.cjs') })
}

// The child writes with fs.writeSync: touching process.stdout would load `net` for a pipe.
// CPU time (this process, all threads) beside wall time: on a loaded machine it moves less.
const TIMED = (load: string): string =>
  `const c = process.cpuUsage(); const t = performance.now(); ${load}; const ms = performance.now() - t; const u = process.cpuUsage(c); ` +
  'WRITE(1, ms + " " + (u.user + u.system) / 1000)'
const ESM_PROBE = TIMED('await import(process.argv[1])').replace('WRITE', '(await import("node:fs")).writeSync')
const CJS_PROBE = TIMED('require(process.argv[1])').replace('WRITE', 'require("node:fs").writeSync')
/** Nothing imported: what a fresh process costs before any package, for the wall-time column. */
const EMPTY_PROBE = 'require("node:fs").writeSync(1, "0 0")'

interface Sample { importMs: number; cpuMs: number; wallMs: number }

function sample(kind: 'esm' | 'cjs' | 'none', target: string): Sample {
  const argv = kind === 'esm' ? ['--input-type=module', '-e', ESM_PROBE, target] : ['-e', kind === 'cjs' ? CJS_PROBE : EMPTY_PROBE, target]
  const t = performance.now()
  const r = spawnSync(process.execPath, argv, { cwd: ROOT, encoding: 'utf8' })
  const wallMs = performance.now() - t
  if (r.status !== 0) throw new Error(`probe of ${target} exited ${r.status}: ${r.stderr}`)
  const [importMs, cpuMs] = r.stdout.split(' ').map(Number) as [number, number]
  return { importMs, cpuMs, wallMs }
}

const results: Record<string, { esm: Sample[]; cjs: Sample[] }> = {}
for (const c of cases) results[c.name] = { esm: [], cjs: [] }
const empty: Sample[] = []
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order each round so no case always runs first.
  const order = cases.map((_, i) => cases[(i + round) % cases.length] as Case)
  for (const c of order) {
    const r = results[c.name] as { esm: Sample[]; cjs: Sample[] }
    r.esm.push(sample('esm', c.esm))
    r.cjs.push(sample('cjs', c.cjs))
  }
  empty.push(sample('none', ''))
}

const med = (xs: Sample[], f: keyof Sample): number => Math.round(median(xs.map((x) => x[f])) * 10) / 10
interface Figures { esmImportMs: number; esmCpuMs: number; esmWallMs: number; cjsRequireMs: number; cjsCpuMs: number; cjsWallMs: number; allEsmImportMs: number[] }
const summary: Record<string, Figures> = Object.fromEntries(cases.map((c) => {
  const r = results[c.name] as { esm: Sample[]; cjs: Sample[] }
  return [c.name, {
    esmImportMs: med(r.esm, 'importMs'), esmCpuMs: med(r.esm, 'cpuMs'), esmWallMs: med(r.esm, 'wallMs'),
    cjsRequireMs: med(r.cjs, 'importMs'), cjsCpuMs: med(r.cjs, 'cpuMs'), cjsWallMs: med(r.cjs, 'wallMs'),
    allEsmImportMs: r.esm.map((x) => Math.round(x.importMs * 10) / 10),
  }]
}))
const lru = summary['lru-cache'] as Figures
type Figure = 'esmImportMs' | 'esmCpuMs' | 'cjsRequireMs'
const ratio = (name: string, f: Figure): number => Math.round(((summary[name] as Figures)[f] / lru[f]) * 100) / 100
const out = {
  date: new Date().toISOString(),
  machine: machine(),
  rounds: ROUNDS,
  note: 'each sample a fresh node process; importMs = one await import() (ESM) or require() (CJS) timed inside it, cpuMs = the process CPU time (all threads) over it; wallMs = spawn to exit; medians over rounds, cases alternating',
  emptyProcessWallMs: med(empty, 'wallMs'),
  cases: summary,
  ratios: Object.fromEntries(cases.filter((c) => c.name !== 'lru-cache').map((c) => [c.name, { esm: ratio(c.name, 'esmImportMs'), esmCpu: ratio(c.name, 'esmCpuMs'), cjs: ratio(c.name, 'cjsRequireMs') }])),
  target: 'pyshard ESM import at most 2x lru-cache',
}
mkdirSync(RESULTS, { recursive: true })
writeFileSync(join(RESULTS, 'import-cost.json'), `${JSON.stringify(out, null, 2)}\n`)

const rows = cases.map((c) => {
  const s = summary[c.name] as Figures
  const x = (f: Figure, bold = false): string => (c.name === 'lru-cache' ? '1.00x' : bold ? `**${ratio(c.name, f).toFixed(2)}x**` : `${ratio(c.name, f).toFixed(2)}x`)
  return `| ${c.name} | ${s.esmImportMs} | ${x('esmImportMs', true)} | ${s.esmCpuMs} | ${x('esmCpuMs')} | ${s.esmWallMs} | ${s.cjsRequireMs} | ${x('cjsRequireMs')} | ${s.cjsWallMs} |`
})
const md = `# Import cost (bench/import-cost.bench.ts)

Measured ${out.date.slice(0, 10)} on ${out.machine}. Each sample is a fresh Node process that imports one package
and exits; median of ${ROUNDS} rounds, cases alternating within a round. A process that imports nothing takes
${out.emptyProcessWallMs} ms from spawn to exit.

| package | ESM import (ms) | vs lru-cache | its CPU time (ms) | vs lru-cache | process wall (ms) | CJS require (ms) | vs lru-cache | process wall (ms) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

- target: importing pyshard costs at most 2x lru-cache (ESM, same run); what it loads is pinned by test/import-cost.test.ts
`
writeFileSync(join(RESULTS, 'import-cost.md'), md)
console.log(md)
