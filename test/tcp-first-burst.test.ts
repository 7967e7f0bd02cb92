// A fresh client connects lazily: the first burst of requests waits for that first connection
// however big it is (maxQueue bounds the wait for a shard known to be down, not the first connect),
// and the client is connected afterwards.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'
import type { ClusterConfig } from '../src/index.js'

interface Ctx { server: ShardServer; config: ClusterConfig; stores: Pyshard[] }

const test = suite<Ctx>('tcp: a first burst bigger than maxQueue on a fresh client', {} as Ctx)

test.before(async (ctx) => {
  ctx.server = new ShardServer()
  const { port } = await ctx.server.listen()
  ctx.config = { transport: 'tcp', shards: [{ name: 's', host: '127.0.0.1', port }] }
  ctx.stores = []
  const admin = await Pyshard.open({ config: ctx.config })
  await admin.createIndex('i')
  await admin.close()
})

test.after(async (ctx) => {
  for (const db of ctx.stores ?? []) await db.close()
  await ctx.server?.destroy()
})

async function fresh(ctx: Ctx): Promise<Pyshard> {
  const db = await Pyshard.open({ config: ctx.config })
  ctx.stores.push(db)
  return db
}

test('writeMany of 2,000 right after open succeeds, and reads them back', async (ctx) => {
  const db = await fresh(ctx)
  const pairs = Array.from({ length: 2000 }, (_, i) => [`k${i}`, i] as [string, number])
  const written = await db.writeMany('i', pairs)
  assert.is(written.length, 2000)
  const read = await db.readMany('i', pairs.map(([k]) => k))
  read.forEach((e, i) => assert.is(e?.record, i))
})

test('1,500 concurrent reads right after open all answer (maxQueue 100 set explicitly)', async (ctx) => {
  const db = await Pyshard.open({ config: ctx.config, transportOptions: { maxQueue: 100 } })
  ctx.stores.push(db)
  const settled = await Promise.allSettled(Array.from({ length: 1500 }, (_, i) => db.read('i', `k${i}`)))
  assert.equal(settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [])
  assert.is((settled[5] as PromiseFulfilledResult<{ record: unknown } | null>).value?.record, 5)
})

test.run()
