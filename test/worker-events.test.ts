// Evict and expire events of shards in workers reach the store, batched with
// the answers (or, for background TTL sweeps, in their own message).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ManualClock, Pyshard, hashKey } from '../src/index.js'
import type { EvictEvent, ExpireEvent } from '../src/index.js'

const test = suite<{ db: Pyshard | null }>('worker events', { db: null })

test.after.each(async (ctx) => {
  await ctx.db?.close()
  ctx.db = null
})

test('evict events carry the shard name, index and key', async (ctx) => {
  const db = (ctx.db = await Pyshard.open({ shards: 2, transport: 'worker', size: 2000, onFull: 'evict' }))
  const index = 'ev'
  await db.createIndex(index)
  const evicted: EvictEvent[] = []
  db.on('evict', (e) => evicted.push(e))
  const keys = Array.from({ length: 200 }, (_, i) => `key${i}`)
  for (const k of keys) await db.write(index, k, 'x'.repeat(50))
  assert.ok(evicted.length > 0, 'some entries were evicted')
  const stats = await db.stat()
  for (const e of evicted) {
    assert.is(e.index, index)
    const shard = db.map.shards[db.map.lookup(hashKey(index, e.key))]
    assert.is(e.shard, shard?.name)
    assert.is(await db.has(index, e.key), false, `${e.key} is gone`)
  }
  const live = stats.reduce((a, s) => a + s.count, 0)
  assert.is(live + evicted.length, keys.length, 'every write either lives or was reported evicted')
})

test('expire events come from the workers\' background sweep, once the injected clock passes the ttl', async (ctx) => {
  const clock = new ManualClock()
  const db = (ctx.db = await Pyshard.open({ shards: 2, transport: 'worker', now: clock, transportOptions: { sweepInterval: 20 } }))
  const index = 'ttl'
  await db.createIndex(index)
  const seen: ExpireEvent[] = []
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<ExpireEvent[]>((resolve, reject) => {
    // Also keeps the process alive: the workers' sweep timers are unref'd.
    timer = setTimeout(() => reject(new Error(`got ${seen.length} of 10 expire events in 15 s`)), 15_000)
    db.on('expire', (e) => {
      seen.push(e)
      if (seen.length === 10) resolve(seen)
    })
  }).finally(() => clearTimeout(timer))
  await db.writeMany(index, Array.from({ length: 10 }, (_, i): [string, number] => [`t${i}`, i]), { ttl: 30 })
  clock.advance(29)
  assert.is((await db.stat()).reduce((a, s) => a + s.count, 0), 10, 'nothing expires before its time')
  assert.is(seen.length, 0)
  clock.advance(1)
  // No request from here: only the background sweep can reclaim them.
  const events = await expired
  assert.equal(events.map((e) => e.key).sort(), Array.from({ length: 10 }, (_, i) => `t${i}`).sort())
  for (const e of events) assert.is(e.index, index)
  assert.is((await db.stat()).reduce((a, s) => a + s.count, 0), 0)
})

test.run()
