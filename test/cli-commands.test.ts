/** pyshard read/pop/remove, index admin, stat, cat into a closed pipe, --help, usage errors, an unreachable cluster. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hashKey } from '../src/index.js'
import { freePort, runCli, spawnCli, startCluster } from './helpers/cli.js'
import type { Cluster } from './helpers/cli.js'

const test = suite<{ cluster: Cluster | null }>('cli: client commands', { cluster: null })

test.before(async (ctx) => {
  ctx.cluster = await startCluster()
  const w = await runCli(['write', 'users', '--force', ...ctx.cluster.bootstrap], { input: 'ada|{"born":1815}\nalan|1912\ngrace|null text\n' })
  assert.is(w.code, 0, w.stderr)
})
test.after(async (ctx) => {
  assert.is(await ctx.cluster?.stop(), 0)
})

const b = (ctx: { cluster: Cluster | null }): string[] => (ctx.cluster as Cluster).bootstrap

test('read prints key|{"hash_":H,"record":R}; a missing key exits 1 with one line', async (ctx) => {
  const r = await runCli(['read', 'users', 'ada', ...b(ctx)])
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, `ada|{"hash_":${hashKey('users', 'ada')},"record":{"born":1815}}\n`)
  const m = await runCli(['read', 'users', 'nobody', ...b(ctx)])
  assert.is(m.code, 1)
  assert.is(m.stdout, '')
  assert.is(m.stderr, 'pyshard read: key "nobody" not found in index "users"\n')
  const idx = await runCli(['read', 'nope', 'ada', ...b(ctx)])
  assert.is(idx.code, 1)
  assert.match(idx.stderr, /^pyshard read: .*INDEX_NOT_FOUND.*\n$/)
})

test('pop prints the entry and removes it; remove is silent, exit 1 when absent', async (ctx) => {
  const p = await runCli(['pop', 'users', 'alan', ...b(ctx)])
  assert.is(p.code, 0, p.stderr)
  assert.is(p.stdout, `alan|{"hash_":${hashKey('users', 'alan')},"record":1912}\n`)
  assert.is((await runCli(['read', 'users', 'alan', ...b(ctx)])).code, 1)
  const r = await runCli(['remove', 'users', 'grace', ...b(ctx)])
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, '')
  const again = await runCli(['remove', 'users', 'grace', ...b(ctx)])
  assert.is(again.code, 1)
  assert.match(again.stderr, /not found/)
})

test('create-index, indexes, drop-index (and their errors)', async (ctx) => {
  assert.is((await runCli(['create-index', 'extra', ...b(ctx)])).code, 0)
  const dup = await runCli(['create-index', 'extra', ...b(ctx)])
  assert.is(dup.code, 1)
  assert.match(dup.stderr, /INDEX_EXISTS/)
  assert.is((await runCli(['create-index', 'extra', '--if-not-exists', ...b(ctx)])).code, 0)
  const list = await runCli(['indexes', ...b(ctx)])
  assert.is(list.code, 0)
  assert.ok(list.stdout.split('\n').includes('extra'))
  assert.ok(list.stdout.split('\n').includes('users'))
  assert.is((await runCli(['drop-index', 'extra', ...b(ctx)])).code, 0)
  const gone = await runCli(['drop-index', 'extra', ...b(ctx)])
  assert.is(gone.code, 1)
  assert.match(gone.stderr, /INDEX_NOT_FOUND/)
})

test('stat --json: one object per shard with name, range, transport, count, bytes, maxSize, distribution', async (ctx) => {
  const s = await runCli(['stat', '--json', ...b(ctx)])
  assert.is(s.code, 0, s.stderr)
  const stats = JSON.parse(s.stdout) as { name: string; start: number; end: number; transport: string; count: number; bytes: number; maxSize: number; distribution: number[] }[]
  assert.equal(stats.map((x) => [x.name, x.start, x.end, x.transport]), [['shard0', 0, 0.5, 'tcp'], ['shard1', 0.5, 1, 'tcp']])
  const count = stats.reduce((n, x) => n + x.count, 0)
  assert.ok(count >= 1)
  for (const x of stats) {
    assert.is(x.distribution.reduce((a, c) => a + c, 0), x.count)
    assert.ok(x.maxSize > 0 && x.bytes >= 0)
  }
  const table = await runCli(['stat', ...b(ctx)])
  assert.is(table.code, 0)
  assert.match(table.stdout, /^shard\s+range\s+transport\s+count\s+bytes of max\s+distribution\n/)
  assert.match(table.stdout, /shard0\s+\[0, 0\.5\)\s+tcp/)
})

test('PYSHARD_BOOTSTRAP is the default cluster address', async (ctx) => {
  const r = await runCli(['indexes'], { env: { PYSHARD_BOOTSTRAP: (ctx.cluster as Cluster).address } })
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /users/)
})

test('cat into a reader that stops early (| head) ends quietly', async (ctx) => {
  const lines: string[] = []
  for (let i = 0; i < 20_000; i++) lines.push(`key${i}|${'x'.repeat(40)}`)
  assert.is((await runCli(['write', 'big', '--force', ...b(ctx)], { input: lines.join('\n') })).code, 0)
  const child = spawnCli(['cat', 'big', ...b(ctx)])
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  child.stdout?.once('data', () => child.stdout?.destroy())
  assert.is(await exited, 0)
  assert.is(stderr, '')
})

test('cat of a missing index exits 1 with one line', async (ctx) => {
  const r = await runCli(['cat', 'no_such_index', ...b(ctx)])
  assert.is(r.code, 1)
  assert.match(r.stderr, /^pyshard cat: .*INDEX_NOT_FOUND\)\n$/)
})

test('an unreachable bootstrap server: exit 1, one line, no stack trace', async () => {
  const port = await freePort()
  for (const args of [['indexes'], ['cat', 'x'], ['write', 'x', '--force'], ['stat', '--json']]) {
    const r = await runCli([...args, '-b', `127.0.0.1:${port}`, '--timeout', '2000'])
    assert.is(r.code, 1, args.join(' '))
    assert.is(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`)
    assert.match(r.stderr, new RegExp(`^pyshard ${args[0]}: cannot reach bootstrap server 127\\.0\\.0\\.1:${port}: `))
    assert.not.match(r.stderr, /\s+at /)
  }
})

test('--help for every command, exit 0', async () => {
  const top = await runCli(['--help'])
  assert.is(top.code, 0)
  const names = ['up', 'shard', 'bootstrap', 'write', 'cat', 'read', 'pop', 'remove', 'indexes', 'create-index', 'drop-index', 'stat']
  for (const name of names) {
    assert.match(top.stdout, new RegExp(`^  ${name} `, 'm'))
    const h = await runCli([name, '--help'])
    assert.is(h.code, 0, name)
    assert.match(h.stdout, new RegExp(`^Usage: pyshard ${name}`), name)
  }
})

test('bad usage exits 2 with one line naming the problem', async () => {
  const cases: [string[], RegExp][] = [
    [[], /^Usage: pyshard/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['write'], /missing INDEX/],
    [['read', 'users'], /missing KEY/],
    [['cat', 'a', 'b'], /unexpected argument "b"/],
    [['cat', 'a', '--nope'], /Unknown option '--nope'/],
    [['indexes', '-b', 'nohostport'], /-b\/--bootstrap must be HOST:PORT/],
    [['indexes', '-b', '127.0.0.1:99999'], /-b\/--bootstrap must be HOST:PORT/],
    [['indexes', '-b', '127.0.0.1:5000', '-c', 'x.json'], /either -b\/--bootstrap or -c\/--config/],
    [['write', 'x', '--batch', '0'], /--batch must be an integer >= 1/],
    [['shard'], /--port is required/],
    [['bootstrap'], /--config is required/],
  ]
  for (const [args, re] of cases) {
    const r = await runCli(args)
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(args.length === 0 ? r.stdout : r.stderr, re, args.join(' '))
    if (args.length > 0) assert.is(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`)
  }
  const env = await runCli(['indexes'], { env: { PYSHARD_BOOTSTRAP: 'garbage' } })
  assert.is(env.code, 2)
  assert.match(env.stderr, /PYSHARD_BOOTSTRAP must be HOST:PORT/)
})

test('-c FILE opens a config directly; a bad config exits 1 naming the problem', async (ctx) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-cli-c-'))
  try {
    // The running cluster's own config: the client talks to its shard servers directly.
    const good = join((ctx.cluster as Cluster).dir, 'cluster.json')
    const s = await runCli(['read', 'users', 'ada', '-c', good])
    assert.is(s.code, 0, s.stderr)
    assert.match(s.stdout, '"record":{"born":1815}')
    // Regression: shards that live only inside the command would silently lose what it writes.
    const mem = join(dir, 'mem.json')
    writeFileSync(mem, JSON.stringify({ transport: 'memory', shards: [{ name: 'a' }, { name: 'b' }] }))
    const m = await runCli(['write', 'x', '--force', '-c', mem], { input: 'k|1\n' })
    assert.is(m.code, 1)
    assert.match(m.stderr, /shard "a" has transport "memory", which lives only inside this command/)
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, JSON.stringify({ shards: [{ name: 'a', start: 0, end: 0.4 }, { name: 'b', start: 0.5, end: 1 }] }))
    const r = await runCli(['indexes', '-c', bad])
    assert.is(r.code, 1)
    assert.match(r.stderr, /^pyshard indexes: cannot open config .*gap between 0\.4.*BAD_CONFIG\)\n$/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
