// Bootstrap server: assignment of name/range/size/policy, health in stat(), the served map
// (no token), BAD_CONFIG, a new map followed on MOVED, tokens, TLS, the loopback rule.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard, PyshardError, hashKey } from '../src/index.js'
import { BootstrapClient, BootstrapServer, ShardServer } from '../transports/tcp/servers.js'
import type { ClusterConfig, MapChangedEvent } from '../src/index.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

// A self-signed certificate for 127.0.0.1, valid for 100 years, used only by this test.
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYJxba2CXJEcXUYs9
rPiFzG0LzGAsHs5ghvwsJT8p0/6hRANCAASssmK6C7DyCOka/ZB0w/GF8PTZ3Vc4
ssK3N+5jMT5fMOo33SlHKpayKU0YCD9POnFNsY2IxZAqthbQ3bk7MRtg
-----END PRIVATE KEY-----`
const CERT = `-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUaGPyaMJEVzPARtG8yFgsPB32sJMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTA5MjAxNVoYDzIxMjYxMTAx
MDkyMDE1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASssmK6C7DyCOka/ZB0w/GF8PTZ3Vc4ssK3N+5jMT5fMOo33SlHKpay
KU0YCD9POnFNsY2IxZAqthbQ3bk7MRtgo28wbTAdBgNVHQ4EFgQUtzWDEd76qOzH
xCZC8C5SnarOFncwHwYDVR0jBBgwFoAUtzWDEd76qOzHxCZC8C5SnarOFncwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDRwAwRAIgSpRF4DBTlkrym79A6MO2MsRlYEGZhsPPd6KPNZSkllcCIDlL
OWvVLAEJTVBCIdp/PG29IMNguJwaXfrxUc7sn578
-----END CERTIFICATE-----`

async function rejectsWith(p: Promise<unknown>, code: string): Promise<PyshardError> {
  try {
    await p
  } catch (err) {
    assert.instance(err, PyshardError, String(err))
    assert.is((err as PyshardError).code, code, (err as Error).message)
    return err as PyshardError
  }
  throw new assert.Assertion({ message: `expected rejection with ${code}, but it resolved`, generated: true, operator: 'rejects', expects: code, actual: 'resolved' })
}

const assign = suite<{ cluster: TcpCluster }>('bootstrap: assignment, health, map', {} as never)

assign.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 2, token: 'tok', size: 1_000_000, onFull: 'evict' })
})
assign.after(async (ctx) => { await ctx.cluster?.stop() })

assign('every shard server got its name, range, size, policy and the epoch', ({ cluster }) => {
  const s0 = cluster.servers[0]?.settings
  const s1 = cluster.servers[1]?.settings
  assert.equal(s0, { name: 'shard0', start: 0, end: 0.5, size: 1_000_000, onFull: 'evict', epoch: 1 })
  assert.equal(s1, { name: 'shard1', start: 0.5, end: 1, size: 1_000_000, onFull: 'evict', epoch: 1 })
})

assign('stat() reports every shard up and assigned; the served map has no token', async ({ cluster }) => {
  const health = cluster.bootstrap.stat()
  assert.equal(health.map((h) => [h.name, h.up, h.configured]), [['shard0', true, true], ['shard1', true, true]])
  const client = new BootstrapClient(cluster.target, { token: 'tok' })
  try {
    const map = await client.getMap()
    assert.is(map.token, undefined)
    assert.equal(map.shards.map((s) => s.name), ['shard0', 'shard1'])
    assert.equal((await client.stat()).map((h) => h.up), [true, true])
  } finally {
    await client.close()
  }
})

assign('a wrong token at the bootstrap server rejects AUTH_FAILED; the right one connects', async ({ cluster }) => {
  await rejectsWith(Pyshard.connect({ bootstrap: cluster.target, token: 'wrong' }), 'AUTH_FAILED')
  const db = await Pyshard.connect({ bootstrap: cluster.target, token: 'tok' })
  await db.createIndex('t')
  await db.write('t', 'k', 1)
  assert.is((await db.read('t', 'k'))?.record, 1)
  await db.close()
})

assign('a shard server that dies shows as down; restarted, it is assigned again', async ({ cluster }) => {
  const port = (cluster.config.shards[0] as { port: number }).port
  const down = new Promise((resolve) => cluster.bootstrap.once('shardDown', resolve))
  await cluster.servers[0]?.destroy()
  await down
  assert.is(cluster.bootstrap.stat()[0]?.up, false)
  const configured = new Promise((resolve) => cluster.bootstrap.once('configured', resolve))
  const server = new ShardServer({ port, token: 'tok' })
  cluster.servers[0] = server
  await server.listen()
  await configured
  assert.is(server.settings.name, 'shard0')
  assert.is(server.settings.end, 0.5)
  assert.equal(cluster.bootstrap.stat().map((h) => h.up && h.configured), [true, true])
})

assign.run()

const rules = suite('bootstrap: config and option rules')

rules('listen() rejects BAD_CONFIG for a bad config, and for shards that live in the client', async () => {
  const gap: ClusterConfig = { transport: 'tcp', shards: [
    { name: 'a', start: 0, end: 0.4, host: '127.0.0.1', port: 1 },
    { name: 'b', start: 0.5, end: 1, host: '127.0.0.1', port: 2 },
  ] }
  await rejectsWith(new BootstrapServer({ config: gap }).listen(), 'BAD_CONFIG')
  await rejectsWith(new BootstrapServer({ config: { transport: 'memory', shards: [{ name: 'm' }] } }).listen(), 'BAD_CONFIG')
  await rejectsWith(new BootstrapServer({ config: '/nonexistent/cluster.json' }).listen(), 'BAD_CONFIG')
})

rules('servers refuse a non-loopback address without a token unless insecure', () => {
  assert.throws(() => new ShardServer({ host: '0.0.0.0' }), /options\.token/)
  assert.throws(() => new ShardServer({ port: 70000 }), /options\.port/)
  new ShardServer({ host: '0.0.0.0', token: 't' })
  new ShardServer({ host: '0.0.0.0', insecure: true })
  assert.throws(() => new BootstrapServer({ config: 'x.json', port: -1 }), /options\.port/)
})

rules('Pyshard.connect to an address where nothing listens rejects SHARD_UNAVAILABLE', async () => {
  const server = new ShardServer()
  const { port } = await server.listen()
  await server.destroy()
  await rejectsWith(Pyshard.connect(`127.0.0.1:${port}`), 'SHARD_UNAVAILABLE')
  const bad = await Pyshard.connect('nonsense').then(() => null, (err: unknown) => err)
  assert.instance(bad, TypeError)
})

rules.run()

const moved = suite<{ cluster: TcpCluster; db: Pyshard }>('bootstrap: a new map is followed on MOVED', {} as never)

moved.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 2 })
  ctx.db = await Pyshard.connect(ctx.cluster.target)
  await ctx.db.createIndex('m')
})
moved.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.cluster?.stop()
})

moved('after the ranges change, a stale client gets MOVED, fetches the map again and lands on the right shard', async ({ cluster, db }) => {
  const [a, b] = cluster.config.shards as unknown as [{ port: number }, { port: number }]
  // Epoch 2: shard0 shrinks to [0, 0.3), shard1 grows to [0.3, 1).
  const next: ClusterConfig = { transport: 'tcp', epoch: 2, shards: [
    { name: 'shard0', start: 0, end: 0.3, host: '127.0.0.1', port: a.port },
    { name: 'shard1', start: 0.3, end: 1, host: '127.0.0.1', port: b.port },
  ] }
  const { port } = cluster.bootstrap.address as { port: number }
  await cluster.bootstrap.close()
  cluster.bootstrap = new BootstrapServer({ config: next, port })
  await cluster.bootstrap.listen()
  let key = ''
  for (let i = 0; key === ''; i++) {
    const h = hashKey('m', `k${i}`)
    if (h >= 0.3 && h < 0.5) key = `k${i}`
  }
  const changed = new Promise<MapChangedEvent>((resolve) => db.once('mapChanged', resolve))
  await db.write('m', key, 'moved')
  assert.equal(await changed, { epoch: 2, previous: 1 })
  assert.is(db.map.epoch, 2)
  assert.is((await db.read('m', key))?.record, 'moved')
  const stat = await db.stat()
  assert.is(stat[1]?.count, 1, 'the entry lives on shard1')
})

moved.run()

const secure = suite<{ server: ShardServer; db: Pyshard }>('tcp over TLS', {} as never)

secure.before(async (ctx) => {
  ctx.server = new ShardServer({ tls: { key: KEY, cert: CERT }, token: 'tls-token' })
  const { port } = await ctx.server.listen()
  ctx.db = await Pyshard.open({
    config: { transport: 'tcp', shards: [{ name: 'tls', host: '127.0.0.1', port }] },
    token: 'tls-token', transportOptions: { tls: { ca: CERT } },
  })
})
secure.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.server?.destroy()
})

secure('a store talks to a TLS shard server', async ({ db }) => {
  await db.createIndex('s')
  await db.writeMany('s', [['a', { x: 1 }], ['b', null]])
  assert.equal((await db.readMany('s', ['a', 'b', 'c'])).map((e) => e?.record), [{ x: 1 }, null, undefined])
})

secure.run()
