// Worker faults: a worker killed or crashing mid-traffic fails what it held with
// SHARD_UNAVAILABLE, reports its shards down, restarts them empty (with their
// indexes), and the other workers' shards never notice.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Worker } from 'node:worker_threads'
import { Pyshard, PyshardError, hashKey } from '../src/index.js'
import type { ShardDownEvent } from '../src/index.js'
import type { WorkerStartMessage } from '../transports/worker/index.js'

const processors = 'test/helpers/worker-processors.ts'

interface Ctx { db: Pyshard | null; started: WorkerStartMessage[]; onStart: (m: unknown) => void }
const test = suite<Ctx>('worker faults', { db: null, started: [], onStart: () => {} })

test.before.each((ctx) => {
  ctx.started = []
  ctx.onStart = (m) => ctx.started.push(m as WorkerStartMessage)
  subscribe('pyshard:worker:start', ctx.onStart)
})
test.after.each(async (ctx) => {
  unsubscribe('pyshard:worker:start', ctx.onStart)
  await ctx.db?.close()
  ctx.db = null
})

/** Keys of `index` that land on shard `name`. */
function keysOn(db: Pyshard, index: string, name: string, n: number, prefix = 'k'): string[] {
  const out: string[] = []
  for (let i = 0; out.length < n; i++) {
    const key = `${prefix}${i}`
    if (db.map.shards[db.map.lookup(hashKey(index, key))]?.name === name) out.push(key)
  }
  return out
}

/**
 * The next `event` for `shard`. An idle store holds no reference on its workers
 * (so it never keeps a process alive), hence the timer that keeps this one
 * alive while the test waits for a background restart.
 */
function once<T>(db: Pyshard, event: 'shardUp' | 'shardDown', shard: string, timeoutMs = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return new Promise<T>((resolve, reject) => {
    const on = (e: { shard: string }): void => {
      if (e.shard !== shard) return
      db.off(event, on)
      resolve(e as T)
    }
    db.on(event, on)
    // Also the keep-alive: a missed event fails the test instead of hanging it.
    timer = setTimeout(() => {
      db.off(event, on)
      reject(new Error(`no ${event} for ${shard} within ${timeoutMs} ms`))
    }, timeoutMs)
  }).finally(() => clearTimeout(timer))
}

function workerOf(ctx: Ctx, shard: string): Worker {
  const w = ctx.started.filter((s) => s.shards.includes(shard)).at(-1)
  assert.ok(w !== undefined, `a worker hosts ${shard}`)
  return w.worker
}

test('a worker terminated mid-traffic: its pending requests fail SHARD_UNAVAILABLE, the others answer, it restarts empty and serves', async (ctx) => {
  const db = (ctx.db = await Pyshard.open({ shards: 4, workers: 2, transport: 'worker', processors }))
  assert.is(ctx.started.length, 2)
  const index = 'faults'
  await db.createIndex(index)
  const victim = 'shard0'
  const survivor = 'shard1'
  const victimMates = ctx.started.find((s) => s.shards.includes(victim))?.shards ?? []
  assert.not.ok(victimMates.includes(survivor), 'shard1 lives in the other worker')
  const old = keysOn(db, index, victim, 50, 'old')
  await db.writeMany(index, old.map((k) => [k, k]))

  const downs: ShardDownEvent[] = []
  db.on('shardDown', (e) => downs.push(e))
  const up = once(db, 'shardUp', victim)
  // Keep both workers busy so the writes below are surely in flight when the kill lands.
  const busy = db.run(index, 'spin', { ms: 300 }).catch((err: unknown) => err)
  const onVictim = keysOn(db, index, victim, 300, 'a')
  const onSurvivor = keysOn(db, index, survivor, 300, 'b')
  const victimWrites = Promise.allSettled(onVictim.map((k) => db.write(index, k, k)))
  const survivorWrites = Promise.allSettled(onSurvivor.map((k) => db.write(index, k, k)))
  await new Promise((r) => setTimeout(r, 50))
  await workerOf(ctx, victim).terminate()

  for (const r of await victimWrites) {
    assert.is(r.status, 'rejected')
    const err = (r as PromiseRejectedResult).reason as PyshardError
    assert.instance(err, PyshardError)
    assert.is(err.code, 'SHARD_UNAVAILABLE', err.message)
  }
  for (const r of await survivorWrites) assert.is(r.status, 'fulfilled', 'the other worker answered every write')
  const runErr = await busy
  assert.instance(runErr, PyshardError, 'run over a dead shard rejects')
  assert.is((runErr as PyshardError).code, 'SHARD_UNAVAILABLE')

  await up
  assert.equal(downs.map((d) => d.shard).sort(), [...victimMates].sort(), 'shardDown for each shard of the worker')
  assert.instance(downs[0]?.error, PyshardError)
  assert.is(ctx.started.length, 3, 'one restart')
  // Empty, but the index exists again (replayed), so reads answer null rather than INDEX_NOT_FOUND.
  assert.is(await db.read(index, old[0] as string), null)
  const fresh = keysOn(db, index, victim, 20, 'new')
  await db.writeMany(index, fresh.map((k) => [k, { k }]))
  for (const k of fresh) assert.equal((await db.read(index, k))?.record, { k })
  assert.ok((await db.indexes()).includes(index))
  for (const k of onSurvivor.slice(0, 20)) assert.is((await db.read(index, k))?.record, k)
})

test('a worker that throws (uncaught) is restarted: shardDown names the error, then shardUp', async (ctx) => {
  const db = (ctx.db = await Pyshard.open({ shards: 1, transport: 'worker', processors }))
  const index = 'crash'
  await db.createIndex(index)
  await db.write(index, 'before', 1)
  const down = once<ShardDownEvent>(db, 'shardDown', 'shard0')
  const up = once(db, 'shardUp', 'shard0')
  await db.run(index, 'crashLater', { message: 'worker boom 7' })
  const e = await down
  assert.match(e.error.message, 'worker boom 7')
  await up
  assert.is(await db.read(index, 'before'), null, 'the shard came back empty')
  await db.write(index, 'after', 2)
  assert.is((await db.read(index, 'after'))?.record, 2)
})

test('resourceLimits: a worker over its heap limit fails its request and restarts', async (ctx) => {
  const db = (ctx.db = await Pyshard.open({
    shards: 1, transport: 'worker', processors,
    transportOptions: { resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } },
  }))
  const index = 'hog'
  await db.createIndex(index)
  const up = once(db, 'shardUp', 'shard0')
  try {
    await db.run(index, 'hog')
    assert.unreachable('hog cannot finish')
  } catch (err) {
    assert.instance(err, PyshardError)
    assert.is((err as PyshardError).code, 'SHARD_UNAVAILABLE')
  }
  await up
  await db.write(index, 'k', 'v')
  assert.is((await db.read(index, 'k'))?.record, 'v')
})

test('maxInFlight bounds the requests held by one worker: beyond it, SHARD_UNAVAILABLE at once', async (ctx) => {
  const db = (ctx.db = await Pyshard.open({ shards: 1, transport: 'worker', processors, transportOptions: { maxInFlight: 100 } }))
  const index = 'bounded'
  await db.createIndex(index)
  const busy = db.run(index, 'spin', { ms: 200 })
  await new Promise((r) => setImmediate(r))
  const first = Promise.all(Array.from({ length: 60 }, (_, i) => db.write(index, `a${i}`, i)))
  await new Promise((r) => setImmediate(r))
  const second = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => db.write(index, `b${i}`, i)))
  for (const r of second) {
    assert.is(r.status, 'rejected')
    const err = (r as PromiseRejectedResult).reason as PyshardError
    assert.is(err.code, 'SHARD_UNAVAILABLE')
    assert.match(err.message, 'maxInFlight')
  }
  await first
  await busy
  assert.is(await db.has(index, 'a59'), true)
  assert.is(await db.has(index, 'b0'), false)
})

test('requestTimeout: a busy worker answers TIMEOUT, keeps its data and serves afterwards', async (ctx) => {
  const db = (ctx.db = await Pyshard.open({ shards: 1, transport: 'worker', processors, requestTimeout: 150 }))
  const index = 'slow'
  await db.createIndex(index)
  await db.write(index, 'k', 1)
  const slow = db.run(index, 'spin', { ms: 600 }).catch((e: unknown) => e)
  const err = await slow
  assert.instance(err, PyshardError)
  assert.is((err as PyshardError).code, 'TIMEOUT')
  // The worker is still spinning: later requests queue behind it and may time out too, until it is done.
  let read: unknown
  for (;;) {
    try {
      read = (await db.read(index, 'k'))?.record
      break
    } catch (e) {
      assert.is((e as PyshardError).code, 'TIMEOUT')
    }
  }
  assert.is(read, 1, 'the worker was not restarted')
  assert.is(ctx.started.length, 1)
})

test('a processors module that cannot load: open rejects BAD_CONFIG', async () => {
  try {
    await Pyshard.open({ shards: 2, transport: 'worker', processors: 'test/helpers/no-such-module.ts' })
    assert.unreachable('open should reject')
  } catch (err) {
    assert.instance(err, PyshardError)
    assert.is((err as PyshardError).code, 'BAD_CONFIG')
  }
})

test('after close, operations reject SHARD_UNAVAILABLE', async (ctx) => {
  const db = await Pyshard.open({ shards: 2, transport: 'worker' })
  await db.createIndex('c')
  const pending = db.write('c', 'k', 1)
  await db.close()
  assert.is((await pending).size > 0, true, 'close let the in-flight write finish')
  try {
    await db.read('c', 'k')
    assert.unreachable()
  } catch (err) {
    assert.is((err as PyshardError).code, 'SHARD_UNAVAILABLE')
  }
  ctx.db = null
})

test.run()
