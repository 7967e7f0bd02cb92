#!/usr/bin/env node
// `npm test`: type-check, lint, build, then every uvu suite (test/**/*.test.ts), each file in
// its own process so one hung or crashed file cannot hide the others' results, then keyv's
// compliance suite under vitest (test/keyv/*.vitest.ts; it is written for vitest).
// Prints one closing line `N passed, N failed, N skipped` and fails when no test ran.
import { spawnSync, spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
// `node scripts/test.mjs REGEX` builds and runs only the matching test files (no type-check, no lint).
const only = process.argv[2] ? new RegExp(process.argv[2]) : null
const FILE_TIMEOUT_MS = 5 * 60_000

function step(name, cmd, args) {
  process.stdout.write(`> ${name}\n`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    console.log(`\n${name} failed`)
    console.log('0 passed, 1 failed')
    process.exit(1)
  }
}

function findTests(dir) {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...findTests(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' },
    })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    const timer = setTimeout(() => { out += `\n[test runner] ${file} ran over ${FILE_TIMEOUT_MS / 1000}s: killed\n`; child.kill('SIGKILL') }, FILE_TIMEOUT_MS)
    child.on('close', (code) => {
      clearTimeout(timer)
      // uvu prints a summary per run; a file whose suites run in several rounds prints several: add them up.
      const sum = (re) => [...out.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0)
      const total = sum(/Total:\s+(\d+)/g)
      const passed = sum(/Passed:\s+(\d+)/g)
      const skipped = sum(/Skipped:\s+(\d+)/g)
      resolve({ file, code, out, total, passed, skipped })
    })
  })
}

if (!only) {
  step('typecheck', 'npx', ['tsc', '--noEmit', '-p', '.'])
  step('lint', 'npx', ['oxlint', '--deny-warnings', 'src', 'transports', 'test', 'bench', 'examples', 'scripts'])
}
// Always build: the CLI and package tests run the build, and a stale dist/ would test old code.
step('build', 'npx', ['tsup', '--silent'])

const files = findTests(join(root, 'test')).filter((f) => !only || only.test(relative(root, f)))
let passed = 0, failed = 0, skipped = 0
for (const file of files) {
  const rel = relative(root, file)
  const r = await runFile(file)
  // uvu's Total excludes skipped tests. A file that ran nothing and skipped nothing, or exited non-zero, failed.
  const fileFailed = r.code !== 0 || r.total + r.skipped === 0 ? Math.max(1, r.total - r.passed) : r.total - r.passed
  passed += r.passed
  skipped += r.skipped
  failed += fileFailed
  const status = fileFailed > 0 ? 'FAIL' : 'ok  '
  console.log(`${status} ${rel}  (${r.passed}/${r.total} passed${r.skipped ? `, ${r.skipped} skipped` : ''})`)
  // uvu's own lines: skipped suites print their reason with "SKIP" (see test/helpers).
  for (const line of r.out.split('\n')) if (/^\s*SKIP/.test(line)) console.log(`     ${line.trim()}`)
  if (fileFailed > 0) console.log(r.out.split('\n').map((l) => `     | ${l}`).join('\n'))
}
// keyv's compliance suite: counted with the rest from vitest's JSON report.
const VITEST_FILE = 'test/keyv/keyv-store.vitest.ts'
if (!only || only.test(VITEST_FILE)) {
  const r = spawnSync('npx', ['vitest', 'run', '--config', 'test/keyv/vitest.config.ts', '--root', '.', '--reporter=json'], {
    cwd: root, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, timeout: FILE_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024,
  })
  let report = null
  try {
    report = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')))
  } catch {
    // no report: counted as one failure below
  }
  const p = report?.numPassedTests ?? 0
  const f = report === null ? 1 : report.numFailedTests + (report.numFailedTestSuites ?? 0) + (r.status !== 0 && report.numFailedTests === 0 ? 1 : 0)
  const s = (report?.numPendingTests ?? 0) + (report?.numTodoTests ?? 0)
  passed += p
  failed += f
  skipped += s
  console.log(`${f > 0 ? 'FAIL' : 'ok  '} ${VITEST_FILE} (vitest)  (${p}/${p + f} passed${s ? `, ${s} skipped` : ''})`)
  if (f > 0) {
    const failures = (report?.testResults ?? []).flatMap((t) => [t.message, ...t.assertionResults.filter((a) => a.status === 'failed').map((a) => `${a.fullName}: ${a.failureMessages.join('\n')}`)]).filter(Boolean)
    console.log([...failures, r.stderr].join('\n').split('\n').map((l) => `     | ${l}`).join('\n'))
  }
}

if (passed + failed === 0) {
  console.log('no test ran')
  console.log('0 passed, 1 failed')
  process.exit(1)
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed > 0 ? 1 : 0)
