// fsync 'always' must answer a write only after the engine's durable promise (lmdb's flushed
// commit) resolves. kill -9 cannot show this (the OS writes its cache out anyway), so the
// promise is held here: while it is pending, the write stays unanswered.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { DataDir } from '../src/persist/data-dir.js'
import { ShardServer } from '../transports/tcp/servers.js'

interface Ctx { dir: string; stores: Pyshard[]; servers: ShardServer[]; restore: () => void; log: string[]; release: () => void }
const test = suite<Ctx>('durability: always waits for the durable promise', {} as Ctx)

test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-always-order-'))
  ctx.stores = []
  ctx.servers = []
  ctx.log = []
  // Every durable promise the hosts ask for is held until `release()`; the real one is logged when it resolves.
  const original = Object.getOwnPropertyDescriptor(DataDir.prototype, 'durable')?.value as (this: DataDir) => Promise<void> | null
  let open!: () => void
  let gate = new Promise<void>((r) => { open = r })
  ctx.release = () => {
    open()
    gate = new Promise<void>((r) => { open = r })
  }
  DataDir.prototype.durable = function durable(this: DataDir): Promise<void> | null {
    const real = original.call(this)
    if (real === null) return null
    ctx.log.push('asked')
    const held = gate
    return Promise.all([real.then(() => { ctx.log.push('flushed') }), held]).then(() => {})
  }
  ctx.restore = () => { DataDir.prototype.durable = original }
})

test.after.each(async (ctx) => {
  ctx.restore()
  for (const db of ctx.stores) await db.close().catch(() => {})
  for (const s of ctx.servers) await s.close()
  rmSync(ctx.dir, { recursive: true, force: true })
})

async function pendingFor(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false
  void p.then(() => { settled = true }, () => { settled = true })
  await new Promise((r) => setTimeout(r, ms))
  return !settled
}

test('shard server: the batch answer waits for the commit on disk', async (ctx) => {
  const server = new ShardServer({ port: 0, dataDir: join(ctx.dir, 's'), fsync: 'always' })
  ctx.servers.push(server)
  const { port } = await server.listen()
  const db = await Pyshard.open({ config: { shards: [{ name: 'shard', host: '127.0.0.1', port }] } })
  ctx.stores.push(db)
  const created = db.createIndex('i')
  assert.ok(await pendingFor(created, 100), 'createIndex answered before its commit was durable')
  do ctx.release()
  while (await pendingFor(created, 20))
  const writes = Array.from({ length: 50 }, (_, i) => db.write('i', `k${i}`, i).then(() => { ctx.log.push('answered') }))
  assert.ok(await pendingFor(Promise.all(writes), 100))
  assert.not.ok(ctx.log.includes('answered'))
  // The writes may have arrived over more than one turn (more than one commit): release each.
  const all = Promise.all(writes)
  do ctx.release()
  while (await pendingFor(all, 20))
  const firstAnswer = ctx.log.indexOf('answered')
  assert.ok(ctx.log.lastIndexOf('flushed', firstAnswer) > ctx.log.indexOf('asked'), ctx.log.join(' '))
  // A read that saw nothing unflushed does not wait.
  assert.is((await db.read('i', 'k1'))?.record, 1)
})

test('memory shards: the write promise resolves after the commit on disk', async (ctx) => {
  const db = await Pyshard.open({ shards: 2, dataDir: join(ctx.dir, 'm'), fsync: 'always' })
  ctx.stores.push(db)
  const created = db.createIndex('i')
  assert.ok(await pendingFor(created, 100))
  do ctx.release()
  while (await pendingFor(created, 20))
  const w = db.write('i', 'k', 'v').then(() => { ctx.log.push('answered') })
  assert.ok(await pendingFor(w, 100))
  do ctx.release()
  while (await pendingFor(w, 20))
  assert.ok(ctx.log.indexOf('flushed') < ctx.log.indexOf('answered'), ctx.log.join(' '))
})

test('everysec answers at once (no durable promise)', async (ctx) => {
  const db = await Pyshard.open({ shards: 1, dataDir: join(ctx.dir, 'e') })
  ctx.stores.push(db)
  await db.createIndex('i')
  await db.write('i', 'k', 'v')
  assert.equal(ctx.log, [])
})

test.run()
