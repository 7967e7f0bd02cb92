/**
 * What is particular to redis shards, against a real redis-server (and a
 * Cluster): the documented key layout, TTL as PX, OOM as SHARD_FULL,
 * processors refused, members of expired keys swept, keys spread over masters.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Redis } from 'ioredis'
import { Pyshard, PyshardError, hashKey } from '../src/index.js'
import { redisMissing, skipAll, startRedis, startRedisCluster, redisCommand } from './helpers/redis-server.js'
import type { RedisProcess, RedisClusterProcess } from './helpers/redis-server.js'

const TESTS = [
  'the key layout is what docs/redis.md says: an operator reads a document with redis-cli',
  'ttl is PX: the entry reads as absent once it ran out, and its member is swept',
  'stored null is not absent; ifAbsent writes over an expired key',
  'Redis OOM under noeviction answers SHARD_FULL and nothing is written',
  'run (processors) and configure answer BAD_REQUEST',
  'stat: counts per shard and a distribution that sums to the count',
  'on a Cluster an index spreads over every master, and scans see each key once',
]

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    assert.instance(err, PyshardError)
    return (err as PyshardError).code
  }
  return 'resolved'
}

const missing = redisMissing()
if (missing !== null) {
  skipAll('redis behaviour', missing, TESTS)
} else {
  interface Ctx { server: RedisProcess; cluster: RedisClusterProcess; db: Pyshard; raw: Redis }
  const test = suite<Ctx>('redis behaviour', {} as Ctx)

  test.before(async (ctx) => {
    ctx.server = await startRedis()
    ctx.cluster = await startRedisCluster(3)
    ctx.db = await Pyshard.open({ config: { transport: 'redis', shards: [{ name: 's0', url: ctx.server.url, prefix: 'app' }] } })
    ctx.raw = new Redis(ctx.server.url)
  })
  test.after(async (ctx) => {
    await ctx.db?.close()
    ctx.raw?.disconnect()
    await ctx.server?.stop()
    await ctx.cluster?.stop()
  })

  test(TESTS[0] as string, async ({ db, raw }) => {
    await db.createIndex('users')
    await db.write('users', 'ada', { born: 1815 })
    assert.is(await raw.get('app:{s0:users}:ada'), '{"born":1815}')
    assert.is(await raw.get('app:index:{s0:users}'), '1')
    assert.equal(await raw.smembers('app:indexes:{s0}'), ['users'])
    assert.is(Number(await raw.zscore('app:keys:{s0:users}', 'ada')), hashKey('users', 'ada') * 2 ** 32)
    // Names that would break a tag are escaped.
    await db.createIndex('a{b}:c')
    await db.write('a{b}:c', 'k', 1)
    assert.is(await raw.get('app:{s0:a%7Bb%7D%3Ac}:k'), '1')
  })

  test(TESTS[1] as string, async ({ db, raw }) => {
    await db.createIndex('ttl')
    await db.write('ttl', 'short', 'x', { ttl: 50 })
    await db.write('ttl', 'long', 'y', { ttl: 60_000 })
    const pttl = await raw.pttl('app:{s0:ttl}:long')
    assert.ok(pttl > 50_000 && pttl <= 60_000, `PX set: ${pttl}`)
    const short = await raw.pttl('app:{s0:ttl}:short')
    assert.ok(short > 0 && short <= 50, `PX set: ${short}`)
    // Redis keeps the time, so no clock can be injected: instead of sleeping past the ttl, do what
    // Redis does when it runs out. An expiry time in the past deletes the key at once.
    await raw.pexpireat('app:{s0:ttl}:short', 1)
    assert.is(await db.read('ttl', 'short'), null)
    assert.is(await db.has('ttl', 'short'), false)
    const keys: string[] = []
    for await (const key of db.keys('ttl')) keys.push(key)
    assert.equal(keys, ['long'])
    assert.equal(await raw.zrange('app:keys:{s0:ttl}', '0', '-1'), ['long'], 'the scan swept the expired member')
    // A write with a ttl sweeps due members too: short2's key runs out and its recorded expiry falls due.
    await db.write('ttl', 'short2', 'x', { ttl: 60_000 })
    assert.ok(Number(await raw.zscore('app:ttl:{s0:ttl}', 'short2')) > 0, 'a ttl write records its expiry')
    await raw.pexpireat('app:{s0:ttl}:short2', 1)
    await raw.zadd('app:ttl:{s0:ttl}', '1', 'short2')
    assert.is(await raw.zscore('app:keys:{s0:ttl}', 'short2') !== null, true, 'the member outlives its key until a sweep')
    await db.write('ttl', 'other', 'z', { ttl: 60_000 })
    assert.is(await raw.zscore('app:keys:{s0:ttl}', 'short2'), null)
    assert.is(await raw.zscore('app:ttl:{s0:ttl}', 'short2'), null, 'and its expiry record')
  })

  test(TESTS[2] as string, async ({ db, raw }) => {
    await db.createIndex('nul')
    await db.write('nul', 'n', null)
    assert.equal(await db.read('nul', 'n'), { hash: hashKey('nul', 'n'), record: null })
    assert.equal(await db.pop('nul', 'n'), { hash: hashKey('nul', 'n'), record: null })
    assert.is(await db.read('nul', 'n'), null)
    await db.write('nul', 'e', 1, { ttl: 60_000 })
    assert.is((await db.write('nul', 'e', 3, { ifAbsent: true })).size, 0, 'a live key is not absent')
    await raw.pexpireat('app:{s0:nul}:e', 1) // its ttl runs out (Redis keeps the time: no sleeping past it)
    assert.ok((await db.write('nul', 'e', 2, { ifAbsent: true })).size > 0)
    assert.is((await db.read('nul', 'e'))?.record, 2)
  })

  test(TESTS[3] as string, async ({ db, raw }) => {
    await db.createIndex('oom')
    const used = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1])
    await raw.config('SET', 'maxmemory', String(used + 200_000))
    try {
      const big = 'x'.repeat(100_000)
      let full = ''
      for (let i = 0; i < 10 && full === ''; i++) {
        const c = await code(db.write('oom', `big${i}`, big))
        if (c !== 'resolved') full = c
      }
      assert.is(full, 'SHARD_FULL')
      await raw.config('SET', 'maxmemory', '0')
      assert.ok((await db.write('oom', 'after', 1)).size > 0, 'writes succeed once there is room')
    } finally {
      await raw.config('SET', 'maxmemory', '0')
    }
  })

  test(TESTS[4] as string, async ({ db }) => {
    await db.createIndex('proc', { ifNotExists: true })
    assert.is(await code(db.run('proc', 'sumScores')), 'BAD_REQUEST')
  })

  test(TESTS[5] as string, async ({ db }) => {
    await db.createIndex('st')
    const [before] = await db.stat()
    await db.writeMany('st', Array.from({ length: 300 }, (_, i): [string, number] => [`k${i}`, i]))
    const [after] = await db.stat()
    assert.is((after?.count ?? 0) - (before?.count ?? 0), 300)
    assert.is(after?.distribution.length, 10)
    assert.is(after?.distribution.reduce((a, b) => a + b, 0), after?.count)
    assert.ok((after?.bytes ?? 0) > 0)
    assert.is(after?.transport, 'redis')
  })

  test(TESTS[6] as string, async ({ cluster }) => {
    const db = await Pyshard.open({ config: { transport: 'redis', shards: [{ name: 'c', cluster: cluster.urls }] } })
    try {
      await db.createIndex('spread')
      const n = 2000
      await db.writeMany('spread', Array.from({ length: n }, (_, i): [string, number] => [`k${i}`, i]))
      for (const node of cluster.nodes) {
        const size = Number(/:(\d+)/.exec(await redisCommand(node.port, 'DBSIZE'))?.[1])
        assert.ok(size > n / 10, `master on port ${node.port} holds ${size} keys`)
      }
      const seen = new Set<string>()
      for await (const key of db.keys('spread', { pageSize: 77 })) {
        assert.not.ok(seen.has(key), `${key} once`)
        seen.add(key)
      }
      assert.is(seen.size, n)
      const [stat] = await db.stat()
      assert.is(stat?.count, n)
      await db.dropIndex('spread')
      for (const node of cluster.nodes) {
        assert.is(await redisCommand(node.port, 'DBSIZE'), ':0\r\n', `port ${node.port} is empty after dropIndex`)
      }
    } finally {
      await db.close()
    }
  })

  test.run()
}
