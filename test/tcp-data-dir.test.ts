// ShardServer({ dataDir }): a restart on the same dir keeps the data (it is loaded before the server
// listens) and the bootstrap server assigns the restarted server again; an old snapshot is imported
// once; a dir that cannot be used stops listen(). Crashes: test/crash-*.test.ts.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard, Shard, hashKey } from '../src/index.js'
import type { PyshardError } from '../src/index.js'
import { saveSnapshot } from '../transports/tcp/snapshot.js'
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

test('an old JSON-lines snapshot in the dir is imported once, then kept aside as .imported', async (ctx) => {
  const dataDir = join(ctx.dir, 'old')
  const shard = new Shard({ name: 'legacy', size: 1 << 20 })
  shard.createIndex('i')
  shard.write('i', 'a', hashKey('i', 'a'), { v: 1 })
  shard.createIndex('empty')
  await saveSnapshot(shard, dataDir)
  writeFileSync(join(dataDir, 'shard.snapshot.jsonl.123.tmp'), 'left over by a kill during a save')
  const server = new ShardServer({ port: 0, dataDir })
  ctx.servers.push(server)
  await server.listen()
  assert.is(server.settings.name, 'legacy')
  assert.ok(existsSync(join(dataDir, 'shard.snapshot.jsonl.imported')))
  assert.not.ok(existsSync(join(dataDir, 'shard.snapshot.jsonl')))
  assert.not.ok(existsSync(join(dataDir, 'shard.snapshot.jsonl.123.tmp')))
  const db = await Pyshard.open({ config: { shards: [{ name: 'legacy', host: '127.0.0.1', port: (server.address as { port: number }).port }] } })
  ctx.stores.push(db)
  assert.equal((await db.read('i', 'a'))?.record, { v: 1 })
  await db.remove('i', 'a')
  await db.close()
  ctx.stores.length = 0
  await server.close()
  // Started again: the lmdb data is what counts (the removal holds), nothing is imported twice.
  const again = new ShardServer({ port: 0, dataDir })
  ctx.servers.push(again)
  await again.listen()
  const db2 = await Pyshard.open({ config: { shards: [{ name: 'legacy', host: '127.0.0.1', port: (again.address as { port: number }).port }] } })
  ctx.stores.push(db2)
  assert.is(await db2.read('i', 'a'), null)
  assert.equal((await db2.indexes()).sort(), ['empty', 'i'])
})

test('a dir that is a file: listen() rejects with DATA_DIR naming it, and nothing listens', async (ctx) => {
  const file = join(ctx.dir, 'not-a-dir')
  writeFileSync(file, 'x')
  const server = new ShardServer({ dataDir: file })
  ctx.servers.push(server)
  const err = await server.listen().catch((e: unknown) => e)
  assert.is((err as PyshardError).code, 'DATA_DIR')
  assert.match((err as Error).message, file)
  assert.is(server.address, null)
})

test('options are checked', () => {
  assert.throws(() => new ShardServer({ dataDir: '' }), /options\.dataDir/)
  assert.throws(() => new ShardServer({ fsync: 'often' as 'no' }), /options\.fsync must be one of 'always', 'everysec', 'no'/)
  assert.throws(() => new ShardServer({ snapshotInterval: 1000 } as object), /options\.snapshotInterval is gone/)
})

test.run()
