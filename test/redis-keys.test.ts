/**
 * Regression: over the redis transport two keys differing only in lone
 * surrogates were one key ("x\uD800" and "x\uDBFF" both reached Redis as
 * "x\uFFFD", UTF-8 cannot carry them). Such keys, and keys starting with the
 * escape marker, are now stored escaped; every other key is stored as itself.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Redis } from 'ioredis'
import { Pyshard, hashKey } from '../src/index.js'
import { redisMissing, skipAll, startRedis } from './helpers/redis-server.js'
import type { RedisProcess } from './helpers/redis-server.js'

const TESTS = [
  'redis keys differing only in lone surrogates never collide, and keys()/entries() give them back as written',
  'ordinary keys (emoji included) are stored as themselves; escaped ones as marker + hex, scored by the original key',
  'has, pop and remove reach the escaped keys',
  'index names differing only in lone surrogates are distinct indexes, and indexes() gives them back as written',
]

const HIGH = 'x\uD800'
const LOW = 'x\uDBFF'
const MARKED = '\u0000u:a' // an ordinary key that starts with the marker
const LOOKALIKE = '\u0000u:0078d800' // what HIGH is stored as: must stay a different key

const missing = redisMissing()
if (missing !== null) {
  skipAll('redis keys', missing, TESTS)
} else {
  interface Ctx { server: RedisProcess; db: Pyshard; raw: Redis }
  const test = suite<Ctx>('redis keys', {} as Ctx)

  test.before(async (ctx) => {
    ctx.server = await startRedis()
    ctx.db = await Pyshard.open({ config: { transport: 'redis', shards: [{ name: 's0', url: ctx.server.url, prefix: 'app' }] } })
    ctx.raw = new Redis(ctx.server.url)
  })
  test.after(async (ctx) => {
    await ctx.db?.close()
    ctx.raw?.disconnect()
    await ctx.server?.stop()
  })

  test(TESTS[0] as string, async ({ db }) => {
    await db.createIndex('k')
    const docs: [string, unknown][] = [
      [HIGH, { n: 1, s: 'a\uD800' }],
      [LOW, { n: 2, s: '\uDC00b' }],
      [MARKED, { n: 3 }],
      [LOOKALIKE, { n: 4 }],
      ['plain', { n: 5 }],
    ]
    for (const [key, doc] of docs) await db.write('k', key, doc as never)
    for (const [key, doc] of docs) assert.equal((await db.read('k', key))?.record, doc, `read ${JSON.stringify(key)}`)
    const want = docs.map(([key]) => key).sort()
    const keys: string[] = []
    for await (const key of db.keys('k')) keys.push(key)
    assert.equal(keys.sort(), want)
    const entries = new Map<string, unknown>()
    for await (const [key, entry] of db.entries('k')) entries.set(key, entry.record)
    assert.equal([...entries.keys()].sort(), want)
    for (const [key, doc] of docs) assert.equal(entries.get(key), doc)
  })

  test(TESTS[1] as string, async ({ db, raw }) => {
    await db.createIndex('raw')
    await db.write('raw', 'ada', 1)
    await db.write('raw', 'smile\u{1F600}', 2)
    await db.write('raw', HIGH, 3)
    await db.write('raw', MARKED, 4)
    assert.is(await raw.get('app:{s0:raw}:ada'), '1')
    assert.is(await raw.get('app:{s0:raw}:smile\u{1F600}'), '2')
    assert.is(await raw.get('app:{s0:raw}:\u0000u:0078d800'), '3')
    assert.is(await raw.get('app:{s0:raw}:\u0000u:00000075003a0061'), '4')
    assert.is(Number(await raw.zscore('app:keys:{s0:raw}', '\u0000u:0078d800')), hashKey('raw', HIGH) * 2 ** 32)
    assert.is((await raw.zrange('app:keys:{s0:raw}', '0', '-1')).length, 4)
  })

  test(TESTS[2] as string, async ({ db }) => {
    await db.createIndex('ops')
    await db.write('ops', HIGH, 'h')
    await db.write('ops', LOW, 'l', { ttl: 60_000 })
    await db.write('ops', MARKED, 'm')
    assert.is(await db.has('ops', HIGH), true)
    assert.is(await db.has('ops', 'x\uFFFD'), false)
    assert.is((await db.pop('ops', HIGH))?.record, 'h')
    assert.is(await db.has('ops', HIGH), false)
    assert.is((await db.read('ops', LOW))?.record, 'l')
    assert.is(await db.remove('ops', MARKED), true)
    const keys: string[] = []
    for await (const key of db.keys('ops')) keys.push(key)
    assert.equal(keys, [LOW])
  })

  test(TESTS[3] as string, async ({ db, raw }) => {
    await db.createIndex('i\uD800')
    await db.createIndex('i\uDBFF')
    await db.createIndex(MARKED)
    await db.write('i\uD800', 'k', 1)
    await db.write('i\uDBFF', 'k', 2)
    assert.is((await db.read('i\uD800', 'k'))?.record, 1)
    assert.is((await db.read('i\uDBFF', 'k'))?.record, 2)
    assert.is(await raw.get('app:{s0:i%uD800}:k'), '1')
    const names = await db.indexes()
    for (const name of ['i\uD800', 'i\uDBFF', MARKED]) assert.ok(names.includes(name), `indexes() has ${JSON.stringify(name)}`)
    await db.dropIndex('i\uD800')
    assert.is((await db.read('i\uDBFF', 'k'))?.record, 2)
    assert.not.ok((await db.indexes()).includes('i\uD800'))
  })

  test.run()
}
