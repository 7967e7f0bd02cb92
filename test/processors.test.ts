// Processors on every transport that runs them in this process tree (memory,
// worker): results equal the same computation done by hand over entries().
// The TCP shard server's side is covered by the TCP tests.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import type { Json, OpenOptions } from '../src/index.js'
import { score, sumScores } from './helpers/worker-processors.js'
import { rejectsWith } from './helpers/assert.js'

const processors = 'test/helpers/worker-processors.ts'

const layouts: [string, OpenOptions][] = [
  ['memory, 4 shards', { shards: 4, processors }],
  ['worker, 4 shards on 2 workers (columns codec)', { shards: 4, workers: 2, transport: 'worker', processors }],
  ['worker, 2 shards, msgpack codec', { shards: 2, transport: 'worker', processors, transportOptions: { codec: 'msgpack' } }],
  ['worker, 3 shards, clone codec', { shards: 3, transport: 'worker', processors, transportOptions: { codec: 'clone' } }],
]

/** Entries of `index` grouped by the shard that holds them, in shard order. */
async function entriesByShard(db: Pyshard, index: string): Promise<[string, Json][][]> {
  const groups: [string, Json][][] = db.map.shards.map(() => [])
  for await (const [key, e] of db.entries(index)) groups[db.map.lookup(e.hash)]?.push([key, e.record])
  return groups
}

for (const [name, options] of layouts) {
  const test = suite<{ db: Pyshard }>(`processors: ${name}`, {} as { db: Pyshard })
  test.before(async (ctx) => {
    ctx.db = await Pyshard.open(options)
    await ctx.db.createIndex('docs')
    const docs = Array.from({ length: 3000 }, (_, i): [string, Json] => [
      `doc${i}`, { v: [i % 7, (i * 3) % 11, i % 5, 1], label: `label-${i % 97}`, score: i % 13 },
    ])
    await ctx.db.writeMany('docs', docs)
  })
  test.after(async (ctx) => {
    await ctx.db?.close()
  })

  test('sumScores per shard equals the same sums over entries()', async ({ db }) => {
    const results = (await db.run('docs', 'sumScores', { field: 'score' })) as { count: number; sum: number }[]
    const byHand = (await entriesByShard(db, 'docs')).map((g) => sumScores(g, { field: 'score' }))
    assert.equal(results, byHand)
  })

  test('a CPU-heavy processor gives per shard exactly what it gives over that shard\'s entries()', async ({ db }) => {
    const args = { q: [0.5, 1.5, 2, 3], rounds: 5, top: 3 }
    const results = await db.run('docs', 'score', args)
    const byHand = (await entriesByShard(db, 'docs')).map((g) => score(g, args))
    assert.equal(results, byHand)
  })

  test('run over an empty index answers per shard; over a missing index INDEX_NOT_FOUND', async ({ db }) => {
    await db.createIndex('empty')
    assert.equal(await db.run('empty', 'sumScores', { field: 'score' }), db.map.shards.map(() => ({ count: 0, sum: 0 })))
    await rejectsWith(db.run('missing', 'sumScores', { field: 'score' }), 'INDEX_NOT_FOUND')
  })

  test('an unknown processor name is BAD_REQUEST naming the processor', async ({ db }) => {
    const err = await rejectsWith(db.run('docs', 'noSuchThing'), 'BAD_REQUEST')
    assert.match(err.message, 'noSuchThing')
  })

  test('a throwing processor rejects with its message; the shards keep serving', async ({ db }) => {
    const err = await rejectsWith(db.run('docs', 'fails', { message: 'processor exploded 9' }), 'BAD_REQUEST')
    assert.match(err.message, 'processor exploded 9')
    assert.equal((await db.read('docs', 'doc5'))?.record, { v: [5, 4, 0, 1], label: 'label-5', score: 5 })
    await db.write('docs', 'after', 1)
    assert.is((await db.read('docs', 'after'))?.record, 1)
    await db.remove('docs', 'after')
  })

  test.run()
}

const none = suite<{ db: Pyshard }>('processors: a worker store opened without processors', {} as { db: Pyshard })
none.before(async (ctx) => {
  ctx.db = await Pyshard.open({ shards: 2, transport: 'worker' })
  await ctx.db.createIndex('i')
})
none.after(async (ctx) => {
  await ctx.db?.close()
})
none('run is BAD_REQUEST: the shards have no processors', async ({ db }) => {
  const err = await rejectsWith(db.run('i', 'sumScores'), 'BAD_REQUEST')
  assert.match(err.message, 'none')
})
none.run()

const cross = suite<{ db: Pyshard }>('processors: worker results must cross threads', {} as { db: Pyshard })
cross.before(async (ctx) => {
  ctx.db = await Pyshard.open({ shards: 2, transport: 'worker', processors })
  await ctx.db.createIndex('i')
  await ctx.db.write('i', 'k', 1)
})
cross.after(async (ctx) => {
  await ctx.db?.close()
})
cross('a result that cannot be cloned is BAD_REQUEST, and the worker keeps serving', async ({ db }) => {
  const err = await rejectsWith(db.run('i', 'returnsFunction'), 'BAD_REQUEST')
  assert.match(err.message, 'cannot be sent back')
  assert.is((await db.read('i', 'k'))?.record, 1)
})
cross.run()
