/** The seed's CLI session, word for word: up, write with --force, cat. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hashKey } from '../src/index.js'
import { parseCat, runCli, startCluster } from './helpers/cli.js'
import type { Cluster } from './helpers/cli.js'

const test = suite<{ cluster: Cluster | null }>('cli: the seed session (up, write --force, cat)', { cluster: null })

test.before(async (ctx) => {
  ctx.cluster = await startCluster()
})
test.after(async (ctx) => {
  const code = await ctx.cluster?.stop()
  assert.is(code, 0, `pyshard up exits 0 on SIGINT; it printed:\n${ctx.cluster?.output()}`)
})

test('up prints the map: names, ranges, addresses', ({ cluster }) => {
  const out = (cluster as Cluster).output()
  assert.match(out, /shard0\s+\[0, 0\.5\)\s+tcp\s+127\.0\.0\.1:\d+/)
  assert.match(out, /shard1\s+\[0\.5, 1\)\s+tcp\s+127\.0\.0\.1:\d+/)
  assert.match(out, `bootstrap server on ${(cluster as Cluster).address}`)
})

test('printf ... | pyshard write test_index --force, then pyshard cat test_index', async ({ cluster }) => {
  const b = (cluster as Cluster).bootstrap
  const w = await runCli(['write', 'test_index', '--force', ...b], { input: '1|test\n2|{"test": "test"}\n3|42\n4|0.9\n' })
  assert.is(w.code, 0, w.stderr)
  assert.match(w.stderr, /4 written, 0 failed, 0 skipped/)
  assert.is(w.stdout, '')

  const c = await runCli(['cat', 'test_index', ...b])
  assert.is(c.code, 0, c.stderr)
  assert.is(c.stderr, '')
  const lines = c.stdout.trimEnd().split('\n')
  assert.is(lines.length, 4)
  for (const line of lines) assert.match(line, /^[^|]+\|\{"hash_":[0-9.e-]+,"record":.*\}$/)
  const got = parseCat(c.stdout)
  assert.equal([...got.keys()].sort(), ['1', '2', '3', '4'])
  assert.is(got.get('1')?.record, 'test')
  assert.equal(got.get('2')?.record, { test: 'test' })
  assert.is(got.get('3')?.record, 42)
  assert.ok(Number.isInteger(got.get('3')?.record))
  assert.is(got.get('4')?.record, 0.9)
  assert.not.ok(Number.isInteger(got.get('4')?.record))
  for (const [key, { hash_ }] of got) {
    assert.ok(hash_ >= 0 && hash_ < 1, `hash of ${key} in [0,1)`)
    assert.is(hash_, hashKey('test_index', key))
  }
})

test.run()
