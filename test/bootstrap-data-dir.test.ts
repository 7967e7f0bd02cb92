// A bootstrap server with a data dir keeps the cluster's metadata across a restart: the index
// list (created on a fresh shard server while the others are down) and the map a reshard put in
// force (served even when its config file still holds the older one).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { BootstrapServer, ShardServer } from '../transports/tcp/servers.js'
import type { ClusterConfig } from '../src/index.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

interface Ctx { dir: string; cluster: TcpCluster; extra: ShardServer[]; boots: BootstrapServer[] }
const test = suite<Ctx>('bootstrap server with a data dir', {} as Ctx)

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-boot-data-'))
  ctx.cluster = await startTcpCluster({ shards: 2 })
  ctx.extra = []
  ctx.boots = []
})
test.after(async (ctx) => {
  for (const b of ctx.boots) await b.close()
  await ctx.cluster?.stop()
  for (const s of ctx.extra) await s.destroy()
  rmSync(ctx.dir, { recursive: true, force: true })
})

function boot(ctx: Ctx, config: ClusterConfig): BootstrapServer {
  const b = new BootstrapServer({ config, dataDir: join(ctx.dir, 'boot'), healthInterval: 60_000 })
  ctx.boots.push(b)
  return b
}

test('options.dataDir is checked', () => {
  assert.throws(() => new BootstrapServer({ config: { shards: [] }, dataDir: '' }), /options\.dataDir must be a non-empty string/)
})

test('the map a reshard put in force is served after a restart with the old config file', async (ctx) => {
  const { cluster } = ctx
  await cluster.bootstrap.close()
  const first = boot(ctx, cluster.config)
  await first.listen()
  const db = await Pyshard.connect({ bootstrap: `127.0.0.1:${(first.address as { port: number }).port}` })
  await db.createIndex('users')
  await db.writeMany('users', Array.from({ length: 500 }, (_, i) => [`u${i}`, i]))
  await db.close()
  const third = new ShardServer()
  ctx.extra.push(third)
  await third.listen()
  const [a, b] = cluster.config.shards as unknown as [{ port: number }, { port: number }]
  const three: ClusterConfig = { transport: 'tcp', shards: [
    { name: 'shard0', start: 0, end: 0.3, host: '127.0.0.1', port: a.port },
    { name: 'shard1', start: 0.3, end: 0.7, host: '127.0.0.1', port: b.port },
    { name: 'shard2', start: 0.7, end: 1, host: '127.0.0.1', port: (third.address as { port: number }).port },
  ] }
  assert.is((await first.reshard(three)).epoch, 2)
  await first.close()

  const again = boot(ctx, cluster.config)
  const events: unknown[] = []
  again.on('recovered', (e) => events.push(e))
  await again.listen()
  assert.is(again.map.epoch, 2)
  assert.is(again.map.shards.length, 3)
  assert.equal(events, [{ epoch: 2, reshard: null }])
  const fresh = await Pyshard.connect(`127.0.0.1:${(again.address as { port: number }).port}`)
  try {
    const got = await fresh.readMany('users', Array.from({ length: 500 }, (_, i) => `u${i}`))
    assert.is(got.filter((e) => e === null).length, 0)
  } finally {
    await fresh.close()
  }
  await again.close()
})

test('the index list survives a restart: a fresh shard server gets it while the others are down', async (ctx) => {
  const { cluster } = ctx
  const third = ctx.extra[0] as ShardServer
  const config = (ctx.boots.at(-1) as BootstrapServer).map.config
  // shard0 and shard1 go down; shard2's server is replaced by an empty one on the same port.
  const port = (third.address as { port: number }).port
  await third.destroy()
  for (const s of cluster.servers) await s.destroy()
  const empty = new ShardServer({ port })
  ctx.extra.push(empty)
  await empty.listen()
  const again = boot(ctx, config)
  await again.listen()
  assert.equal(again.indexes, ['users'])
  assert.ok(empty.settings.epoch === 2, 'assigned')
  const db = await Pyshard.open({ config: { shards: [{ name: 'shard2', host: '127.0.0.1', port, start: 0, end: 1 }] } })
  try {
    assert.equal(await db.indexes(), ['users'], 'created on the fresh server before it was assigned')
  } finally {
    await db.close()
  }
})

test.run()
