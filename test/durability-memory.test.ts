// Pyshard.open({ dataDir }) for in-process shards: a store opened again on the dir serves what
// was written, and every kind of removal stays removed (remove, pop, evict, expire, dropIndex).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ManualClock, Pyshard, PyshardError } from '../src/index.js'
import { ROOT } from './helpers/cli.js'

interface Ctx { dir: string; stores: Pyshard[] }
const test = suite<Ctx>('durability: memory shards with dataDir', {} as Ctx)

test.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-mem-dir-'))
  ctx.stores = []
})

test.after(async (ctx) => {
  for (const db of ctx.stores) await db.close().catch(() => {})
  rmSync(ctx.dir, { recursive: true, force: true })
})

test('writes, removes, pops, expiries and a dropped index are all as they were after reopening', async (ctx) => {
  const dataDir = join(ctx.dir, 'a')
  const clock = new ManualClock(1_000_000)
  const db = await Pyshard.open({ shards: 3, dataDir, now: clock })
  await db.createIndex('users')
  await db.createIndex('gone')
  await db.createIndex('empty')
  await db.writeMany('users', Array.from({ length: 1000 }, (_, i) => [`u${i}`, { i }] as [string, { i: number }]))
  await db.writeMany('gone', [['a', 1], ['b', 2]])
  await db.write('users', 'u1', { i: 'changed' })
  await db.remove('users', 'u2')
  assert.equal((await db.pop('users', 'u3'))?.record, { i: 3 })
  await db.write('users', 'short', 's', { ttl: 1000 })
  await db.write('users', 'long', 'l', { ttl: 100_000 })
  await db.write('users', '\ud800lone', 'lone surrogate key')
  const longKey = 'k'.repeat(5000)
  await db.write('users', longKey, 'a long key')
  await db.dropIndex('gone')
  clock.advance(2000)
  assert.is(await db.read('users', 'short'), null)
  await db.close()
  // One dir per shard, and the store's map beside them.
  assert.equal(readdirSync(dataDir).sort(), ['%store', 'shard0', 'shard1', 'shard2'])

  const again = await Pyshard.open({ shards: 3, dataDir, now: clock })
  ctx.stores.push(again)
  assert.equal((await again.indexes()).sort(), ['empty', 'users'])
  assert.equal((await again.read('users', 'u1'))?.record, { i: 'changed' })
  assert.is(await again.read('users', 'u2'), null)
  assert.is(await again.read('users', 'u3'), null)
  assert.is(await again.read('users', 'short'), null)
  assert.is((await again.read('users', 'long'))?.record, 'l')
  assert.is((await again.read('users', '\ud800lone'))?.record, 'lone surrogate key')
  assert.is((await again.read('users', longKey))?.record, 'a long key')
  assert.is((await again.read('users', 'u999'))?.record?.constructor, Object)
  const stats = await again.stat()
  assert.is(stats.reduce((n, s) => n + s.count, 0), 1000 - 2 + 3)
  // The long entry keeps its expiry time across the restart.
  clock.advance(100_000)
  assert.is(await again.read('users', 'long'), null)
  await again.createIndex('gone')
  assert.is(await again.read('gone', 'a'), null)
})

test('evictions are recorded: an evicted key does not come back', async (ctx) => {
  const dataDir = join(ctx.dir, 'evict')
  const db = await Pyshard.open({ shards: 1, size: 4000, onFull: 'evict', dataDir })
  await db.createIndex('c')
  for (let i = 0; i < 100; i++) await db.write('c', `k${i}`, 'x'.repeat(100))
  const live = (await db.stat())[0]?.count as number
  assert.ok(live < 100)
  await db.close()
  const again = await Pyshard.open({ shards: 1, size: 4000, onFull: 'evict', dataDir })
  ctx.stores.push(again)
  assert.is((await again.stat())[0]?.count, live)
  assert.is(await again.read('c', 'k0'), null)
  assert.is((await again.read('c', 'k99'))?.record, 'x'.repeat(100))
})

test('a dir written with another range is refused (DATA_DIR), and a dir cannot be opened twice', async (ctx) => {
  const dataDir = join(ctx.dir, 'range')
  const db = await Pyshard.open({ shards: 2, dataDir })
  ctx.stores.push(db)
  const twice = await Pyshard.open({ shards: 2, dataDir }).catch((e: unknown) => e)
  assert.instance(twice, PyshardError)
  assert.is((twice as PyshardError).code, 'DATA_DIR')
  assert.match((twice as Error).message, 'already open in this process')
  await db.close()
  const err = await Pyshard.open({ shards: 4, dataDir }).catch((e: unknown) => e)
  assert.is((err as PyshardError).code, 'DATA_DIR')
  assert.match((err as Error).message, join(dataDir, 'shard0'))
  // The refusal gave back the dirs it had opened: the right config opens them.
  const ok = await Pyshard.open({ shards: 2, dataDir })
  ctx.stores.push(ok)
})

test('worker shards: a store reopened on the dir serves what the workers had (fsync always)', async (ctx) => {
  const dataDir = join(ctx.dir, 'workers')
  const db = await Pyshard.open({ transport: 'worker', shards: 2, dataDir, fsync: 'always' })
  await db.createIndex('w')
  await db.writeMany('w', Array.from({ length: 200 }, (_, i) => [`k${i}`, i] as [string, number]))
  await db.remove('w', 'k0')
  await db.close()
  const again = await Pyshard.open({ transport: 'worker', shards: 2, dataDir })
  ctx.stores.push(again)
  assert.is(await again.read('w', 'k0'), null)
  assert.is((await again.read('w', 'k199'))?.record, 199)
  assert.is((await again.stat()).reduce((n, s) => n + s.count, 0), 199)
})

test('a dir held by a worker thread is refused to another thread of the process, and the refusal leaves its lock alone', async (ctx) => {
  const dataDir = join(ctx.dir, 'threads')
  const workers = await Pyshard.open({ transport: 'worker', shards: 2, dataDir })
  await workers.createIndex('t')
  await workers.write('t', 'k', 'from the worker')
  // A thread of this process (not one of the store's) opens a shard's dir that a worker holds
  // (as a shard server would), then the store's dir (which the store holds in this thread).
  const inThread = (code: string): Promise<string> => new Promise((resolve, reject) => {
    const w = new Worker(`import('${pathToFileURL(join(ROOT, 'dist/src/index.js')).href}').then(async ({ Pyshard }) => {
      const { parentPort, workerData } = await import('node:worker_threads')
      try { ${code}; parentPort.postMessage('opened') } catch (e) { parentPort.postMessage(e.code + ': ' + e.message) }
    })`, { eval: true, workerData: { dataDir } })
    w.once('message', (m: string) => { void w.terminate().then(() => resolve(m)) })
    w.once('error', reject)
  })
  const inode = (dir: string): number => statSync(join(dataDir, dir, 'pyshard.lock')).ino
  const held = { shard0: inode('shard0'), store: inode('%store') }
  for (const code of [
    `const { ShardServer } = await import('${pathToFileURL(join(ROOT, 'dist/transports/tcp/servers.js')).href}')
     await new ShardServer({ port: 0, dataDir: workerData.dataDir + '/shard0' }).listen()`,
    'await Pyshard.open({ shards: 2, dataDir: workerData.dataDir })',
  ]) {
    const answer = await inThread(code)
    assert.match(answer, /^DATA_DIR: .*is already open in another thread of this process/, answer)
    // The holders' lock files are the same files: not removed, not written again.
    assert.is(inode('shard0'), held.shard0, 'the refused attempt replaced the holder\'s lock file')
    assert.is(inode('%store'), held.store, 'the refused attempt replaced the store\'s lock file')
  }
  // In this thread the store's own dir is refused first, and a worker store the same.
  for (const attempt of [{ shards: 2, dataDir }, { transport: 'worker' as const, shards: 2, dataDir }]) {
    const err = await Pyshard.open(attempt).catch((e: unknown) => e)
    assert.is((err as PyshardError).code, 'DATA_DIR', JSON.stringify(attempt))
    assert.match((err as Error).message, 'already open in this process')
  }
  // The holder was not disturbed, and once it closes the dir opens again.
  assert.is((await workers.read('t', 'k'))?.record, 'from the worker')
  await workers.write('t', 'k2', 'after the refusals')
  await workers.close()
  const here = await Pyshard.open({ shards: 2, dataDir })
  ctx.stores.push(here)
  assert.is((await here.read('t', 'k2'))?.record, 'after the refusals')
})

test('a worker that is killed comes back with its data dir\'s contents, and its dir lock does not keep it out', async (ctx) => {
  const dataDir = join(ctx.dir, 'killed')
  const started: Array<{ worker: { terminate(): Promise<number> } }> = []
  const onStart = (msg: unknown): void => { started.push(msg as (typeof started)[number]) }
  subscribe('pyshard:worker:start', onStart)
  const db = await Pyshard.open({ transport: 'worker', shards: 2, workers: 1, dataDir, fsync: 'always' })
  try {
    await db.createIndex('w')
    await db.writeMany('w', Array.from({ length: 300 }, (_, i) => [`k${i}`, i] as [string, number]))
    await db.remove('w', 'k7')
    for (let round = 1; round <= 2; round++) {
      assert.is(started.length, round)
      await started[round - 1]?.worker.terminate()
      // The next request waits for the restarted worker, which loads its shards from their dirs.
      const got = await db.readMany('w', Array.from({ length: 300 }, (_, i) => `k${i}`))
      assert.is(got.filter((e, i) => i !== 7 && e?.record !== i).length, 0, `round ${round}: every acknowledged write is back`)
      assert.is(got[7], null, `round ${round}: the removed key stays removed`)
      await db.write('w', `after${round}`, round)
    }
    assert.is((await db.read('w', 'after1'))?.record, 1)
  } finally {
    unsubscribe('pyshard:worker:start', onStart)
    await db.close()
  }
})

test('options are checked', async () => {
  let e = await Pyshard.open({ dataDir: '' }).catch((x: unknown) => x)
  assert.match((e as Error).message, 'options.dataDir')
  e = await Pyshard.open({ fsync: 'always' }).catch((x: unknown) => x)
  assert.match((e as Error).message, 'options.fsync needs options.dataDir')
  e = await Pyshard.open({ dataDir: 'x', fsync: 'sometimes' as 'no' }).catch((x: unknown) => x)
  assert.match((e as Error).message, 'options.fsync must be')
})

test('importing pyshard and opening a store without a data dir loads no lmdb', () => {
  const script = `const { Pyshard } = await import('./dist/src/index.js'); const db = await Pyshard.open({ shards: 2 });
    await db.createIndex('i'); await db.write('i', 'k', 1); await db.close();
    const libs = process.report.getReport().sharedObjects.filter((s) => /lmdb/.test(s));
    process.stdout.write(JSON.stringify(libs))`
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(JSON.parse(out), [])
})

test.run()
