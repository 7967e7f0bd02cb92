/** pyshard write: bad lines, --strict, --force, batching, and Ctrl-C losing nothing acknowledged. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseCat, runCli, spawnCli, startCluster } from './helpers/cli.js'
import type { Cluster } from './helpers/cli.js'

const test = suite<{ cluster: Cluster | null }>('cli: pyshard write', { cluster: null })

test.before(async (ctx) => {
  ctx.cluster = await startCluster()
})
test.after(async (ctx) => {
  assert.is(await ctx.cluster?.stop(), 0)
})

const b = (ctx: { cluster: Cluster | null }): string[] => (ctx.cluster as Cluster).bootstrap

async function catKeys(ctx: { cluster: Cluster | null }, index: string): Promise<Map<string, { hash_: number; record: unknown }>> {
  const c = await runCli(['cat', index, ...b(ctx)])
  assert.is(c.code, 0, c.stderr)
  return parseCat(c.stdout)
}

test('bad lines are reported with their line numbers and skipped; the good ones are written; exit 1', async (ctx) => {
  const input = ['a|1', 'no separator', 'b|two', '|empty key', 'c|{"broken": ', 'd|[1,2', 'e|x|y', '', 'f|{"ok":[1]}'].join('\n')
  const w = await runCli(['write', 'bad_lines', '--force', ...b(ctx)], { input })
  assert.is(w.code, 1)
  const errors = w.stderr.trimEnd().split('\n')
  assert.match(errors[0] as string, /^pyshard write: line 2: no "\|"/)
  assert.match(errors[1] as string, /^pyshard write: line 4: empty key/)
  assert.match(errors[2] as string, /^pyshard write: line 5: value starts like an object but is not valid JSON/)
  assert.match(errors[3] as string, /^pyshard write: line 6: value starts like an array but is not valid JSON/)
  assert.match(errors[4] as string, /4 written, 0 failed, 4 skipped/)
  assert.is(errors.length, 5)
  const got = await catKeys(ctx, 'bad_lines')
  assert.equal([...got.keys()].sort(), ['a', 'b', 'e', 'f'])
  assert.is(got.get('e')?.record, 'x|y', 'the first | splits')
  assert.equal(got.get('f')?.record, { ok: [1] })
})

test('--strict stops at the first bad line: lines before it are written, none after', async (ctx) => {
  const input = 'a|1\nb|2\nbroken line\nc|3\nd|4\n'
  const w = await runCli(['write', 'strict', '--force', '--strict', ...b(ctx)], { input })
  assert.is(w.code, 1)
  assert.match(w.stderr, /line 3: no "\|"/)
  assert.match(w.stderr, /2 written, 0 failed, 1 skipped; stopped at line 3 \(--strict\)/)
  assert.equal([...(await catKeys(ctx, 'strict')).keys()].sort(), ['a', 'b'])
})

test('without --force a missing index fails with one line naming it; with --force it is created', async (ctx) => {
  const w = await runCli(['write', 'missing', ...b(ctx)], { input: 'a|1\n' })
  assert.is(w.code, 1)
  assert.is(w.stderr, 'pyshard write: index "missing" does not exist (create it with pyshard create-index, or pass --force)\n')
  const f = await runCli(['write', 'missing', '--force', ...b(ctx)], { input: 'a|1' })
  assert.is(f.code, 0, f.stderr)
  assert.is((await catKeys(ctx, 'missing')).get('a')?.record, 1, 'a last line without a line break is written')
})

test('many lines over several small batches, CRLF input, upserts', async (ctx) => {
  const lines: string[] = []
  for (let i = 0; i < 5000; i++) lines.push(`k${i}|${i % 3 === 0 ? `{"i":${i}}` : i % 3 === 1 ? String(i) : `v${i}`}`)
  lines.push('k0|replaced')
  const w = await runCli(['write', 'many', '--force', '--batch', '64', '--in-flight', '3', ...b(ctx)], { input: lines.join('\r\n') + '\r\n' })
  assert.is(w.code, 0, w.stderr)
  assert.match(w.stderr, /5001 written, 0 failed, 0 skipped/)
  const got = await catKeys(ctx, 'many')
  assert.is(got.size, 5000)
  assert.is(got.get('k0')?.record, 'replaced')
  assert.equal(got.get('k3')?.record, { i: 3 })
  assert.is(got.get('k4')?.record, 4)
  assert.is(got.get('k5')?.record, 'v5')
})

test('SIGINT: stops reading, finishes what is in flight, prints the summary; every acknowledged line is stored', async (ctx) => {
  const child = spawnCli(['write', 'interrupted', '--force', '--batch', '1', ...b(ctx)])
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  for (let i = 0; i < 10; i++) child.stdin?.write(`k${i}|${i}\n`)
  // Wait until the last line is stored, so the run is mid-input (stdin still open) when interrupted.
  for (let tries = 0; ; tries++) {
    const r = await runCli(['read', 'interrupted', 'k9', ...b(ctx)])
    if (r.code === 0) break
    if (tries > 200) throw new Error(`k9 never arrived: ${r.stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  child.kill('SIGINT')
  const code = await exited
  child.stdin?.destroy()
  assert.is(code, 1, 'an interrupted write did not write all its input')
  assert.match(stderr, /10 written, 0 failed, 0 skipped; interrupted after line 10/)
  assert.is((await catKeys(ctx, 'interrupted')).size, 10)
})

test('write summary counts exactly what was stored after a batch partly failed SHARD_FULL, and says how many failed and why', async () => {
  const small = await startCluster({ size: 4096 })
  try {
    const lines: string[] = []
    for (let i = 0; i < 2000; i++) lines.push(`key${i}|${'v'.repeat(20)}`)
    const w = await runCli(['write', 'full', '--force', '--batch', '50', '--in-flight', '1', '--json', ...small.bootstrap], { input: lines.join('\n') })
    assert.is(w.code, 1)
    assert.match(w.stderr, /^pyshard write: lines \d+-\d+: \d+ of 50 writes failed; first: .*SHARD_FULL\)$/m)
    const m = /(\d+) written, (\d+) failed \((\d+) SHARD_FULL\), 0 skipped/.exec(w.stderr)
    assert.ok(m, w.stderr)
    const [written, failed, full] = [Number(m[1]), Number(m[2]), Number(m[3])]
    assert.ok(written > 0 && written < 2000, w.stderr)
    assert.ok(failed > 0 && failed === full, w.stderr)
    // Nothing after the failed batch was sent: every line is written, failed or never sent.
    assert.ok(written + failed <= 2000 && (written + failed) % 50 === 0, w.stderr)
    assert.equal(JSON.parse(w.stdout), { written, failed, failures: { SHARD_FULL: failed }, skipped: 0, lines: JSON.parse(w.stdout).lines, interrupted: false })
    const c = await runCli(['cat', 'full', ...small.bootstrap])
    // Exactly: each write of a failed batch is acknowledged or refused on its own.
    assert.is(parseCat(c.stdout).size, written, `${parseCat(c.stdout).size} stored, ${written} reported written`)
  } finally {
    assert.is(await small.stop(), 0)
  }
})

test.run()
