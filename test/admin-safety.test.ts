// Admin safety: with an adminToken, the data token cannot assign a shard server or move its data;
// an assignment older than the one held is refused; the served map never carries a token.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { BootstrapClient, BootstrapServer } from '../transports/tcp/servers.js'
import { TcpShardClient } from '../transports/tcp/client.js'
import type { ClusterConfig, ShardSpec } from '../src/index.js'
import type { TransportContext } from '../src/transport.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

const N = 500

interface Ctx { cluster: TcpCluster; db: Pyshard }
const test = suite<Ctx>('admin safety', {} as never)

test.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 2, token: 'data-secret', adminToken: 'admin-secret', epoch: 3 })
  ctx.db = await Pyshard.connect({ bootstrap: ctx.cluster.target, token: 'data-secret' })
  await ctx.db.createIndex('i')
  for (let i = 0; i < N; i++) await ctx.db.write('i', `k${i}`, i)
})
test.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.cluster?.stop()
})

function rawClient(spec: ShardSpec, token: string): TcpShardClient {
  const ctx: TransportContext = {
    processors: undefined, now: undefined, workers: undefined, token, requestTimeout: 2000, connectTimeout: 2000,
    options: {}, emit: () => {},
  }
  return new TcpShardClient(spec, ctx)
}

function spec(cluster: TcpCluster, i: number): ShardSpec {
  const s = cluster.config.shards[i] as { name: string; port: number }
  return { name: s.name, host: '127.0.0.1', port: s.port, start: 0, end: 1, size: 1 << 20, onFull: 'reject', transport: 'tcp' }
}

async function unchanged(ctx: Ctx): Promise<void> {
  assert.equal(ctx.cluster.servers.map((s) => [s.settings.start, s.settings.end, s.settings.epoch]), [[0, 0.5, 3], [0.5, 1, 3]])
  const stats = await ctx.db.stat()
  assert.is(stats.reduce((a, s) => a + s.count, 0), N)
  const all = await ctx.db.readMany('i', Array.from({ length: N }, (_, i) => `k${i}`))
  assert.is(all.filter((e) => e !== null).length, N)
}

test('the data token cannot assign a shard server nor move its data (AUTH_FAILED), and nothing changes', async (ctx) => {
  const c = rawClient(spec(ctx.cluster, 0), 'data-secret')
  try {
    const answers = await c.send([
      { op: 'configure', settings: { name: 'evil', start: 0, end: 0.01, size: 1 << 20, onFull: 'reject', epoch: 99 } },
      { op: 'dropRange', ranges: [[0, 1]] },
      { op: 'exportRange', ranges: [[0, 1]], cursor: 0, count: 10 },
      { op: 'stat' },
    ])
    assert.equal(answers.slice(0, 3).map((r) => (r.ok ? 'ok' : r.code)), ['AUTH_FAILED', 'AUTH_FAILED', 'AUTH_FAILED'])
    assert.ok(answers[3]?.ok, 'data operations in the same batch still answer')
  } finally {
    await c.close()
  }
  await unchanged(ctx)
})

test('a second bootstrap server holding only the data token changes nothing', async (ctx) => {
  // Same ranges (so it is not refused for stranding entries), a newer epoch and a smaller size.
  const config: ClusterConfig = { ...ctx.cluster.config, epoch: 9, token: 'data-secret', shards: ctx.cluster.config.shards.map((s) => ({ ...s, size: 1000 })) }
  delete config.adminToken
  const rogue = new BootstrapServer({ config, healthInterval: 60_000 })
  try {
    await rogue.listen()
    const health = rogue.stat()
    assert.equal(health.map((h) => h.configured), [false, false])
    assert.match(health[0]?.error ?? '', /admin token/)
  } finally {
    await rogue.close()
  }
  await unchanged(ctx)
})

test('an admin with a stale epoch changes nothing: the bootstrap refuses to start, a raw assignment gets STALE_EPOCH', async (ctx) => {
  const config: ClusterConfig = { ...ctx.cluster.config, epoch: 2, shards: ctx.cluster.config.shards.map((s) => ({ ...s })) }
  const stale = new BootstrapServer({ config, healthInterval: 60_000 })
  try {
    await stale.listen()
    assert.unreachable('a bootstrap with an older map than the servers hold must not start')
  } catch (err) {
    assert.is((err as { code?: string }).code, 'BAD_CONFIG')
    assert.match((err as Error).message, /epoch 3, newer than this config's 2/)
  } finally {
    await stale.close()
  }
  const c = rawClient(spec(ctx.cluster, 1), 'admin-secret')
  try {
    const [r] = await c.send([{ op: 'configure', settings: { name: 'shard1', start: 0.9, end: 1, size: 1 << 20, onFull: 'reject', epoch: 2 } }])
    assert.is(r?.ok ? 'ok' : r?.code, 'STALE_EPOCH')
  } finally {
    await c.close()
  }
  await unchanged(ctx)
})

test('the served map never contains a token', async (ctx) => {
  const client = new BootstrapClient(ctx.cluster.target, { token: 'data-secret' })
  try {
    const text = JSON.stringify(await client.getMap())
    assert.not.match(text, /secret/)
    assert.not.match(text, /token/i)
  } finally {
    await client.close()
  }
})

test('reshard over the wire needs the admin token', async (ctx) => {
  const client = new BootstrapClient(ctx.cluster.target, { token: 'data-secret' })
  try {
    await client.reshard(ctx.cluster.config)
    assert.unreachable('the data token must not start a reshard')
  } catch (err) {
    assert.is((err as { code?: string }).code, 'AUTH_FAILED')
  } finally {
    await client.close()
  }
  await unchanged(ctx)
})

test.run()
