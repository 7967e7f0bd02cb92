/**
 * The eviction concern: a shard's byte `size` and what `onFull` does at it.
 * Every test works on the keys of one shard (so its limit is the one met) and
 * opens its own small store.
 */
import * as assert from 'uvu/assert'
import type { Test } from 'uvu'
import type { OnFull, Pyshard } from '../../src/index.js'
import { rejectsWith } from '../helpers/assert.js'
import { fresh, keysOn, record, settle, skip, withStore } from './context.js'
import type { Caps, Ctx, MakeStore } from './context.js'

const LRU = 'eviction: onFull "evict" drops the least recently used entries first (a read counts as use), one evict event { shard, index, key } each'
const TOO_BIG = 'eviction: an entry larger than the shard is refused SHARD_FULL with either onFull, and nothing changes'
const REJECT = 'eviction: onFull "reject" answers SHARD_FULL at the limit and changes nothing'

/** Byte limit of each shard of these stores: room for about a dozen of the documents below. */
const SIZE = 2000
const DOC = 'x'.repeat(140)

/** Bytes used on shard 0. */
async function bytesOn0(db: Pyshard): Promise<number> {
  return (await db.stat())[0]?.bytes ?? -1
}

/** Fills shard 0 with equal entries up to its limit; answers the keys written and the spare keys after them. */
async function fill(db: Pyshard, index: string): Promise<{ written: string[]; spare: string[] }> {
  const keys = keysOn(db, index, 0, 40)
  const first = await db.write(index, keys[0] as string, DOC)
  const room = Math.floor(SIZE / first.size)
  assert.ok(room >= 6 && room < 30, `${room} entries fit`)
  for (const k of keys.slice(1, room)) await db.write(index, k, DOC)
  return { written: keys.slice(0, room), spare: keys.slice(room) }
}

export function eviction(test: Test<Ctx>, makeStore: MakeStore, caps: Caps): void {
  // A transport that evicts must report it: one reason covers both.
  const reason = caps.eviction ?? caps.shardEvents
  if (reason !== undefined) {
    skip(test, caps, 'eviction', reason, [LRU, TOO_BIG, REJECT])
    return
  }

  test(LRU, async () => {
    await withStore(makeStore, { size: SIZE, onFull: 'evict' }, async ({ db, events }) => {
      const index = fresh()
      await db.createIndex(index)
      const evicted = record(events, 'evict')
      try {
        const { written: k, spare } = await fill(db, index)
        await settle(db)
        assert.is(evicted.seen.length, 0, 'nothing is evicted while it fits')
        assert.is((await db.read(index, k[0] as string))?.record, DOC) // k0 is now the most recently used
        await db.write(index, spare[0] as string, DOC) // evicts k1, the least recently used
        await db.write(index, spare[1] as string, DOC) // evicts k2
        await db.readMany(index, [k[3] as string]) // k3 used again
        await db.write(index, spare[2] as string, DOC) // evicts k4
        const expected = [k[1], k[2], k[4]] as string[]
        await evicted.until(expected.length)
        await settle(db)
        const shard = db.map.shards[0]?.name
        assert.equal(evicted.seen, expected.map((key) => ({ shard, index, key })), 'one evict event per entry, in eviction order')
        const present = await db.readMany(index, [...k, ...spare.slice(0, 3)])
        const gone = present.flatMap((e, i) => (e === null ? [[...k, ...spare][i]] : []))
        assert.equal(gone, expected, 'exactly the least recently used entries left')
        assert.ok((await bytesOn0(db)) <= SIZE, 'the shard stays within its size')
      } finally {
        evicted.stop()
      }
    })
  })

  test(TOO_BIG, async () => {
    for (const onFull of ['evict', 'reject'] as OnFull[]) {
      await withStore(makeStore, { size: SIZE, onFull }, async ({ db, events }) => {
        const index = fresh()
        await db.createIndex(index)
        const evicted = record(events, 'evict')
        try {
          const [a, b, big] = keysOn(db, index, 0, 3)
          await db.write(index, a as string, 'a')
          await db.write(index, b as string, DOC)
          const bytes = await bytesOn0(db)
          const err = await rejectsWith(db.write(index, big as string, 'y'.repeat(SIZE)), 'SHARD_FULL')
          assert.match(err.message, /size/, `${onFull}: the message names the limit: ${err.message}`)
          await rejectsWith(db.write(index, a as string, 'y'.repeat(SIZE)), 'SHARD_FULL')
          await settle(db)
          assert.is(evicted.seen.length, 0, `${onFull}: nothing was evicted for it`)
          assert.is(await db.has(index, big as string), false)
          assert.is((await db.read(index, a as string))?.record, 'a', `${onFull}: the old entry is kept`)
          assert.is((await db.read(index, b as string))?.record, DOC)
          assert.is(await bytesOn0(db), bytes, `${onFull}: the bytes are unchanged`)
        } finally {
          evicted.stop()
        }
      })
    }
  })

  test(REJECT, async () => {
    await withStore(makeStore, { size: SIZE, onFull: 'reject' }, async ({ db, events }) => {
      const index = fresh()
      await db.createIndex(index)
      const evicted = record(events, 'evict')
      try {
        const { written, spare } = await fill(db, index)
        const bytes = await bytesOn0(db)
        const left = SIZE - bytes
        const err = await rejectsWith(db.write(index, spare[0] as string, DOC), 'SHARD_FULL')
        assert.match(err.message, /onFull|size/, err.message)
        // A rewrite that grows past the limit is refused too, and the old document stays.
        await rejectsWith(db.write(index, written[0] as string, DOC + 'z'.repeat(left + 1)), 'SHARD_FULL')
        await rejectsWith(db.writeMany(index, [[spare[1] as string, DOC]]), 'SHARD_FULL')
        assert.is(await db.has(index, spare[0] as string), false)
        assert.is(await db.has(index, spare[1] as string), false)
        const all = await db.readMany(index, written)
        assert.ok(all.every((e) => e?.record === DOC), 'every entry is still there, unchanged')
        assert.is(await bytesOn0(db), bytes)
        // A rewrite that fits (same size) is fine; freeing room lets the refused write in.
        assert.ok((await db.write(index, written[1] as string, DOC.replace('x', 'w'))).size > 0)
        assert.is(await db.remove(index, written[2] as string), true)
        assert.ok((await db.write(index, spare[0] as string, DOC)).size > 0)
        await settle(db)
        assert.is(evicted.seen.length, 0, 'reject mode never evicts')
      } finally {
        evicted.stop()
      }
    })
  })
}
