// Online resharding, modeled on Redis Cluster's own resharding test: 4 writers over 20,000 keys
// keep writing (and removing) while the cluster reshards 2 -> 3 -> 2 (the second map splits
// differently). No request may fail; afterwards every key must match the writers' log, read from
// the client that lived through both moves and from a fresh one, and the shards' counts must
// equal the live keys (no entry on two owners).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'
import type { ClusterConfig } from '../src/index.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

const KEYS = 20_000
const WRITERS = 4

interface Ctx { cluster: TcpCluster; third: ShardServer; db: Pyshard }
const test = suite<Ctx>('reshard while 4 writers write', {} as never)

test.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 2 })
  ctx.third = new ShardServer()
  await ctx.third.listen()
  ctx.db = await Pyshard.connect({ bootstrap: ctx.cluster.target, requestTimeout: 10_000 })
  await ctx.db.createIndex('k')
})
test.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.cluster?.stop()
  await ctx.third?.destroy()
})

/** A small deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

test('2 -> 3 -> 2 while writing: no failed request, no lost write, no removed key back, no entry on two owners', async (ctx) => {
  const { cluster, third, db } = ctx
  const [a, b] = cluster.config.shards as unknown as [{ port: number }, { port: number }]
  const c = (third.address as { port: number }).port
  // The log: the last acknowledged value of each key (null: removed). Writer w owns keys i % 4 === w.
  const log = new Map<string, number | null>()
  const keys = Array.from({ length: KEYS }, (_, i) => `key:${i}`)
  for (let i = 0; i < KEYS; i += 1000) {
    await db.writeMany('k', keys.slice(i, i + 1000).map((k) => [k, 0]))
  }
  for (const k of keys) log.set(k, 0)

  let stop = false
  const failures: string[] = []
  let ops = 0
  const writer = async (w: number): Promise<void> => {
    const next = rng(w + 1)
    let v = 0
    while (!stop) {
      const i = Math.floor(next() * (KEYS / WRITERS)) * WRITERS + w
      const key = keys[i] as string
      v++
      try {
        if (next() < 0.1) {
          await db.remove('k', key)
          log.set(key, null)
        } else {
          await db.write('k', key, v)
          log.set(key, v)
        }
        ops++
      } catch (err) {
        failures.push(`${key}: ${(err as Error).message} (code ${(err as { code?: string }).code}, shard epoch ${(err as { epoch?: number }).epoch}, map epoch ${db.map.epoch})`)
      }
    }
  }
  const writers = Array.from({ length: WRITERS }, (_, w) => writer(w))

  const three: ClusterConfig = { transport: 'tcp', shards: [
    { name: 'shard0', start: 0, end: 0.3, host: '127.0.0.1', port: a.port },
    { name: 'shard1', start: 0.3, end: 0.7, host: '127.0.0.1', port: b.port },
    { name: 'shard2', start: 0.7, end: 1, host: '127.0.0.1', port: c },
  ] }
  // Back to two, split elsewhere: shard1 takes [0.45, 1), shard2 retires.
  const two: ClusterConfig = { transport: 'tcp', shards: [
    { name: 'shard0', start: 0, end: 0.45, host: '127.0.0.1', port: a.port },
    { name: 'shard1', start: 0.45, end: 1, host: '127.0.0.1', port: b.port },
  ] }
  try {
    const first = await cluster.bootstrap.reshard(three)
    const second = await cluster.bootstrap.reshard(two)
    assert.equal([first.epoch, second.epoch], [2, 3])
  } finally {
    stop = true
    await Promise.all(writers)
  }
  assert.equal(failures.slice(0, 5), [], `${failures.length} requests failed`)
  assert.ok(ops > 0)

  const expectLive = [...log.values()].filter((v) => v !== null).length
  const fresh = await Pyshard.connect(cluster.target)
  try {
    for (const [name, client] of [['the client that lived through both moves', db], ['a fresh client', fresh]] as const) {
      const got = await client.readMany('k', keys)
      const wrong: string[] = []
      got.forEach((e, i) => {
        const want = log.get(keys[i] as string)
        const have = e === null ? null : e.record
        if (have !== want) wrong.push(`${keys[i]}: want ${want}, have ${JSON.stringify(have)}`)
      })
      assert.equal(wrong.slice(0, 5), [], `${name}: ${wrong.length} keys differ from the writers' log`)
    }
    const stats = await fresh.stat()
    assert.is(stats.reduce((n, s) => n + s.count, 0), expectLive, 'stat counts equal the live keys')
    assert.is(third.settings.end - third.settings.start, 0, 'the retired server owns nothing')
    assert.is(db.map.epoch, 3)
  } finally {
    await fresh.close()
  }
})

test.run()
