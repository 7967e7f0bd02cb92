/**
 * `npm run bench`: runs every bench/*.bench.ts (or those matching argv[2]) one
 * after another in its own process, then gathers the markdown tables each
 * writes into bench/results/README.md.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RESULTS } from './lib.js'

const here = dirname(fileURLToPath(import.meta.url))
// `--report` only gathers the tables already in bench/results/ into its README.
const reportOnly = process.argv[2] === '--report'
const only = process.argv[2] && !reportOnly ? new RegExp(process.argv[2]) : null
const suites = reportOnly ? [] : readdirSync(here).filter((f) => f.endsWith('.bench.ts') && (!only || only.test(f))).sort()
let failed = 0
for (const file of suites) {
  console.log(`\n=== ${file}`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, file)], { stdio: 'inherit' })
  if (r.status !== 0) {
    failed++
    console.log(`${file} failed (exit ${r.status})`)
  }
}
const tables = readdirSync(RESULTS).filter((f) => f.endsWith('.md') && f !== 'README.md').sort()
const body = tables.map((f) => readFileSync(join(RESULTS, f), 'utf8').replace(/^# /, '## ')).join('\n')
writeFileSync(join(RESULTS, 'README.md'), `# Benchmark results\n\nWritten by \`npm run bench\` (each suite also saves benny JSON and a chart HTML here).\nThis shared 2-core machine flips between fast and slow states: compare figures only within one table (one run).\n\n${body}`)
process.exit(failed > 0 ? 1 : 0)
