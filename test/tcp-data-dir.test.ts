// ShardServer({ dataDir }): a graceful restart keeps the data. close() saves after draining, a new
// server on the same directory loads it before it listens, and the bootstrap server assigns the
// restarted server again. A save that fails is an 'error' event, not a crash.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

interface Ctx { dir: string; cluster: TcpCluster | null; stores: Pyshard[]; servers: ShardServer[] }

const test = suite<Ctx>('tcp: ShardServer dataDir', {} as Ctx)

test.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-data-dir-'))
  ctx.cluster = null
  ctx.stores = []
  ctx.servers = []
})

test.after(async (ctx) => {
  for (const db of ctx.stores) await db.close()
  await ctx.cluster?.stop()
  for (const s of ctx.servers) await s.destroy()
  rmSync(ctx.dir, { recursive: true, force: true })
})

test('written through a client, close(), a new server on the same dataDir: the bootstrap assigns it, reads come back', async (ctx) => {
  const dataDir = join(ctx.dir, 'shard0')
  const cluster = await startTcpCluster({ shards: 1, server: { dataDir } })
  ctx.cluster = cluster
  const db = await Pyshard.connect({ bootstrap: cluster.target })
  ctx.stores.push(db)
  await db.createIndex('kept')
  const pairs = Array.from({ length: 500 }, (_, i) => [`k${i}`, { i }] as [string, { i: number }])
  await db.writeMany('kept', pairs)
  await db.write('kept', 'ttl', 'soon gone', { ttl: 60_000 })

  const old = cluster.servers[0] as ShardServer
  const port = (old.address as { port: number }).port
  await old.close()
  const restarted = new ShardServer({ port, dataDir })
  cluster.servers[0] = restarted
  const configured = new Promise((resolve) => restarted.once('configured', resolve))
  await restarted.listen()
  // Loaded before listening: the settings are the saved ones, then the bootstrap server assigns them again.
  assert.is(restarted.settings.name, 'shard0')
  await configured

  const again = await Pyshard.connect({ bootstrap: cluster.target })
  ctx.stores.push(again)
  const got = await again.readMany('kept', pairs.map(([k]) => k))
  got.forEach((e, i) => assert.equal(e?.record, { i }))
  assert.is((await again.read('kept', 'ttl'))?.record, 'soon gone')
  // The first client reconnects by itself too.
  assert.equal((await db.read('kept', 'k7'))?.record, { i: 7 })
})

test('a save that fails (dataDir is a file) is an error event; close() still resolves', async (ctx) => {
  const file = join(ctx.dir, 'not-a-dir')
  writeFileSync(file, 'x')
  const server = new ShardServer({ dataDir: file })
  ctx.servers.push(server)
  const errors: Error[] = []
  server.on('error', (err) => errors.push(err))
  await server.listen()
  await server.snapshot()
  await server.close()
  assert.is(errors.length, 2)
  assert.match(errors[0]?.message ?? '', 'saving the snapshot')
})

test('options are checked', () => {
  assert.throws(() => new ShardServer({ dataDir: '' }), /options\.dataDir/)
  assert.throws(() => new ShardServer({ snapshotInterval: 0 }), /options\.snapshotInterval/)
})

test.run()
