// kill -9 of a shard server with the default fsync (everysec): everything acknowledged 1.5 s
// before the kill survives; a damaged data dir stops start-up with one DATA_DIR error naming it.
import { mkdirSync, writeFileSync, openSync, writeSync, closeSync, truncateSync, statSync } from 'node:fs'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { crashSuite, failingChildShard, openOn, startChildShard } from './helpers/crash-shard.js'

const test = crashSuite('crash: kill -9 with fsync everysec; damaged dirs', 'pyshard-crash-everysec-')

test('everything acknowledged 1.5 s before the kill survives, with writes still going on at the kill', async (ctx) => {
  const dir = join(ctx.dir, 'd')
  const first = await startChildShard(dir, 'everysec')
  ctx.shards.push(first)
  const db = await openOn(first.port)
  await db.createIndex('e')
  const early = Array.from({ length: 3000 }, (_, i) => [`k${i}`, { i }] as [string, { i: number }])
  await db.writeMany('e', early)
  await Promise.all(Array.from({ length: 500 }, (_, i) => db.remove('e', `k${i}`)))
  await new Promise((r) => setTimeout(r, 1500))
  let stop = false
  let n = 0
  const late = (async () => {
    while (!stop) await db.write('e', `late${n++}`, n).catch(() => { stop = true })
  })()
  await new Promise((r) => setTimeout(r, 100))
  await first.kill()
  stop = true
  await late
  await db.close().catch(() => {})

  const second = await startChildShard(dir, 'everysec')
  ctx.shards.push(second)
  const again = await openOn(second.port)
  ctx.stores.push(again)
  const got = await again.readMany('e', early.map(([k]) => k))
  got.forEach((e, i) => {
    if (i < 500) assert.is(e, null, `k${i} was removed`)
    else assert.equal(e?.record, { i })
  })
})

test('a damaged data.mdb: exit 1 and one error naming the dir; nothing is served', async (ctx) => {
  const garbage = join(ctx.dir, 'garbage')
  mkdirSync(garbage)
  writeFileSync(join(garbage, 'data.mdb'), Buffer.alloc(16384, 0x5a))
  const r = await failingChildShard(garbage)
  assert.is(r.code, 1)
  assert.match(r.stderr, `data dir ${garbage}`)
  assert.match(r.stderr, 'damaged')
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr)
})

test('a truncated data.mdb is refused the same way', async (ctx) => {
  const dir = join(ctx.dir, 'cut')
  const s = await startChildShard(dir, 'always')
  ctx.shards.push(s)
  const db = await openOn(s.port)
  await db.createIndex('t')
  await db.writeMany('t', Array.from({ length: 20_000 }, (_, i) => [`k${i}`, 'x'.repeat(100)] as [string, string]))
  await s.kill()
  await db.close().catch(() => {})
  const file = join(dir, 'data.mdb')
  truncateSync(file, Math.floor(statSync(file).size / 4))
  // Also scribble over the first meta page: no valid meta page is left pointing inside the file.
  const fd = openSync(file, 'r+')
  writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, 24)
  closeSync(fd)
  const r = await failingChildShard(dir)
  assert.is(r.code, 1)
  assert.match(r.stderr, `data dir ${dir}`)
})

test('a dir held by a running shard server is refused, naming the process', async (ctx) => {
  const dir = join(ctx.dir, 'held')
  const s = await startChildShard(dir, 'everysec')
  ctx.shards.push(s)
  const r = await failingChildShard(dir)
  assert.is(r.code, 1)
  assert.match(r.stderr, `in use by process ${s.child.pid}`)
})

test.run()
