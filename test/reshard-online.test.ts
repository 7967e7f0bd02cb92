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
import { checkAgainstLog, startWriters } from './helpers/reshard-writers.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

const KEYS = 20_000

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

test('2 -> 3 -> 2 while writing: no failed request, no lost write, no removed key back, no entry on two owners', async (ctx) => {
  const { cluster, third, db } = ctx
  const [a, b] = cluster.config.shards as unknown as [{ port: number }, { port: number }]
  const c = (third.address as { port: number }).port
  const writers = await startWriters(db, 'k', KEYS, { retry: false })

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
    await writers.stop()
  }
  assert.equal(writers.failures.slice(0, 5), [], `${writers.failures.length} requests failed`)
  assert.ok(writers.acked() > 0)

  const fresh = await Pyshard.connect(cluster.target)
  try {
    await checkAgainstLog(db, 'k', writers, 'the client that lived through both moves')
    await checkAgainstLog(fresh, 'k', writers, 'a fresh client')
    assert.is(third.settings.end - third.settings.start, 0, 'the retired server owns nothing')
    assert.is(db.map.epoch, 3)
  } finally {
    await fresh.close()
  }
})

test.run()
