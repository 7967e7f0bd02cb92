// Cluster metadata and one shard down: the bootstrap server keeps the index list and creates the
// indexes on a restarted shard server before assigning it (no INDEX_NOT_FOUND on one shard);
// stat() reports a down shard instead of failing.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard, hashKey } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

interface Ctx { cluster: TcpCluster; db: Pyshard }
const test = suite<Ctx>('bootstrap: index list, shard down', {} as never)

test.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 2, healthInterval: 100 })
  ctx.db = await Pyshard.connect({ bootstrap: ctx.cluster.target, requestTimeout: 1000, connectTimeout: 500 })
  await ctx.db.createIndex('a')
  await ctx.db.createIndex('b')
})
test.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.cluster?.stop()
})

function keyOn(index: string, from: number, to: number): string {
  for (let i = 0; ; i++) {
    const h = hashKey(index, `k${i}`)
    if (h >= from && h < to) return `k${i}`
  }
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25))
  assert.ok(ok(), what)
}

test('the bootstrap learns the index list from the shard servers (created and dropped by clients)', async (ctx) => {
  await until('a and b listed', () => ctx.cluster.bootstrap.indexes.join() === 'a,b')
  await ctx.db.createIndex('c')
  await until('c listed', () => ctx.cluster.bootstrap.indexes.includes('c'))
  await ctx.db.dropIndex('c')
  await until('c gone', () => !ctx.cluster.bootstrap.indexes.includes('c'))
  assert.equal((await ctx.db.indexes()).sort(), ['a', 'b'])
})

test('one shard down: stat() reports it down with the error, the other up', async (ctx) => {
  const down = ctx.cluster.servers[1] as ShardServer
  await down.destroy()
  const stats = await ctx.db.stat()
  assert.equal(stats.map((s) => s.status), ['up', 'down'])
  assert.ok((stats[1]?.error ?? '').length > 0)
  await until('the bootstrap sees it down', () => ctx.cluster.bootstrap.stat()[1]?.up === false)
})

test('a restarted (empty) shard server gets every index before its assignment: no INDEX_NOT_FOUND', async (ctx) => {
  const port = (ctx.cluster.config.shards[1] as { port: number }).port
  const assigned = new Promise((resolve) => ctx.cluster.bootstrap.once('configured', resolve))
  const fresh = new ShardServer({ port })
  await fresh.listen()
  ctx.cluster.servers[1] = fresh
  await assigned
  const key = keyOn('b', 0.5, 1)
  await ctx.db.write('b', key, 'here')
  assert.is((await ctx.db.read('b', key))?.record, 'here')
  assert.equal((await ctx.db.stat()).map((s) => s.status), ['up', 'up'])
})

test.run()
