// The scenario: a 2-shard cluster with 10,000 entries, then the bootstrap restarted with a
// 3-shard config. It must lose nothing: the bootstrap refuses, naming `pyshard reshard`, and the
// reshard itself moves every entry to its new owner.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { BootstrapServer, ShardServer } from '../transports/tcp/servers.js'
import type { ClusterConfig } from '../src/index.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

const N = 10_000

interface Ctx { cluster: TcpCluster; third: ShardServer; db: Pyshard | undefined }
const test = suite<Ctx>('reshard: a changed config never drops data', {} as never)

test.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 2 })
  ctx.third = new ShardServer()
  await ctx.third.listen()
  const db = await Pyshard.connect(ctx.cluster.target)
  await db.createIndex('users')
  const keys = Array.from({ length: N }, (_, i) => `u${i}`)
  for (let i = 0; i < N; i += 500) await db.writeMany('users', keys.slice(i, i + 500).map((k) => [k, { id: k }]))
  await db.close()
})
test.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.cluster?.stop()
  await ctx.third?.destroy()
})

function threeShards(ctx: Ctx): ClusterConfig {
  const [a, b] = ctx.cluster.config.shards as unknown as [{ port: number }, { port: number }]
  return { transport: 'tcp', epoch: 2, shards: [
    { name: 'shard0', start: 0, end: 1 / 3, host: '127.0.0.1', port: a.port },
    { name: 'shard1', start: 1 / 3, end: 2 / 3, host: '127.0.0.1', port: b.port },
    { name: 'shard2', start: 2 / 3, end: 1, host: '127.0.0.1', port: (ctx.third.address as { port: number }).port },
  ] }
}

async function countAll(target: string): Promise<{ found: number; counted: number; handover: number }> {
  const db = await Pyshard.connect(target)
  try {
    const keys = Array.from({ length: N }, (_, i) => `u${i}`)
    const found = (await db.readMany('users', keys)).filter((e) => e !== null).length
    const stats = await db.stat()
    return { found, counted: stats.reduce((a, s) => a + s.count, 0), handover: stats.reduce((a, s) => a + ((s as { handover?: number }).handover ?? 0), 0) }
  } finally {
    await db.close()
  }
}

test('a bootstrap restarted with a 3-shard config refuses, names pyshard reshard, and changes nothing', async (ctx) => {
  const { port } = ctx.cluster.bootstrap.address as { port: number }
  await ctx.cluster.bootstrap.close()
  const next = new BootstrapServer({ config: threeShards(ctx), port, healthInterval: 60_000 })
  try {
    await next.listen()
    assert.unreachable('it must refuse')
  } catch (err) {
    assert.is((err as { code?: string }).code, 'BAD_CONFIG')
    assert.match((err as Error).message, /pyshard reshard/)
  } finally {
    await next.close()
  }
  assert.equal(ctx.cluster.servers.map((s) => [s.settings.start, s.settings.end]), [[0, 0.5], [0.5, 1]])
  // The old config runs again, whole.
  ctx.cluster.bootstrap = new BootstrapServer({ config: ctx.cluster.config, port, healthInterval: 60_000 })
  await ctx.cluster.bootstrap.listen()
  assert.equal(await countAll(ctx.cluster.target), { found: N, counted: N, handover: 0 })
})

test('reshard 2 -> 3 moves every entry to its new owner; nothing lost, nothing on two owners', async (ctx) => {
  const result = await ctx.cluster.bootstrap.reshard(threeShards(ctx))
  assert.is(result.epoch, 2)
  assert.ok(result.moved > 0)
  assert.is(result.dropped, result.moved)
  assert.is(ctx.cluster.bootstrap.map.shards.length, 3)
  assert.equal(await countAll(ctx.cluster.target), { found: N, counted: N, handover: 0 })
  assert.equal(ctx.third.settings.epoch, 2)
  assert.ok(ctx.cluster.bootstrap.stat().every((h) => h.up && h.configured))
})

test('reshard back 3 -> 2 (retiring a server) loses nothing; the retired server holds nothing', async (ctx) => {
  const result = await ctx.cluster.bootstrap.reshard({ ...ctx.cluster.config, epoch: 3 })
  assert.is(result.epoch, 3)
  assert.equal(await countAll(ctx.cluster.target), { found: N, counted: N, handover: 0 })
  assert.equal([ctx.third.settings.start, ctx.third.settings.end], [0, 0])
})

test.run()
