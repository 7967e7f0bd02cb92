/**
 * A redis shard turns a batch into grouped commands (one MGET per index bucket
 * for a run of reads, one script call for a run of same-option writes). These
 * tests check that the grouping keeps the batch's meaning: requests issued in
 * one tick to one key apply in order, groups larger than one command split,
 * one bad request or missing index fails only its own requests. They run over
 * ioredis-mock, a real redis-server and a 3-master Cluster.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import RedisMock from 'ioredis-mock'
import { Pyshard } from '../src/index.js'
import type { Json } from '../src/index.js'
import { rejectsWith } from './helpers/assert.js'
import { redisMissing, skipAll, startRedis, startRedisCluster } from './helpers/redis-server.js'

const TESTS = [
  'reads and writes of one key issued in one tick apply in the order issued',
  'writeMany with a key twice: the last plain write wins; with ifAbsent the first one does',
  'batches larger than one command (2500 reads and writes) answer every request',
  'a missing index fails only its own requests of the batch; a bad document only itself',
  'plain, ifAbsent and ttl writes mixed in one tick each keep their options',
]

function batchSuite(name: string, open: () => Promise<Pyshard>, teardown: () => Promise<void>): void {
  const test = suite<{ db: Pyshard }>(`redis batches: ${name}`, {} as { db: Pyshard })
  test.before(async (ctx) => {
    ctx.db = await open()
    await ctx.db.createIndex('t')
  })
  test.after(async (ctx) => {
    await ctx.db?.close()
    await teardown()
  })

  test(TESTS[0] as string, async ({ db }) => {
    const seen = await Promise.all([
      db.write('t', 'k0', 'a').then((r) => r.size > 0),
      db.read('t', 'k0').then((e) => e?.record),
      db.write('t', 'k0', 'b', { ifAbsent: true }).then((r) => r.size),
      db.read('t', 'k0').then((e) => e?.record),
      db.remove('t', 'k0'),
      db.read('t', 'k0'),
      db.write('t', 'k0', 'c', { ifAbsent: true }).then((r) => r.size > 0),
      db.write('t', 'k0', 'd').then((r) => r.size > 0),
      db.read('t', 'k0').then((e) => e?.record),
      db.pop('t', 'k0').then((e) => e?.record),
      db.has('t', 'k0'),
    ])
    assert.equal(seen, [true, 'a', 0, 'a', true, null, true, true, 'd', 'd', false])
  })

  test(TESTS[1] as string, async ({ db }) => {
    const plain = await db.writeMany('t', [['twice', 1], ['other', 2], ['twice', 3]])
    assert.ok(plain.every((r) => r.size > 0))
    assert.is((await db.read('t', 'twice'))?.record, 3)
    const nx = await db.writeMany('t', [['nx', 'first'], ['nx', 'second']], { ifAbsent: true })
    assert.ok((nx[0]?.size ?? 0) > 0)
    assert.is(nx[1]?.size, 0)
    assert.is((await db.read('t', 'nx'))?.record, 'first')
  })

  test(TESTS[2] as string, async ({ db }) => {
    const pairs = Array.from({ length: 2500 }, (_, i): [string, Json] => [`big${i}`, { i }])
    const written = await db.writeMany('t', pairs)
    assert.is(written.length, 2500)
    assert.ok(written.every((r) => r.size > 0))
    const keys = pairs.map(([k]) => k)
    keys.push('never-written')
    const read = await db.readMany('t', keys)
    assert.is(read.length, 2501)
    for (let i = 0; i < 2500; i++) assert.equal(read[i]?.record, { i })
    assert.is(read[2500], null)
    let n = 0
    for await (const key of db.keys('t')) if (key.startsWith('big')) n++
    assert.is(n, 2500, 'every write also joined the members set')
  })

  test(TESTS[3] as string, async ({ db }) => {
    await db.write('t', 'there', 1)
    const [a, b, c, d] = await Promise.allSettled([
      db.read('t', 'there'),
      db.read('missing', 'x'),
      db.write('missing', 'x', 1),
      db.write('t', 'y', 2),
    ])
    assert.equal(a.status === 'fulfilled' ? a.value?.record : a, 1)
    await rejectsWith(b.status === 'rejected' ? Promise.reject(b.reason) : Promise.resolve(), 'INDEX_NOT_FOUND')
    await rejectsWith(c.status === 'rejected' ? Promise.reject(c.reason) : Promise.resolve(), 'INDEX_NOT_FOUND')
    assert.ok(d.status === 'fulfilled' && d.value.size > 0)
    const err = await rejectsWith(db.writeMany('t', [['good1', 1], ['bad', Number.NaN], ['good2', 2]]), 'BAD_REQUEST')
    assert.match(err.message, /1 of 3 writes failed/)
    assert.equal((await db.readMany('t', ['good1', 'bad', 'good2'])).map((e) => e?.record ?? null), [1, null, 2])
  })

  test(TESTS[4] as string, async ({ db }) => {
    await db.write('t', 'keep', 'old')
    const sizes = await Promise.all([
      db.write('t', 'p1', 1),
      db.write('t', 'keep', 'new', { ifAbsent: true }),
      db.write('t', 'short', 1, { ttl: 60_000 }),
      db.write('t', 'p2', 2),
    ])
    assert.ok((sizes[0]?.size ?? 0) > 0)
    assert.is(sizes[1]?.size, 0)
    assert.ok((sizes[2]?.size ?? 0) > 0)
    assert.ok((sizes[3]?.size ?? 0) > 0)
    assert.equal((await db.readMany('t', ['p1', 'keep', 'short', 'p2'])).map((e) => e?.record), [1, 'old', 1, 2])
  })

  test.run()
}

// Servers start before any suite is defined, so uvu runs the suites together (one summary for the file).
const missing = redisMissing()
const server = missing === null ? await startRedis() : null
const cluster = missing === null ? await startRedisCluster(3) : null

// ioredis-mock instances on one host:port share data: this port is used by no other test file.
batchSuite('ioredis-mock', () => Pyshard.open({
  config: { transport: 'redis', shards: [{ name: 'm', url: 'redis://127.0.0.1:40011/0', prefix: 'batch' }] },
  transportOptions: { redisClient: RedisMock },
}), async () => {})

if (server === null || cluster === null) {
  skipAll('redis batches: real redis-server and Cluster', missing ?? '', TESTS)
} else {
  batchSuite('real redis-server', () => Pyshard.open({ config: { transport: 'redis', shards: [{ name: 's', url: server.url }] } }), () => server.stop())
  batchSuite('3-master Redis Cluster', () => Pyshard.open({ config: { transport: 'redis', shards: [{ name: 'c', cluster: cluster.urls }] } }), () => cluster.stop())
}
