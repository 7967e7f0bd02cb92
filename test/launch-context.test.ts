// Worker shards start whatever way the main script was launched: `--input-type=module -e`, a
// script on stdin, `--eval`, `--import tsx`, a `--require` hook. Each child process runs the
// BUILT package (dist/, imported by file URL), opens 2 worker shards, writes, reads back, closes
// and must exit 0 by itself. (Before, flags such as --input-type reached the workers, which then
// failed to start: SHARD_UNAVAILABLE.)
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { workerExecArgv } from '../transports/worker/index.js'

const dist = pathToFileURL(join(process.cwd(), 'dist/src/index.js')).href

/** Valid as an ES module and as CommonJS (no top-level await, no import statement). */
const SCRIPT = `(async () => {
  const { Pyshard } = await import(${JSON.stringify(dist)});
  const db = await Pyshard.open({ shards: 2, workers: 2, transport: 'worker' });
  await db.createIndex('launch');
  await db.writeMany('launch', [['a', 1], ['b', { two: 2 }], ['c', 'three']]);
  const got = await db.readMany('launch', ['a', 'b', 'c']);
  await db.close();
  console.log('read back ' + JSON.stringify(got.map((e) => e && e.record)) + (globalThis.hooked ? ' hooked' : ''));
})().catch((err) => { console.error(err); process.exitCode = 1; });
`
const EXPECTED = 'read back [1,{"two":2},"three"]'

interface Ctx { dir: string }
const test = suite<Ctx>('worker shards start from any launch context', { dir: '' })

test.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-launch-'))
})

test.after((ctx) => {
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true })
})

function run(args: string[], stdin?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    // A child still running after this long did not end by itself.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
    child.stdin.end(stdin ?? '')
  })
}

async function expectOk(args: string[], stdin?: string, extra = ''): Promise<void> {
  const r = await run(args, stdin)
  assert.is(r.code, 0, r.out)
  assert.match(r.out, EXPECTED + extra)
}

test('node --input-type=module -e "..."', async () => {
  await expectOk(['--input-type=module', '-e', SCRIPT])
})

test('a script piped on stdin (node -, and --input-type=module from stdin)', async () => {
  await expectOk(['-'], SCRIPT)
  await expectOk(['--input-type=module'], SCRIPT)
})

test('node --eval with a dynamic import', async () => {
  await expectOk(['--eval', SCRIPT])
  await expectOk(['--input-type', 'module', '--eval', SCRIPT])
})

test('node --import tsx file.ts', async ({ dir }) => {
  const file = join(dir, 'main.ts')
  writeFileSync(file, `const answer: number = 42;\nvoid answer;\n${SCRIPT}`)
  await expectOk(['--import', 'tsx', file])
})

test('node --require hook.cjs file.mjs (the hook runs in the workers too)', async ({ dir }) => {
  const hook = join(dir, 'hook.cjs')
  writeFileSync(hook, 'globalThis.hooked = true\n')
  const file = join(dir, 'main.mjs')
  writeFileSync(file, SCRIPT)
  await expectOk(['--require', hook, file], undefined, ' hooked')
})

test('workerExecArgv drops only the flags that say how the main script was given', () => {
  assert.equal(workerExecArgv(['--input-type=module', '-e', 'code', '--import', 'tsx']), ['--import', 'tsx'])
  assert.equal(workerExecArgv(['--input-type', 'module', '--eval', 'code', '--require', './h.cjs']), ['--require', './h.cjs'])
  assert.equal(workerExecArgv(['-p', 'code', '--loader', 'x', '--conditions=dev', '-']), ['--loader', 'x', '--conditions=dev'])
  assert.equal(workerExecArgv(['--print=1', '--max-old-space-size=64']), ['--max-old-space-size=64'])
})

test.run()
