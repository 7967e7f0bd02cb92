/**
 * The one conformance suite every transport runs: the whole public contract
 * through the public API. `makeStore` opens a fresh store; the suite closes it.
 * Each test works in its own index, so tests do not see each other's data.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard, hashKey } from '../../src/index.js'
import { rejectsWith } from '../helpers/assert.js'
import { values } from './values.js'
import type { Json } from '../../src/index.js'

export interface ConformanceOptions {
  /** The store was opened with test/fixtures/processors.ts: run the processor checks. */
  processors?: boolean
  /** Extra teardown after the store is closed (stop servers, workers...). */
  teardown?: () => Promise<void>
}

const DOCS: [string, Json][] = [
  ['string', 'hello world'],
  ['empty string', ''],
  ['unicode string', 'ключ 😀 ü'],
  ['integer', 42],
  ['negative integer', -7],
  ['float', 0.9],
  ['big float', 1.5e300],
  ['true', true],
  ['false', false],
  ['null', null],
  ['array', [1, 'two', null, [3]]],
  ['empty array', []],
  ['nested object', { a: { b: { c: [1, { d: 'e' }] } }, f: 1.25, g: null, h: false }],
  ['empty object', {}],
]

let counter = 0
const fresh = (): string => `idx${++counter}_${process.pid}`

export function conformance(name: string, makeStore: () => Promise<Pyshard>, options: ConformanceOptions = {}): void {
  const test = suite<{ db: Pyshard }>(`conformance: ${name}`, {} as { db: Pyshard })

  test.before(async (ctx) => {
    ctx.db = await makeStore()
  })
  test.after(async (ctx) => {
    await ctx.db?.close()
    await options.teardown?.()
  })

  test('createIndex, indexes, INDEX_EXISTS, ifNotExists, dropIndex, INDEX_NOT_FOUND', async ({ db }) => {
    const a = fresh()
    const b = fresh()
    await db.createIndex(a)
    await db.createIndex(b)
    const names = await db.indexes()
    assert.ok(names.includes(a) && names.includes(b), `indexes() lists both: ${names}`)
    await rejectsWith(db.createIndex(a), 'INDEX_EXISTS')
    await db.createIndex(a, { ifNotExists: true })
    await db.write(b, 'k', 1)
    await db.dropIndex(b)
    assert.not.ok((await db.indexes()).includes(b))
    await rejectsWith(db.dropIndex(b), 'INDEX_NOT_FOUND')
    await rejectsWith(db.read(b, 'k'), 'INDEX_NOT_FOUND')
    await db.createIndex(b)
    assert.is(await db.read(b, 'k'), null, 'a re-created index starts empty')
  })

  test('write and read back every document type, with the key hash', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    for (const [label, doc] of DOCS) {
      const key = `key:${label}`
      const w = await db.write(index, key, doc)
      assert.is(w.hash, hashKey(index, key), `${label}: write hash`)
      assert.ok(w.size > 0, `${label}: size > 0`)
      const r = await db.read(index, key)
      assert.ok(r !== null, `${label}: read finds it`)
      assert.equal(r.record, doc, `${label}: record round-trips`)
      assert.is(r.hash, w.hash, `${label}: read hash`)
      assert.ok(r.hash >= 0 && r.hash < 1)
    }
  })

  test('upsert replaces; missing keys; has; remove', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    await db.write(index, 'a', { v: 1 })
    await db.write(index, 'a', { v: 2 })
    assert.equal((await db.read(index, 'a'))?.record, { v: 2 })
    assert.is(await db.read(index, 'missing'), null)
    assert.is(await db.has(index, 'a'), true)
    assert.is(await db.has(index, 'missing'), false)
    assert.is(await db.remove(index, 'a'), true)
    assert.is(await db.remove(index, 'a'), false)
    assert.is(await db.read(index, 'a'), null)
    assert.is(await db.has(index, 'a'), false)
  })

  test('ifAbsent on an existing key gives size 0 and keeps the old record', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    const first = await db.write(index, 'k', 'old', { ifAbsent: true })
    assert.ok(first.size > 0, 'absent: written')
    const second = await db.write(index, 'k', 'new', { ifAbsent: true })
    assert.is(second.size, 0)
    assert.is(second.hash, first.hash)
    assert.is((await db.read(index, 'k'))?.record, 'old')
  })

  test('pop reads and removes; pop of a missing key gives null', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    await db.write(index, 'test1', { hello: 'world' })
    const popped = await db.pop(index, 'test1')
    assert.equal(popped, { hash: hashKey(index, 'test1'), record: { hello: 'world' } })
    assert.is(await db.pop(index, 'test1'), null)
    assert.is(await db.read(index, 'test1'), null)
  })

  test('writing to, reading from, scanning a missing index rejects INDEX_NOT_FOUND', async ({ db }) => {
    const index = fresh()
    await rejectsWith(db.write(index, 'k', 1), 'INDEX_NOT_FOUND')
    await rejectsWith(db.read(index, 'k'), 'INDEX_NOT_FOUND')
    await rejectsWith(db.has(index, 'k'), 'INDEX_NOT_FOUND')
    await rejectsWith(db.pop(index, 'k'), 'INDEX_NOT_FOUND')
    await rejectsWith(db.remove(index, 'k'), 'INDEX_NOT_FOUND')
    await rejectsWith(db.readMany(index, ['a', 'b']), 'INDEX_NOT_FOUND')
    await rejectsWith(db.writeMany(index, [['a', 1]]), 'INDEX_NOT_FOUND')
    await rejectsWith((async () => { for await (const _ of db.entries(index)) { /* none */ } })(), 'INDEX_NOT_FOUND')
  })

  test('bad arguments reject BAD_REQUEST', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    await rejectsWith(db.write(index, 'k', undefined as unknown as Json), 'BAD_REQUEST')
    await rejectsWith(db.write(index, 'k', { f: () => 1 } as unknown as Json), 'BAD_REQUEST')
    await rejectsWith(db.write(index, 'k', Number.NaN), 'BAD_REQUEST')
    await rejectsWith(db.write(index, 'k', 1, { ttl: -5 }), 'BAD_REQUEST')
    await rejectsWith(db.write(index, 'k', 1, { ttl: 1.5 }), 'BAD_REQUEST')
    await rejectsWith(db.read('', 'k'), 'BAD_REQUEST')
    await rejectsWith(db.read(index, 42 as unknown as string), 'BAD_REQUEST')
    assert.is(await db.has(index, 'k'), false, 'nothing was written by the bad requests')
  })

  test('readMany answers in the keys\' order, nulls for missing', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
    await db.writeMany(index, keys.filter((_, i) => i % 3 !== 0).map((k) => [k, { k }]))
    const got = await db.readMany(index, keys)
    assert.is(got.length, keys.length)
    got.forEach((e, i) => {
      const key = keys[i] as string
      if (i % 3 === 0) assert.is(e, null, `${key} missing`)
      else assert.equal(e, { hash: hashKey(index, key), record: { k: key } }, key)
    })
    assert.equal(await db.readMany(index, []), [])
  })

  test('writeMany answers hash and size per pair, in order', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    const pairs: [string, Json][] = Array.from({ length: 100 }, (_, i) => [`w${i}`, i % 2 ? i : `s${i}`])
    const res = await db.writeMany(index, pairs)
    assert.is(res.length, pairs.length)
    res.forEach((r, i) => {
      assert.is(r.hash, hashKey(index, (pairs[i] as [string, Json])[0]))
      assert.ok(r.size > 0)
    })
    const skipped = await db.writeMany(index, [['w0', 'x'], ['new', 'y']], { ifAbsent: true })
    assert.is(skipped[0]?.size, 0)
    assert.ok((skipped[1]?.size ?? 0) > 0)
    assert.is((await db.read(index, 'w0'))?.record, 's0')
  })

  test('entries and keys across shards equal what was written', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    const written = new Map<string, Json>()
    for (let i = 0; i < 1500; i++) written.set(`e${i}`, { i, tag: `t${i % 7}` })
    await db.writeMany(index, [...written])
    const seen = new Map<string, Json>()
    for await (const [key, entry] of db.entries(index, { pageSize: 100 })) {
      assert.not.ok(seen.has(key), `${key} seen once`)
      assert.is(entry.hash, hashKey(index, key))
      seen.set(key, entry.record)
    }
    assert.equal(seen, written)
    const keys: string[] = []
    for await (const key of db.keys(index)) keys.push(key)
    assert.equal(keys.sort(), [...written.keys()].sort())
  })

  test('stopping an entries() loop early leaves the store working', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    await db.writeMany(index, Array.from({ length: 300 }, (_, i): [string, Json] => [`x${i}`, i]))
    let n = 0
    for await (const _ of db.entries(index, { pageSize: 10 })) if (++n === 25) break
    assert.is(n, 25)
    let total = 0
    for await (const _ of db.keys(index, { pageSize: 64 })) total++
    assert.is(total, 300)
  })

  test('stat: one entry per shard, counts agree with what was written', async ({ db }) => {
    const index = fresh()
    const before = await db.stat()
    await db.createIndex(index)
    const keys = Array.from({ length: 400 }, (_, i) => `s${i}`)
    await db.writeMany(index, keys.map((k) => [k, k]))
    const after = await db.stat()
    assert.is(after.length, db.map.shards.length)
    let total = 0
    after.forEach((s, i) => {
      const spec = db.map.shards[i]
      assert.is(s.name, spec?.name)
      assert.is(s.start, spec?.start)
      assert.is(s.end, spec?.end)
      assert.is(s.transport, spec?.transport)
      const expected = keys.filter((k) => { const h = hashKey(index, k); return h >= s.start && h < s.end }).length
      assert.is(s.count - (before[i]?.count ?? 0), expected, `shard ${s.name} count`)
      assert.ok(s.maxSize > 0)
      assert.ok(Array.isArray(s.distribution))
      total += s.count - (before[i]?.count ?? 0)
    })
    assert.is(total, keys.length)
  })

  test('many operations in flight at once all land', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    const n = 2000
    await Promise.all(Array.from({ length: n }, (_, i) => db.write(index, `p${i}`, { i })))
    const got = await Promise.all(Array.from({ length: n }, (_, i) => db.read(index, `p${i}`)))
    got.forEach((e, i) => assert.equal(e?.record, { i }))
  })

  if (options.processors) {
    test('run: a processor gives one result per shard, equal to the same computation over entries()', async ({ db }) => {
      const index = fresh()
      await db.createIndex(index)
      await db.writeMany(index, Array.from({ length: 500 }, (_, i): [string, Json] => [`r${i}`, { score: i % 17 }]))
      const results = (await db.run(index, 'sumScores', { field: 'score' })) as { count: number; sum: number }[]
      assert.is(results.length, db.map.shards.length)
      let count = 0
      let sum = 0
      for await (const [, e] of db.entries(index)) {
        count++
        sum += (e.record as { score: number }).score
      }
      assert.is(results.reduce((a, r) => a + r.count, 0), count)
      assert.is(results.reduce((a, r) => a + r.sum, 0), sum)
    })

    test('run: unknown processor is BAD_REQUEST; a throwing one rejects with its message and the shard keeps serving', async ({ db }) => {
      const index = fresh()
      await db.createIndex(index)
      await db.write(index, 'k', 1)
      await rejectsWith(db.run(index, 'noSuchProcessor'), 'BAD_REQUEST')
      const err = await rejectsWith(db.run(index, 'fails', { message: 'boom 42' }), 'BAD_REQUEST')
      assert.match(err.message, 'boom 42')
      assert.is((await db.read(index, 'k'))?.record, 1)
    })
  }

  values(test, makeStore)
  test.run()
}
