/**
 * The close concern: `close()` finishes what is in flight, then every operation
 * rejects SHARD_UNAVAILABLE; it is idempotent; `await using` closes the store.
 * Each test opens (and closes) its own store.
 */
import * as assert from 'uvu/assert'
import type { Test } from 'uvu'
import type { Pyshard } from '../../src/index.js'
import { rejectsWith } from '../helpers/assert.js'
import { fresh } from './context.js'
import type { Caps, Ctx, MakeStore } from './context.js'

const IN_FLIGHT = 'close: requests in flight when close() is called all finish; operations after it reject SHARD_UNAVAILABLE'
const IDEMPOTENT = 'close: concurrent and repeated close() calls all resolve'
const AWAIT_USING = 'close: `await using` closes the store at the end of the block'

/** Every kind of operation on a closed store rejects SHARD_UNAVAILABLE. */
async function allRefused(db: Pyshard, index: string): Promise<void> {
  await rejectsWith(db.write(index, 'k', 1), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.read(index, 'k'), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.has(index, 'k'), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.pop(index, 'k'), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.remove(index, 'k'), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.readMany(index, ['a', 'b']), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.writeMany(index, [['a', 1]]), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.createIndex(fresh()), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.dropIndex(index), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.indexes(), 'SHARD_UNAVAILABLE')
  await rejectsWith(db.stat(), 'SHARD_UNAVAILABLE')
  await rejectsWith((async () => { for await (const _ of db.entries(index)) { /* none */ } })(), 'SHARD_UNAVAILABLE')
  await rejectsWith((async () => { for await (const _ of db.keys(index)) { /* none */ } })(), 'SHARD_UNAVAILABLE')
}

export function close(test: Test<Ctx>, makeStore: MakeStore, _caps: Caps): void {
  test(IN_FLIGHT, async () => {
    const opened = await makeStore()
    const db = opened.db
    try {
      const index = fresh()
      await db.createIndex(index)
      await db.writeMany(index, Array.from({ length: 100 }, (_, i): [string, number] => [`old${i}`, i]))
      // Issued in one tick, none awaited: close() is called with all of them in flight.
      const writes = Array.from({ length: 300 }, (_, i) => db.write(index, `c${i}`, { i }))
      const reads = Array.from({ length: 100 }, (_, i) => db.read(index, `old${i}`))
      const many = db.readMany(index, ['old0', 'old99', 'none'])
      const closing = db.close()
      const settled = await Promise.allSettled([...writes, ...reads, many])
      const failed = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))
      assert.equal(failed, [], 'every request in flight finished')
      assert.ok((await Promise.all(writes)).every((w) => w.size > 0))
      assert.equal((await Promise.all(reads)).map((e) => e?.record), Array.from({ length: 100 }, (_, i) => i))
      assert.equal((await many).map((e) => e?.record ?? null), [0, 99, null])
      await closing
      await allRefused(db, index)
    } finally {
      await db.close()
      await opened.stop?.()
    }
  })

  test(IDEMPOTENT, async () => {
    const opened = await makeStore()
    const db = opened.db
    try {
      await db.createIndex(fresh())
      const first = db.close()
      const second = db.close()
      await Promise.all([first, second])
      await db.close()
      await rejectsWith(db.indexes(), 'SHARD_UNAVAILABLE')
    } finally {
      await db.close()
      await opened.stop?.()
    }
  })

  test(AWAIT_USING, async () => {
    const opened = await makeStore()
    let disposed: Pyshard | undefined
    const index = fresh()
    try {
      {
        await using db = opened.db
        disposed = db
        await db.createIndex(index)
        await db.write(index, 'k', 1)
        assert.is((await db.read(index, 'k'))?.record, 1)
      }
      await allRefused(disposed, index)
    } finally {
      await opened.db.close()
      await opened.stop?.()
    }
  })
}
