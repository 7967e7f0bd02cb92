// `db.reshard` on stores that own their shards (memory, worker): the same guarantees as a
// cluster's reshard. 4 writers write and remove over 20,000 keys while the store moves
// 2 -> 3 -> 2 (split elsewhere the second time); no request may fail, every key must match the
// writers' log afterwards, and the shards' counts must equal the live keys (no entry on two
// owners, nothing left as handover).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pyshard } from '../src/index.js'
import type { ClusterConfig, ReshardProgress } from '../src/index.js'
import { rejectsWith } from './helpers/assert.js'
import { checkAgainstLog, startWriters } from './helpers/reshard-writers.js'
import type { Writers } from './helpers/reshard-writers.js'

const KEYS = 20_000

/** Runs `moves` while 4 writers write; no request may fail. */
async function underLoad(db: Pyshard, moves: (ops: () => number) => Promise<void>): Promise<Writers> {
  // In-process shards answer at once: the writers let the move's steps interleave with their writes.
  const writers = await startWriters(db, 'k', KEYS, { retry: false, yieldEvery: 16 })
  try {
    await moves(writers.acked)
  } finally {
    await writers.stop()
  }
  assert.equal(writers.failures.slice(0, 5), [], `${writers.failures.length} requests failed`)
  assert.ok(writers.acked() > 0, 'the writers wrote during the moves')
  return writers
}

for (const transport of ['memory', 'worker'] as const) {
  const test = suite(`db.reshard (${transport})`)

  test('2 -> 3 -> 2 while 4 writers write: no failed request, no lost write, no removed key back, no entry on two owners', async () => {
    const db = await Pyshard.open({ transport, shards: 2, requestTimeout: 10_000, ...(transport === 'worker' ? { workers: 2 } : {}) })
    try {
      await db.createIndex('k')
      const phases = new Set<string>()
      const seen: number[] = []
      db.on('mapChanged', (e) => seen.push(e.epoch))
      const two: ClusterConfig = { transport, shards: [
        { name: 'shard0', start: 0, end: 0.45 },
        { name: 'shard1', start: 0.45, end: 1 },
      ] }
      const during: number[] = []
      const run = await underLoad(db, async (ops) => {
        const first = await db.reshard({ shards: 3 }, {
          onProgress: (p: ReshardProgress) => {
            phases.add(p.phase)
            if (p.phase === 'copy' || p.phase === 'cut-over') during.push(ops())
          },
        })
        assert.is(first.epoch, 2)
        assert.ok(first.moved > 0)
        assert.equal(db.map.shards.map((s) => s.name), ['shard0', 'shard1', 'shard2'])
        const second = await db.reshard(two)
        assert.is(second.epoch, 3)
      })
      assert.ok((during.at(-1) as number) > (during[0] as number), `the writers wrote while the data moved (${during.join(' -> ')})`)
      assert.equal([...phases], ['plan', 'copy', 'catch-up', 'freeze', 'cut-over', 'cleanup', 'done'])
      assert.equal(seen, [2, 3], 'mapChanged for each cut-over')
      assert.equal(db.map.shards.map((s) => [s.name, s.start, s.end]), [['shard0', 0, 0.45], ['shard1', 0.45, 1]])
      assert.equal(await db.indexes(), ['k'])
      await checkAgainstLog(db, 'k', run, 'after 2 -> 3 -> 2')
    } finally {
      await db.close()
    }
  })

  test('a shard that joins gets every index first: it never answers INDEX_NOT_FOUND', async () => {
    const db = await Pyshard.open({ transport, shards: 1, ...(transport === 'worker' ? { workers: 1 } : {}) })
    try {
      await db.createIndex('a')
      await db.createIndex('empty')
      await db.write('a', 'x', 1)
      await db.reshard({ shards: 4 })
      const stats = await db.stat()
      assert.equal(stats.map((s) => s.indexes), [2, 2, 2, 2])
      // Every shard answers for the empty index.
      const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
      assert.equal(await db.readMany('empty', keys), keys.map(() => null))
      assert.equal((await db.read('a', 'x'))?.record, 1)
    } finally {
      await db.close()
    }
  })

  test.run()
}

const restart = suite('db.reshard: a destination that restarts mid-copy')

{
  restart('a worker shard that dies while it receives a range: the move rolls back, nothing is lost, a second reshard completes', async () => {
    const workers: { worker: { terminate(): Promise<number> }; shards: string[] }[] = []
    const onStart = (msg: unknown): void => { workers.push(msg as (typeof workers)[number]) }
    subscribe('pyshard:worker:start', onStart)
    const db = await Pyshard.open({ transport: 'worker', shards: 2, workers: 2 })
    try {
      await db.createIndex('k')
      await db.writeMany('k', Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))
      let killed = false
      const failed = await db.reshard({ shards: 3 }, {
        onProgress: (p) => {
          // After the first copied page, the new shard's worker dies (and restarts empty).
          if (p.phase === 'copy' && p.moved > 0 && !killed) {
            killed = true
            void workers.find((w) => w.shards.includes('shard2'))?.worker.terminate()
          }
        },
      }).then(() => null, (err: Error & { code?: string }) => err)
      assert.ok(killed, 'the destination was killed mid-copy')
      assert.ok(failed !== null, 'the reshard must not complete over a destination that lost its copies')
      assert.is(db.map.epoch, 1, 'the old map stays in force')
      const got = await db.readMany('k', Array.from({ length: 5000 }, (_, i) => `k${i}`))
      assert.is(got.filter((e, i) => e?.record !== i).length, 0, 'every entry is still there')
      const done = await db.reshard({ shards: 3 })
      assert.is(done.epoch, 2)
      const again = await db.readMany('k', Array.from({ length: 5000 }, (_, i) => `k${i}`))
      assert.is(again.filter((e, i) => e?.record !== i).length, 0, 'every entry survives the second reshard')
      assert.is((await db.stat()).reduce((n, s) => n + s.count, 0), 5000)
    } finally {
      unsubscribe('pyshard:worker:start', onStart)
      await db.close()
    }
  })
  restart.run()
}

const test = suite('db.reshard: refusals and data dirs')

test('a store with a data dir reopens with the new map and every entry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-reshard-'))
  try {
    const db = await Pyshard.open({ shards: 2, dataDir: dir, fsync: 'always' })
    let config: ClusterConfig
    try {
      await db.createIndex('k')
      await db.writeMany('k', Array.from({ length: 3000 }, (_, i) => [`k${i}`, i]))
      await db.reshard({ shards: 3 })
      await db.remove('k', 'k7')
      config = db.map.config
    } finally {
      await db.close()
    }
    // The old map no longer matches the dirs: opening with it is refused, naming the dir.
    await Pyshard.open({ shards: 2, dataDir: dir }).then(
      async (db2) => { await db2.close(); assert.unreachable('the old map should be refused') },
      (err: Error & { code?: string }) => assert.is(err.code, 'DATA_DIR'),
    )
    const again = await Pyshard.open({ config, dataDir: dir })
    try {
      const got = await again.readMany('k', Array.from({ length: 3000 }, (_, i) => `k${i}`))
      assert.is(got.filter((e) => e === null).length, 1)
      assert.is(got[7], null)
      assert.is(got[2999]?.record, 2999)
      const stats = await again.stat()
      assert.is(stats.reduce((n, s) => n + s.count, 0), 2999)
    } finally {
      await again.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('refused: a second reshard while one runs, a bad target, and shards the store does not own', async () => {
  const db = await Pyshard.open({ shards: 2 })
  try {
    await db.createIndex('k')
    await db.writeMany('k', Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))
    const first = db.reshard({ shards: 3 })
    assert.match((await rejectsWith(db.reshard({ shards: 4 }), 'BAD_REQUEST')).message, /already in progress/)
    await first
    await db.reshard({ shards: 0 }).then(() => assert.unreachable('shards: 0'), (err: Error) => {
      assert.instance(err, TypeError)
      assert.match(err.message, /options\.shards/)
    })
    assert.match((await rejectsWith(db.reshard({ transport: 'tcp', shards: [{ name: 'shard0', host: '127.0.0.1', port: 1 }] }), 'BAD_CONFIG')).message, /pyshard reshard/)
    assert.match((await rejectsWith(db.reshard({ transport: 'worker', shards: [{ name: 'shard0' }, { name: 'shard1' }] }), 'BAD_CONFIG')).message, /memory shard/)
    assert.is(db.map.epoch, 2, 'nothing changed after the refusals')
    assert.is((await db.stat()).reduce((n, s) => n + s.count, 0), 5000)
  } finally {
    await db.close()
  }
})

test.run()
