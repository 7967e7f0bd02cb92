import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Shard, ShardFullError, hashKey, Pyshard, execute } from '../src/index.js'
import type { ShardEvent, EvictEvent, ExpireEvent, Json } from '../src/index.js'

const test = suite('shard engine')

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

const w = (s: Shard, index: string, key: string, doc: Json, ttl?: number, ifAbsent = false): number =>
  s.write(index, key, hashKey(index, key), doc, ifAbsent, ttl)
const r = (s: Shard, index: string, key: string): Json | undefined => s.read(index, key, hashKey(index, key))

test('byte accounting: size of key + document; upserts and removes keep bytes exact', () => {
  const s = new Shard()
  s.createIndex('i')
  const a = w(s, 'i', 'k1', 'x'.repeat(100))
  assert.is(a, 2 + 102)
  const b = w(s, 'i', 'k2', { n: 1 })
  assert.is(s.stat().bytes, a + b)
  const a2 = w(s, 'i', 'k1', 'short')
  assert.is(s.stat().bytes, a2 + b)
  s.remove('i', 'k2', hashKey('i', 'k2'))
  assert.is(s.stat().bytes, a2)
  assert.is(s.stat().count, 1)
  s.dropIndex('i')
  assert.equal([s.stat().bytes, s.stat().count], [0, 0])
})

test('onFull reject: SHARD_FULL and nothing changes', () => {
  const s = new Shard({ size: 300 })
  s.createIndex('i')
  w(s, 'i', 'a', 'x'.repeat(100))
  w(s, 'i', 'b', 'y'.repeat(100))
  const before = s.stat()
  assert.throws(() => w(s, 'i', 'c', 'z'.repeat(100)), (e: Error) => e instanceof ShardFullError && /size/.test(e.message))
  assert.throws(() => w(s, 'i', 'a', 'z'.repeat(250)), (e: Error) => e instanceof ShardFullError)
  assert.equal(s.stat(), before)
  assert.is(r(s, 'i', 'a'), 'x'.repeat(100))
  assert.is(r(s, 'i', 'c'), undefined)
  // A smaller replacement always fits.
  w(s, 'i', 'a', 'small')
  assert.is(r(s, 'i', 'a'), 'small')
})

test('onFull evict: least recently used first (reads count as use), across indexes, one event per entry', () => {
  const events: ShardEvent[] = []
  const s = new Shard({ size: 1000, onFull: 'evict', onEvent: (e) => events.push(e) })
  s.createIndex('i')
  s.createIndex('j')
  for (const k of ['a', 'b', 'c']) w(s, 'i', k, 'x'.repeat(200)) // 1+202 bytes each
  w(s, 'j', 'd', 'x'.repeat(200))
  r(s, 'i', 'a') // a is now the most recently used
  w(s, 'i', 'e', 'x'.repeat(400)) // needs room: evicts b, then c
  assert.equal(events, [
    { type: 'evict', index: 'i', key: 'b' },
    { type: 'evict', index: 'i', key: 'c' },
  ])
  assert.ok(r(s, 'i', 'a') !== undefined)
  assert.ok(r(s, 'j', 'd') !== undefined)
  assert.is(r(s, 'i', 'b'), undefined)
  assert.ok(s.stat().bytes <= 1000)
  // An entry larger than the whole shard is refused, nothing evicted.
  const n = events.length
  assert.throws(() => w(s, 'i', 'huge', 'x'.repeat(2000)), (e: Error) => e instanceof ShardFullError)
  assert.is(events.length, n)
})

test('evict: overwriting the key being written never evicts itself', () => {
  const s = new Shard({ size: 500, onFull: 'evict' })
  s.createIndex('i')
  w(s, 'i', 'a', 'x'.repeat(200))
  w(s, 'i', 'b', 'x'.repeat(200))
  w(s, 'i', 'a', 'x'.repeat(400)) // evicts b, keeps (and grows) a
  assert.is(r(s, 'i', 'a'), 'x'.repeat(400))
  assert.is(r(s, 'i', 'b'), undefined)
  assert.is(s.stat().count, 1)
})

test('TTL is exact on read with a fake clock, and sweep reclaims memory with expire events', () => {
  const t = clock()
  const events: ShardEvent[] = []
  const s = new Shard({ now: t.now, onEvent: (e) => events.push(e) })
  s.createIndex('i')
  w(s, 'i', 'short', 1, 1000)
  w(s, 'i', 'long', 2, 5000)
  w(s, 'i', 'forever', 3)
  t.advance(999)
  assert.is(r(s, 'i', 'short'), 1)
  t.advance(1)
  assert.is(r(s, 'i', 'short'), undefined, 'gone exactly at its expiry time')
  assert.equal(events, [{ type: 'expire', index: 'i', key: 'short' }])
  assert.is(s.stat().count, 2)
  t.advance(10_000)
  assert.is(s.sweep(), 1, 'sweep reclaims "long" without a read')
  assert.equal(s.stat().count, 1)
  assert.is(s.stat().bytes, w(s, 'i', 'forever', 3))
  assert.is(events.length, 2)
})

test('TTL: rewriting a key resets or clears its expiry; ifAbsent writes over an expired key', () => {
  const t = clock()
  const s = new Shard({ now: t.now })
  s.createIndex('i')
  w(s, 'i', 'k', 'v1', 1000)
  t.advance(500)
  w(s, 'i', 'k', 'v2', 1000) // now expires at +1500
  t.advance(700)
  assert.is(r(s, 'i', 'k'), 'v2')
  assert.is(s.sweep(), 0, 'the stale first expiry does not remove the rewritten key')
  w(s, 'i', 'k', 'v3') // no TTL any more
  t.advance(10_000)
  assert.is(s.sweep(), 0)
  assert.is(r(s, 'i', 'k'), 'v3')
  w(s, 'i', 'gone', 'old', 10)
  t.advance(10)
  assert.ok(w(s, 'i', 'gone', 'new', undefined, true) > 0, 'an expired key counts as absent')
  assert.is(r(s, 'i', 'gone'), 'new')
})

test('an entry that moves between a bare document and a record (TTL, object document, evict mode) keeps bytes, count, expiry and LRU order exact', () => {
  const t = clock()
  const s = new Shard({ now: t.now, size: 1 << 20 })
  s.createIndex('i')
  const bytes = (): number => s.stat().bytes
  assert.is(w(s, 'i', 'k', 'plain'), 1 + 7)
  assert.is(w(s, 'i', 'k', 'ttl', 100), 1 + 5)
  assert.is(bytes(), 6)
  assert.is(w(s, 'i', 'k', 'plain again'), 1 + 13)
  t.advance(1000)
  assert.is(s.sweep(), 0, 'the expiry of the record that was replaced is stale')
  assert.is(r(s, 'i', 'k'), 'plain again')
  const doc = { list: [1, 2] }
  const size = w(s, 'i', 'o', doc)
  doc.list.push(3, 4, 5) // stored by reference: the size accounted at write time stays the one removed
  assert.is(bytes(), 14 + size)
  assert.is(w(s, 'i', 'o', 7), 1 + 8)
  for (const v of [null, true, false, 0, '']) {
    w(s, 'i', 'p', v)
    assert.is(r(s, 'i', 'p'), v)
    assert.ok(s.has('i', 'p', hashKey('i', 'p')))
  }
  assert.equal([s.stat().count, bytes()], [3, 14 + 9 + 1 + 2])
  for (const key of ['k', 'o', 'p']) s.remove('i', key, hashKey('i', key))
  assert.equal([s.stat().count, bytes()], [0, 0])

  // Bare documents join the LRU list in their order when the shard turns to evict mode.
  for (const key of ['a', 'b', 'c']) w(s, 'i', key, 'x'.repeat(10))
  s.configure({ name: 'shard', start: 0, end: 1, size: 40, onFull: 'evict', epoch: 0 })
  r(s, 'i', 'a')
  w(s, 'i', 'd', 'x'.repeat(10))
  assert.equal(s.indexes().flatMap(() => s.scan('i', 0, 10, false).keys).sort(), ['a', 'c', 'd'])
  s.configure({ name: 'shard', start: 0, end: 1, size: 40, onFull: 'reject', epoch: 0 })
  assert.throws(() => w(s, 'i', 'e', 'x'.repeat(10)), (e: Error) => e instanceof ShardFullError)
  assert.is(w(s, 'i', 'a', 'y'), 1 + 3)
  assert.equal([s.stat().count, bytes()], [3, 4 + 13 + 13])
})

test('expired entries are skipped by scan and by processors, and has/pop/remove see them as absent', () => {
  const t = clock()
  const s = new Shard({ now: t.now, processors: { count: (entries) => [...entries].length } })
  s.createIndex('i')
  w(s, 'i', 'a', 1, 100)
  w(s, 'i', 'b', 2)
  t.advance(100)
  assert.equal(s.scan('i', 0, 10, true), { cursor: 0, keys: ['b'], records: [2] })
  assert.is(s.run('i', 'count', null), 1)
  w(s, 'i', 'c', 3, 50)
  t.advance(50)
  assert.is(s.has('i', 'c', hashKey('i', 'c')), false)
  assert.is(s.pop('i', 'c', hashKey('i', 'c')), undefined)
  assert.is(s.remove('i', 'c', hashKey('i', 'c')), false)
})

test('distribution histogram counts entries per bucket of the shard range', () => {
  const s = new Shard({ start: 0.5, end: 1, buckets: 5 })
  s.createIndex('h')
  const expected = [0, 0, 0, 0, 0]
  const written: string[] = []
  let n = 0
  for (let i = 0; n < 500; i++) {
    const key = `k${i}`
    const h = hashKey('h', key)
    if (h < 0.5) continue
    n++
    const bucket = Math.min(4, Math.floor((h - 0.5) / 0.1))
    expected[bucket] = (expected[bucket] as number) + 1
    w(s, 'h', key, i)
    written.push(key)
  }
  assert.equal(s.stat().distribution, expected)
  assert.is(expected.reduce((a, b) => a + b), 500)
  // Removing entries takes them out of their buckets.
  for (const key of written.slice(0, 50)) s.remove('h', key, hashKey('h', key))
  assert.is(s.stat().count, 450)
  assert.is(s.stat().distribution.reduce((a, b) => a + b), 450)
})

test('a key outside the range answers MOVED with the epoch; configure re-ranges and recounts', () => {
  const s = new Shard({ name: 'left', start: 0, end: 0.5, epoch: 3 })
  s.createIndex('i')
  let key = 'k0'
  for (let i = 0; hashKey('i', key) < 0.5; i++) key = `k${i}`
  const res = execute(s, { op: 'write', index: 'i', key, hash: hashKey('i', key), doc: 1 })
  assert.equal(res, { ok: false, code: 'MOVED', message: res.ok ? '' : res.message, epoch: 3 })
  s.configure({ name: 'all', start: 0, end: 1, size: 1 << 20, onFull: 'reject', epoch: 4 })
  assert.equal(execute(s, { op: 'write', index: 'i', key, hash: hashKey('i', key), doc: 1 }).ok, true)
  assert.is(s.stat().distribution.reduce((a, b) => a + b), 1)
  assert.is(s.stat().name, 'all')
})

test('narrowing the range deletes nothing: entries outside answer MOVED and count as handover until dropRange', () => {
  const s = new Shard({ name: 'all', start: 0, end: 1 })
  s.createIndex('i')
  const keys = Array.from({ length: 40 }, (_, i) => `n${i}`)
  for (const k of keys) w(s, 'i', k, k)
  s.configure({ name: 'left', start: 0, end: 0.5, size: 1 << 20, onFull: 'reject', epoch: 2 })
  const kept = keys.filter((k) => hashKey('i', k) < 0.5)
  const away = keys.filter((k) => hashKey('i', k) >= 0.5)
  let stat = s.stat()
  assert.is(stat.count, kept.length)
  assert.is(stat.handover, away.length)
  assert.is(stat.bytes, keys.reduce((a, k) => a + k.length + k.length + 2, 0))
  assert.is(stat.distribution.reduce((a, b) => a + b), kept.length)
  assert.equal(s.scan('i', 0, 100, false).keys.sort(), kept.sort())
  const moved = execute(s, { op: 'read', index: 'i', key: away[0] as string, hash: hashKey('i', away[0] as string) })
  assert.is(moved.ok ? '' : moved.code, 'MOVED')
  // Widening again brings them back: nothing was lost.
  s.configure({ name: 'all', start: 0, end: 1, size: 1 << 20, onFull: 'reject', epoch: 3 })
  assert.is(s.stat().count, keys.length)
  s.configure({ name: 'left', start: 0, end: 0.5, size: 1 << 20, onFull: 'reject', epoch: 4 })
  assert.is(s.dropRange([[0, 1]]), away.length)
  stat = s.stat()
  assert.equal([stat.count, stat.handover], [kept.length, 0])
  assert.is(stat.bytes, kept.reduce((a, k) => a + k.length + k.length + 2, 0))
})

test('an assignment older than the one held is refused with STALE_EPOCH and changes nothing', () => {
  const s = new Shard({ name: 'left', start: 0, end: 0.5, epoch: 5 })
  const r = execute(s, { op: 'configure', settings: { name: 'x', start: 0, end: 0.1, size: 10, onFull: 'reject', epoch: 4 } })
  assert.is(r.ok ? '' : r.code, 'STALE_EPOCH')
  assert.equal([s.settings.name, s.settings.end, s.settings.epoch], ['left', 0.5, 5])
})

test('scan pages with cursors; a dropped or unknown cursor is BAD_REQUEST; idle cursors are dropped', () => {
  const t = clock()
  const s = new Shard({ now: t.now, maxCursors: 2, cursorIdleMs: 1000 })
  s.createIndex('i')
  for (let i = 0; i < 25; i++) w(s, 'i', `k${i}`, i)
  const seen: string[] = []
  let page = s.scan('i', 0, 10, false)
  seen.push(...page.keys)
  while (page.cursor !== 0) {
    page = s.scan('i', page.cursor, 10, false)
    seen.push(...page.keys)
  }
  assert.is(new Set(seen).size, 25)
  const c1 = s.scan('i', 0, 1, false).cursor
  s.scan('i', 0, 1, false)
  s.scan('i', 0, 1, false) // a third open cursor drops the least recently used (c1)
  assert.equal(execute(s, { op: 'scan', index: 'i', cursor: c1, count: 1, values: false }).ok, false)
  const c4 = s.scan('i', 0, 1, false).cursor
  t.advance(1001)
  s.scan('i', 0, 1, false) // opening a cursor drops idle ones
  const res = execute(s, { op: 'scan', index: 'i', cursor: c4, count: 1, values: false })
  assert.is(res.ok ? '' : res.code, 'BAD_REQUEST')
  assert.equal(execute(s, { op: 'scan', index: 'i', cursor: 0, count: 0, values: false }).ok, false)
})

test('execute answers unknown operations with BAD_REQUEST instead of throwing', () => {
  const s = new Shard()
  const res = execute(s, { op: 'explode' } as never)
  assert.is(res.ok, false)
  assert.is(res.ok ? '' : res.code, 'BAD_REQUEST')
  assert.is(res.ok ? '' : res.message, 'unknown operation "explode"')
})

test('store events: evict and expire reach Pyshard listeners with the shard name', async () => {
  const t = clock()
  const db = await Pyshard.open({ shards: 1, size: 400, onFull: 'evict', now: t.now })
  try {
    const evicted: EvictEvent[] = []
    const expired: ExpireEvent[] = []
    db.on('evict', (e) => evicted.push(e))
    db.on('expire', (e) => expired.push(e))
    await db.createIndex('c')
    await db.write('c', 'old', 'x'.repeat(150))
    await db.write('c', 'ttl', 'x'.repeat(10), { ttl: 100 })
    await db.write('c', 'new', 'x'.repeat(250))
    assert.equal(evicted, [{ shard: 'shard0', index: 'c', key: 'old' }])
    t.advance(100)
    assert.is(await db.read('c', 'ttl'), null)
    assert.equal(expired, [{ shard: 'shard0', index: 'c', key: 'ttl' }])
  } finally {
    await db.close()
  }
})

test('regression: a throwing evict listener neither fails nor half-applies the write; the error reaches "error"', async () => {
  const db = await Pyshard.open({ shards: 1, size: 300, onFull: 'evict' })
  try {
    const errors: Error[] = []
    db.on('error', (e) => errors.push(e))
    db.on('evict', () => { throw new Error('listener bug') })
    await db.createIndex('l')
    await db.write('l', 'a', 'x'.repeat(200))
    const res = await db.write('l', 'big', 'y'.repeat(200))
    assert.ok(res.size > 0)
    assert.is((await db.read('l', 'big'))?.record, 'y'.repeat(200))
    assert.is(await db.has('l', 'a'), false)
    await new Promise((r) => setImmediate(r))
    assert.equal(errors.map((e) => e.message), ['listener bug'])
  } finally {
    await db.close()
  }
})

test('a closed store rejects SHARD_UNAVAILABLE; close is idempotent; await using closes', async () => {
  const db = await Pyshard.open()
  await db.createIndex('x')
  await db.close()
  await db.close()
  try {
    await db.read('x', 'k')
    assert.unreachable('read after close')
  } catch (err) {
    assert.is((err as { code?: string }).code, 'SHARD_UNAVAILABLE')
  }
  let disposed: Pyshard | undefined
  {
    await using db2 = await Pyshard.open({ shards: 2 })
    disposed = db2
    await db2.createIndex('y')
  }
  try {
    await disposed.indexes()
    assert.unreachable('used after dispose')
  } catch (err) {
    assert.is((err as { code?: string }).code, 'SHARD_UNAVAILABLE')
  }
})

test.run()
