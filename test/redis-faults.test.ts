/**
 * Redis going away under traffic: requests settle within the bound with
 * SHARD_UNAVAILABLE or TIMEOUT (no unbounded offline queue), shardDown and
 * shardUp are emitted, and the shard serves again once Redis is back.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard, PyshardError } from '../src/index.js'
import type { ShardDownEvent } from '../src/index.js'
import { redisMissing, skipAll, startRedis } from './helpers/redis-server.js'
import type { RedisProcess } from './helpers/redis-server.js'

const TESTS = [
  'Redis killed mid-traffic: every request settles within the bound; after a restart on the same port new requests succeed',
  'Redis hung (SIGSTOP): requests reject TIMEOUT after requestTimeout, then succeed once it resumes',
  'Redis not there at open: open rejects SHARD_UNAVAILABLE within connectTimeout',
  'regression: close() of a store whose Redis is hung (SIGSTOP) with a request in flight returns within its bound',
]
const REQUEST_TIMEOUT = 500
const CONNECT_TIMEOUT = 500
/** Generous cap on how long any request may stay pending: past it the test fails. */
const BOUND = 4 * REQUEST_TIMEOUT

const missing = redisMissing()
if (missing !== null) {
  skipAll('redis faults', missing, TESTS)
} else {
  const test = suite<{ server: RedisProcess; db: Pyshard }>('redis faults', {} as { server: RedisProcess; db: Pyshard })

  test.before(async (ctx) => {
    ctx.server = await startRedis()
    ctx.db = await Pyshard.open({
      config: { transport: 'redis', shards: [{ name: 'r', url: ctx.server.url }] },
      requestTimeout: REQUEST_TIMEOUT,
      connectTimeout: CONNECT_TIMEOUT,
      transportOptions: { redisMaxReconnectDelay: 100 },
    })
  })
  test.after(async (ctx) => {
    await ctx.db?.close()
    await ctx.server?.stop()
  })

  /** Settles `p` or fails the test when it is still pending after BOUND ms. */
  async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
    let timer: NodeJS.Timeout | undefined
    const capped = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`a request was still pending after ${BOUND} ms`)), BOUND) })
    try {
      return { ok: true, value: await Promise.race([p, capped]) }
    } catch (err) {
      if (!(err instanceof PyshardError)) throw err
      return { ok: false, code: err.code }
    } finally {
      clearTimeout(timer)
    }
  }

  function waitEvent(db: Pyshard, name: 'shardDown' | 'shardUp'): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${name} event within 5 s`)), 5000)
      db.once(name, () => { clearTimeout(timer); resolve() })
    })
  }

  test(TESTS[0] as string, async ({ server, db }) => {
    await db.createIndex('f')
    const down = new Promise<ShardDownEvent>((resolve) => db.once('shardDown', resolve))
    let stop = false
    const codes = new Map<string, number>()
    let okBefore = 0
    // 20 writers in loops: traffic that keeps coming while Redis dies.
    const writers = Array.from({ length: 20 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const r = await settle(db.write('f', `w${w}-${i}`, { i }))
        if (r.ok) okBefore++
        else codes.set(r.code, (codes.get(r.code) ?? 0) + 1)
        if (!r.ok) await new Promise((res) => setTimeout(res, 10))
      }
    })
    while (okBefore < 200) await new Promise((r) => setTimeout(r, 5))
    await server.stop()
    const event = await down
    assert.is(event.shard, 'r')
    // Traffic goes on while Redis is down: let the writers meet failures (counted, not timed).
    const failures = (): number => [...codes.values()].reduce((a, n) => a + n, 0)
    const seenAtDown = failures()
    while (failures() < seenAtDown + 40) await new Promise((r) => setTimeout(r, 5))
    stop = true
    await Promise.all(writers)
    assert.ok((codes.get('SHARD_UNAVAILABLE') ?? 0) + (codes.get('TIMEOUT') ?? 0) > 0, 'requests failed while Redis was down')
    for (const code of codes.keys()) assert.ok(code === 'SHARD_UNAVAILABLE' || code === 'TIMEOUT', `failure code ${code}`)

    const up = waitEvent(db, 'shardUp')
    await server.start()
    await up
    // No persistence: the restarted Redis is empty, so the index is created again.
    await db.createIndex('f', { ifNotExists: true })
    await db.write('f', 'after', 'restart')
    assert.equal((await db.read('f', 'after'))?.record, 'restart')
  })

  test(TESTS[1] as string, async ({ server, db }) => {
    await db.createIndex('h', { ifNotExists: true })
    await db.write('h', 'k', 1)
    server.signal('SIGSTOP')
    try {
      const r = await settle(db.read('h', 'k'))
      assert.equal(r, { ok: false, code: 'TIMEOUT' })
    } finally {
      server.signal('SIGCONT')
    }
    // The late reply of the timed-out read is dropped; the connection stays in step.
    assert.equal((await db.read('h', 'k'))?.record, 1)
    await db.write('h', 'k', 2)
    assert.equal((await db.read('h', 'k'))?.record, 2)
  })

  test(TESTS[2] as string, async ({ server }) => {
    const url = `redis://127.0.0.1:${server.port + 1}/0` // nothing listens there
    const r = await settle(Pyshard.open({ config: { transport: 'redis', shards: [{ name: 'x', url }] }, connectTimeout: CONNECT_TIMEOUT }))
    assert.equal(r, { ok: false, code: 'SHARD_UNAVAILABLE' })
  })

  test(TESTS[3] as string, async ({ server }) => {
    const db = await Pyshard.open({
      config: { transport: 'redis', shards: [{ name: 'c', url: server.url }] },
      requestTimeout: REQUEST_TIMEOUT, connectTimeout: CONNECT_TIMEOUT,
    })
    await db.createIndex('c', { ifNotExists: true })
    server.signal('SIGSTOP')
    try {
      const pending = db.read('c', 'k').catch((err: PyshardError) => err.code)
      // Drain waits at most requestTimeout, QUIT at most connectTimeout: well inside BOUND.
      const closed = await settle(db.close().then(() => 'closed'))
      assert.equal(closed, { ok: true, value: 'closed' })
      assert.is(await pending, 'TIMEOUT')
    } finally {
      server.signal('SIGCONT')
    }
  })

  test.run()
}
