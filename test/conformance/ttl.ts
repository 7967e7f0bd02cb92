/**
 * The ttl concern: entries with a time to live, driven by an injected
 * `ManualClock` (never by sleeping). Each test opens its own store with its own clock.
 */
import * as assert from 'uvu/assert'
import type { Test } from 'uvu'
import { ManualClock } from '../../src/index.js'
import type { Pyshard } from '../../src/index.js'
import { fresh, keysOn, record, settle, shardOf, skip, withStore } from './context.js'
import type { Caps, Ctx, EntryEvent, MakeStore } from './context.js'

const READ_PATHS = 'ttl: an entry reads until its ttl runs out; then read, has, readMany, entries and keys agree it is gone'
const REWRITE = 'ttl: a rewrite with a ttl restarts it, a rewrite without one clears it'
const IF_ABSENT = 'ttl: ifAbsent skips a live key and writes over an expired one'
const BY_WRITES = 'ttl: writes reclaim expired entries on their way: one expire event { shard, index, key } per entry'
const BY_TIMER = 'ttl: the background sweep reclaims expired entries with no request: one expire event per entry'

async function keysOf(db: Pyshard, index: string): Promise<string[]> {
  const keys: string[] = []
  for await (const key of db.keys(index)) keys.push(key)
  return keys.sort()
}

async function entriesOf(db: Pyshard, index: string): Promise<[string, unknown][]> {
  const out: [string, unknown][] = []
  for await (const [key, e] of db.entries(index)) out.push([key, e.record])
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1))
}

/** Checks the expire events against the keys that expired: each once, naming its shard and index. */
function checkOnce(db: Pyshard, index: string, events: EntryEvent[], keys: string[]): void {
  const byKey = new Map<string, number>()
  for (const e of events) byKey.set(e.key, (byKey.get(e.key) ?? 0) + 1)
  for (const key of keys) assert.is(byKey.get(key), 1, `one expire event for ${key}`)
  assert.is(events.length, keys.length, `no other expire events: ${JSON.stringify(events)}`)
  for (const e of events) {
    assert.equal(e, { shard: db.map.shards[shardOf(db, index, e.key)]?.name, index, key: e.key })
  }
}

export function ttl(test: Test<Ctx>, makeStore: MakeStore, caps: Caps): void {
  if (caps.clock !== undefined) {
    skip(test, caps, 'ttl', caps.clock, [READ_PATHS, REWRITE, IF_ABSENT, BY_WRITES, BY_TIMER])
    return
  }

  test(READ_PATHS, async () => {
    const clock = new ManualClock()
    await withStore(makeStore, { clock }, async ({ db }) => {
      const a = fresh()
      const b = fresh()
      await db.createIndex(a)
      await db.createIndex(b)
      for (const index of [a, b]) {
        await db.write(index, 'forever', 'f')
        await db.writeMany(index, [['r', 'r'], ['h', 'h'], ['m', 'm'], ['s', 's']], { ttl: 1000 })
        await db.write(index, 'later', 'l', { ttl: 5000 })
      }
      clock.advance(999)
      assert.is((await db.read(a, 'r'))?.record, 'r', 'read 1 ms before the ttl')
      assert.is(await db.has(a, 'h'), true)
      assert.equal((await db.readMany(a, ['m', 'forever'])).map((e) => e?.record), ['m', 'f'])
      assert.equal(await keysOf(db, a), ['forever', 'h', 'later', 'm', 'r', 's'])
      clock.advance(1)
      // Each path meets its own expired key first (none relies on another having reclaimed it).
      assert.is(await db.read(a, 'r'), null, 'read once the ttl ran out')
      assert.is(await db.has(a, 'h'), false, 'has once the ttl ran out')
      assert.equal((await db.readMany(a, ['m', 'forever', 'later'])).map((e) => e?.record ?? null), [null, 'f', 'l'])
      assert.equal(await keysOf(db, a), ['forever', 'later'], 'keys')
      assert.equal(await entriesOf(db, b), [['forever', 'f'], ['later', 'l']], 'entries')
      assert.is(await db.read(b, 's'), null, 'the scan and the read agree')
      clock.advance(4000)
      assert.is(await db.read(a, 'later'), null)
      assert.equal(await keysOf(db, b), ['forever'])
      assert.is((await db.read(a, 'forever'))?.record, 'f', 'an entry without a ttl stays')
    })
  })

  test(REWRITE, async () => {
    const clock = new ManualClock()
    await withStore(makeStore, { clock }, async ({ db }) => {
      const index = fresh()
      await db.createIndex(index)
      await db.write(index, 'restart', 1, { ttl: 1000 })
      await db.write(index, 'clear', 1, { ttl: 1000 })
      await db.write(index, 'add', 1)
      clock.advance(600)
      await db.write(index, 'restart', 2, { ttl: 1000 })
      await db.write(index, 'clear', 2)
      await db.write(index, 'add', 2, { ttl: 1000 })
      clock.advance(600) // 1200 ms after the first writes
      assert.is((await db.read(index, 'restart'))?.record, 2, 'the new ttl counts from the rewrite')
      assert.is((await db.read(index, 'clear'))?.record, 2)
      assert.is((await db.read(index, 'add'))?.record, 2)
      clock.advance(400)
      assert.is(await db.read(index, 'restart'), null)
      assert.is(await db.read(index, 'add'), null, 'a rewrite can add a ttl')
      clock.advance(100_000)
      assert.is((await db.read(index, 'clear'))?.record, 2, 'a rewrite without a ttl clears it')
    })
  })

  test(IF_ABSENT, async () => {
    const clock = new ManualClock()
    await withStore(makeStore, { clock }, async ({ db }) => {
      const index = fresh()
      await db.createIndex(index)
      assert.ok((await db.write(index, 'k', 'old', { ttl: 100 })).size > 0)
      clock.advance(99)
      assert.is((await db.write(index, 'k', 'early', { ifAbsent: true })).size, 0, 'the key is live')
      assert.is((await db.read(index, 'k'))?.record, 'old')
      clock.advance(1)
      assert.ok((await db.write(index, 'k', 'new', { ifAbsent: true })).size > 0, 'the expired key counts as absent')
      assert.is((await db.read(index, 'k'))?.record, 'new')
      clock.advance(100_000)
      assert.is((await db.read(index, 'k'))?.record, 'new', 'the new entry has no ttl')
      // writeMany with ifAbsent agrees.
      await db.write(index, 'm', 'old', { ttl: 50 })
      clock.advance(50)
      const [res] = await db.writeMany(index, [['m', 'new']], { ifAbsent: true })
      assert.ok((res?.size ?? 0) > 0)
      assert.is((await db.read(index, 'm'))?.record, 'new')
    })
  })

  if (caps.shardEvents !== undefined) {
    skip(test, caps, 'ttl', caps.shardEvents, [BY_WRITES, BY_TIMER])
    return
  }

  test(BY_WRITES, async () => {
    const clock = new ManualClock()
    await withStore(makeStore, { clock }, async ({ db, events }) => {
      const index = fresh()
      await db.createIndex(index)
      const expired = record(events, 'expire')
      try {
        const keys = Array.from({ length: 40 }, (_, i) => `t${i}`)
        await db.writeMany(index, keys.map((k) => [k, k]), { ttl: 1000 })
        await db.write(index, 'stays', 1)
        await settle(db)
        assert.is(expired.seen.length, 0, 'nothing expires before its time')
        clock.advance(1000)
        // A write reclaims up to a few expired entries of its shard on its way: enough writes to every shard reclaim them all.
        for (let s = 0; s < db.map.shards.length; s++) {
          const onShard = keys.filter((k) => shardOf(db, index, k) === s).length
          const fillers = keysOn(db, index, s, Math.ceil(onShard / 4) + 1, 'fill')
          for (const f of fillers) await db.write(index, f, f)
        }
        await expired.until(keys.length)
        await settle(db)
        checkOnce(db, index, expired.seen, keys)
        assert.equal((await db.readMany(index, keys)).filter((e) => e !== null), [], 'none reads back')
        const left = await keysOf(db, index)
        assert.ok(left.includes('stays') && left.every((k) => !k.startsWith('t')), left.join())
        await settle(db)
        assert.is(expired.seen.length, keys.length, 'reading them again reports nothing more')
      } finally {
        expired.stop()
      }
    })
  })

  if (caps.sweepTimer !== true) {
    skip(test, caps, 'ttl', caps.sweepTimer ?? 'no background sweep timer to wait for', [BY_TIMER])
  } else {
    test(BY_TIMER, async () => {
      const clock = new ManualClock()
      await withStore(makeStore, { clock }, async ({ db, events }) => {
        const index = fresh()
        await db.createIndex(index)
        const expired = record(events, 'expire')
        try {
          const keys = Array.from({ length: 30 }, (_, i) => `b${i}`)
          await db.writeMany(index, keys.map((k) => [k, k]), { ttl: 500 })
          await db.write(index, 'stays', 1)
          const before = (await db.stat()).reduce((n, s) => n + s.count, 0)
          clock.advance(500)
          // No request until the sweep timers have reported every entry.
          await expired.until(keys.length)
          const after = (await db.stat()).reduce((n, s) => n + s.count, 0)
          assert.is(before - after, keys.length, 'the sweep removed them from the counts')
          await settle(db)
          checkOnce(db, index, expired.seen, keys)
          assert.equal(await keysOf(db, index), ['stays'])
        } finally {
          expired.stop()
        }
      })
    })
  }
}
