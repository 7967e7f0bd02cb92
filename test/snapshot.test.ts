import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Shard, BadConfigError, hashKey } from '../src/index.js'
import { saveSnapshot, loadSnapshot, SNAPSHOT_FILE } from '../transports/tcp/snapshot.js'

const test = suite<{ dir: string }>('snapshot', { dir: '' })
test.before.each((ctx) => { ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-snap-')) })
test.after.each((ctx) => rmSync(ctx.dir, { recursive: true, force: true }))

const w = (s: Shard, index: string, key: string, doc: never | unknown, ttl?: number): number =>
  s.write(index, key, hashKey(index, key), doc as never, false, ttl)

test('a saved shard loads back whole: settings, indexes (empty ones too), entries, expiry times', async ({ dir }) => {
  let t = 1_000_000
  const now = (): number => t
  const a = new Shard({ name: 'left', start: 0, end: 1, size: 1 << 20, onFull: 'evict', epoch: 3, now })
  a.createIndex('users')
  a.createIndex('empty')
  const docs: [string, unknown][] = [['ada', { born: 1815 }], ['nul', null], ['arr', [1, 'two', [3]]], ['str', 'ключ 😀']]
  for (const [k, d] of docs) w(a, 'users', k, d)
  w(a, 'users', 'soon', 'bye', 1000)
  w(a, 'users', 'gone', 'x', 10)
  t += 10 // "gone" has expired: not saved
  assert.is(await saveSnapshot(a, dir, now), 5)
  assert.equal(readdirSync(dir), [SNAPSHOT_FILE], 'no temporary file left behind')

  const b = new Shard({ now })
  assert.is(await loadSnapshot(b, dir, now), 5)
  assert.equal(b.settings, a.settings)
  assert.equal(b.indexes().sort(), ['empty', 'users'])
  for (const [k, d] of docs) assert.equal(b.read('users', k, hashKey('users', k)), d)
  a.sweep() // reclaim "gone" so both count live entries only
  assert.equal({ count: b.stat().count, bytes: b.stat().bytes }, { count: a.stat().count, bytes: a.stat().bytes })
  t += 989
  assert.is(b.read('users', 'soon', hashKey('users', 'soon')), 'bye', 'keeps its expiry time, not a fresh ttl')
  t += 1
  assert.is(b.read('users', 'soon', hashKey('users', 'soon')), undefined)
})

test('no snapshot: null; a damaged one: BAD_CONFIG naming the file and line', async ({ dir }) => {
  assert.is(await loadSnapshot(new Shard(), dir), null)
  const s = new Shard()
  s.createIndex('i')
  w(s, 'i', 'k', 1)
  await saveSnapshot(s, dir)
  const file = join(dir, SNAPSHOT_FILE)
  writeFileSync(file, readFileSync(file, 'utf8') + '{not json\n')
  try {
    await loadSnapshot(new Shard(), dir)
    assert.unreachable('loaded')
  } catch (err) {
    assert.instance(err, BadConfigError)
    assert.match((err as Error).message, `${SNAPSHOT_FILE}, line 3: not JSON`)
  }
  writeFileSync(file, '{"format":"something else"}\n')
  try {
    await loadSnapshot(new Shard(), dir)
    assert.unreachable('loaded')
  } catch (err) {
    assert.match((err as Error).message, 'line 1: not a pyshard-snapshot v1 file')
  }
})

test('saving again replaces the snapshot', async ({ dir }) => {
  const s = new Shard()
  s.createIndex('i')
  w(s, 'i', 'a', 1)
  await saveSnapshot(s, dir)
  s.remove('i', 'a', hashKey('i', 'a'))
  w(s, 'i', 'b', 2)
  await saveSnapshot(s, dir)
  const r = new Shard()
  assert.is(await loadSnapshot(r, dir), 1)
  assert.is(r.read('i', 'a', hashKey('i', 'a')), undefined)
  assert.is(r.read('i', 'b', hashKey('i', 'b')), 2)
})

test.run()
