/**
 * The events concern: events leave the data path. A listener that throws never
 * fails the operation that set the event off and never changes what was stored:
 * what it throws arrives as an `error` event on the same emitter.
 */
import * as assert from 'uvu/assert'
import type { Test } from 'uvu'
import { ManualClock, hashKey } from '../../src/index.js'
import { fresh, keysOn, record, settle, skip, withStore } from './context.js'
import type { Caps, Ctx, MakeStore } from './context.js'

const EVICT = 'events: a throwing evict listener: the write is applied, its victim is gone, the error arrives as "error"'
const EXPIRE = 'events: a throwing expire listener: the read that expired the entry answers null, the state agrees, the error arrives as "error"'
const MAP_CHANGED = 'events: a throwing mapChanged listener: the write that met MOVED lands on its new shard, the error arrives as "error"'

export function events(test: Test<Ctx>, makeStore: MakeStore, caps: Caps): void {
  const evictReason = caps.eviction ?? caps.shardEvents
  if (evictReason !== undefined) {
    skip(test, caps, 'events', evictReason, [EVICT])
  } else {
    test(EVICT, async () => {
      await withStore(makeStore, { size: 1000, onFull: 'evict' }, async ({ db, events: emitters }) => {
        const index = fresh()
        await db.createIndex(index)
        const errors = record<Error>(emitters, 'error')
        const evicted = record(emitters, 'evict')
        const thrower = (): void => { throw new Error('evict listener bug') }
        for (const em of emitters) em.on('evict', thrower)
        try {
          const [old, big] = keysOn(db, index, 0, 2)
          await db.write(index, old as string, 'x'.repeat(600))
          const res = await db.write(index, big as string, 'y'.repeat(600))
          assert.ok(res.size > 0, 'the write that evicted answered normally')
          assert.is((await db.read(index, big as string))?.record, 'y'.repeat(600), 'and was applied')
          assert.is(await db.has(index, old as string), false, 'its victim is gone')
          await errors.until(1)
          await settle(db)
          assert.equal(errors.seen.map((e) => e.message), ['evict listener bug'])
          assert.equal(evicted.seen.map((e) => e.key), [old], 'the other listener still heard it')
          assert.ok((await db.write(index, 'after', 1)).size > 0, 'the store goes on')
        } finally {
          for (const em of emitters) em.off('evict', thrower)
          errors.stop()
          evicted.stop()
        }
      })
    })
  }

  const expireReason = caps.clock ?? caps.shardEvents
  if (expireReason !== undefined) {
    skip(test, caps, 'events', expireReason, [EXPIRE])
  } else {
    test(EXPIRE, async () => {
      const clock = new ManualClock()
      await withStore(makeStore, { clock }, async ({ db, events: emitters }) => {
        const index = fresh()
        await db.createIndex(index)
        const errors = record<Error>(emitters, 'error')
        const thrower = (): void => { throw new Error('expire listener bug') }
        for (const em of emitters) em.on('expire', thrower)
        try {
          await db.write(index, 'short', 1, { ttl: 10 })
          await db.write(index, 'long', 2, { ttl: 100_000 })
          clock.advance(10)
          assert.is(await db.read(index, 'short'), null)
          assert.is(await db.has(index, 'short'), false)
          assert.is((await db.read(index, 'long'))?.record, 2)
          await errors.until(1)
          await settle(db)
          assert.equal(errors.seen.map((e) => e.message), ['expire listener bug'])
          const keys: string[] = []
          for await (const key of db.keys(index)) keys.push(key)
          assert.equal(keys, ['long'])
        } finally {
          for (const em of emitters) em.off('expire', thrower)
          errors.stop()
        }
      })
    })
  }

  if (typeof caps.staleStore !== 'function') {
    skip(test, caps, 'events', caps.staleStore ?? 'no way to open a store with a stale map here', [MAP_CHANGED])
  } else {
    const staleStore = caps.staleStore
    test(MAP_CHANGED, async () => {
      const index = fresh()
      const opened = await staleStore(index)
      const db = opened.db
      const errors = record<Error>([db], 'error')
      const changes = record<{ epoch: number; previous: number }>([db], 'mapChanged')
      db.on('mapChanged', () => { throw new Error('mapChanged listener bug') })
      try {
        const before = db.map.epoch
        let key = 'm0'
        for (let i = 1; hashKey(index, key) < 0.5; i++) key = `m${i}`
        // The stale map's one shard holds only [0, 0.5) by now: this write meets MOVED, the store takes the newer map.
        const res = await db.write(index, key, 'moved')
        assert.ok(res.size > 0, 'the write answered normally')
        await changes.until(1)
        await errors.until(1)
        await settle(db)
        assert.ok(db.map.epoch > before, `the store took the newer map (epoch ${before} -> ${db.map.epoch})`)
        assert.is(changes.seen.length, 1)
        assert.equal(errors.seen.map((e) => e.message), ['mapChanged listener bug'])
        assert.is((await db.read(index, key))?.record, 'moved', 'the write was applied')
        assert.is(db.map.shards.length > 1, true)
      } finally {
        errors.stop()
        changes.stop()
        await db.close()
        await opened.stop?.()
      }
    })
  }
}
