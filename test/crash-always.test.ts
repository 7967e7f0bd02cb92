// kill -9 of a shard server with --fsync always: every acknowledged write, overwrite, removal
// and index survives the restart; removed keys stay removed. (kill -9 alone cannot show a missing
// fsync, since the OS still writes its cache out: test/durability-always-order.test.ts checks that
// answers wait for the engine's durable promise.)
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { crashSuite, openOn, startChildShard } from './helpers/crash-shard.js'

const test = crashSuite('crash: kill -9 with fsync always', 'pyshard-crash-always-')

test('acknowledged writes, overwrites, removes, pops and a created index survive kill -9', async (ctx) => {
  const dir = join(ctx.dir, 'd')
  const first = await startChildShard(dir, 'always')
  ctx.shards.push(first)
  const db = await openOn(first.port)
  ctx.stores.push(db)
  await db.createIndex('users')
  await db.createIndex('later')
  const N = 2000
  await Promise.all(Array.from({ length: N }, (_, i) => db.write('users', `u${i}`, { i, v: 1 })))
  await Promise.all(Array.from({ length: 300 }, (_, i) => db.write('users', `u${i}`, { i, v: 2 })))
  await Promise.all(Array.from({ length: 400 }, (_, i) => db.remove('users', `u${1000 + i}`)))
  await Promise.all(Array.from({ length: 100 }, (_, i) => db.pop('users', `u${1500 + i}`)))
  await db.write('users', 'ttl', 'kept', { ttl: 3_600_000 })
  await db.createIndex('created-last')
  await db.write('created-last', 'k', 'last write')
  // Everything above was acknowledged: kill at once, with no grace.
  await first.kill()
  await db.close().catch(() => {})
  ctx.stores.length = 0

  const second = await startChildShard(dir, 'always')
  ctx.shards.push(second)
  const again = await openOn(second.port)
  ctx.stores.push(again)
  assert.equal((await again.indexes()).sort(), ['created-last', 'later', 'users'])
  const keys = Array.from({ length: N }, (_, i) => `u${i}`)
  const got = await again.readMany('users', keys)
  got.forEach((e, i) => {
    if ((i >= 1000 && i < 1400) || (i >= 1500 && i < 1600)) assert.is(e, null, `u${i} was removed before the kill`)
    else assert.equal(e?.record, { i, v: i < 300 ? 2 : 1 }, `u${i}`)
  })
  assert.is((await again.read('users', 'ttl'))?.record, 'kept')
  assert.is((await again.read('created-last', 'k'))?.record, 'last write')
})

test('ten kills in the middle of a write load: each restart loads cleanly and keeps every acknowledged write', async (ctx) => {
  const dir = join(ctx.dir, 'rounds')
  const acked: string[] = []
  for (let round = 0; round < 10; round++) {
    const shard = await startChildShard(dir, 'always')
    ctx.shards.push(shard)
    const db = await openOn(shard.port)
    if (round === 0) await db.createIndex('load')
    // Every key acknowledged in earlier rounds is there.
    const seen = await db.readMany('load', acked)
    assert.is(seen.filter((e) => e === null).length, 0, `round ${round}: acknowledged writes lost`)
    let stop = false
    let i = 0
    const writer = async (): Promise<void> => {
      while (!stop) {
        const key = `r${round}-${i++}`
        try {
          await db.write('load', key, { round, pad: 'x'.repeat(200) })
          if (!stop) acked.push(key)
        } catch {
          return // the kill: what was in flight was not acknowledged
        }
      }
    }
    const writers = Array.from({ length: 50 }, writer)
    // Kill once some writes were acknowledged this round, while the others are in flight.
    const before = acked.length
    while (acked.length < before + 500) await new Promise((r) => setTimeout(r, 5))
    await shard.kill()
    stop = true
    await Promise.all(writers)
    await db.close().catch(() => {})
  }
  const last = await startChildShard(dir, 'always')
  ctx.shards.push(last)
  const db = await openOn(last.port)
  ctx.stores.push(db)
  const seen = await db.readMany('load', acked)
  assert.is(seen.filter((e) => e === null).length, 0)
  assert.ok(acked.length >= 5000)
})

test.run()
