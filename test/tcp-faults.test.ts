// Faults over TCP: a shard server killed with requests in flight, the bounded offline
// queue while it is down, reconnecting by itself after a restart, a shard that never
// answers, and close() (drains) versus destroy() (does not).
import net from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard, PyshardError, hashKey } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'
import type { ShardDownEvent } from '../src/index.js'
import { FrameDecoder, FrameKind, encodeFrame } from '../transports/tcp/codec.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

const REQUEST_TIMEOUT = 1500
const QUEUE_TIMEOUT = 300

/** Keys of `index` that fall in shard `i` of `db`'s map. */
function keysFor(db: Pyshard, index: string, i: number, n: number): string[] {
  const { start, end } = db.map.shards[i] as { start: number; end: number }
  const out: string[] = []
  for (let k = 0; out.length < n; k++) {
    const h = hashKey(index, `key${k}`)
    if (h >= start && h < end) out.push(`key${k}`)
  }
  return out
}

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve))

function codeOf(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return 'OK'
  return r.reason instanceof PyshardError ? r.reason.code : `not a PyshardError: ${String(r.reason)}`
}

function once<T>(db: Pyshard, event: 'shardUp' | 'shardDown', ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms)
    const listener = (e: unknown): void => {
      clearTimeout(timer)
      resolve(e as T)
    }
    ;(db.once as (name: string, fn: (e: unknown) => void) => Pyshard)(event, listener)
  })
}

const faults = suite<{ cluster: TcpCluster; db: Pyshard }>('tcp faults: a shard server dies and comes back', {} as never)

faults.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 2 })
  ctx.db = await Pyshard.connect({
    bootstrap: ctx.cluster.target, requestTimeout: REQUEST_TIMEOUT, connectTimeout: 500,
    transportOptions: { maxQueue: 100, queueTimeout: QUEUE_TIMEOUT, reconnectDelay: 20, maxReconnectDelay: 100 },
  })
  await ctx.db.createIndex('f')
})

faults.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.cluster?.stop()
})

faults('killed with 1,000 requests in flight: every one settles within the bound, the other shard keeps serving', async ({ cluster, db }) => {
  const keys0 = keysFor(db, 'f', 0, 1000)
  const keys1 = keysFor(db, 'f', 1, 200)
  const down = once<ShardDownEvent>(db, 'shardDown', 5000)
  const pending = keys0.map((k) => db.write('f', k, { k }))
  // Let the router flush and the socket write go out, but give the server no turn to read them.
  await tick()
  await tick()
  await (cluster.servers[0] as ShardServer).destroy()
  const settled = await Promise.allSettled(pending)
  const codes = new Map<string, number>()
  for (const r of settled) codes.set(codeOf(r), (codes.get(codeOf(r)) ?? 0) + 1)
  for (const code of codes.keys()) assert.ok(['OK', 'SHARD_UNAVAILABLE', 'TIMEOUT'].includes(code), `unexpected outcome ${code}`)
  assert.ok((codes.get('SHARD_UNAVAILABLE') ?? 0) + (codes.get('TIMEOUT') ?? 0) > 0, `some requests were in flight: ${[...codes]}`)
  assert.is((await down).shard, 'shard0')

  const written = await Promise.all(keys1.map((k) => db.write('f', k, { k })))
  assert.is(written.length, keys1.length)
  const read = await db.readMany('f', keys1)
  read.forEach((e, i) => assert.equal(e?.record, { k: keys1[i] }))
})

faults('while it is down: beyond maxQueue, and once down longer than queueTimeout, requests reject SHARD_UNAVAILABLE at once', async ({ db }) => {
  const keys0 = keysFor(db, 'f', 0, 300)
  // One tick's 300 requests are one batch: bigger than the offline queue (100), refused for that
  // (not after waiting: the message names maxQueue, not queueTimeout or requestTimeout).
  const over = await Promise.allSettled(keys0.map((k) => db.read('f', k)))
  assert.ok(over.every((r) => codeOf(r) === 'SHARD_UNAVAILABLE'), [...new Set(over.map(codeOf))].join())
  assert.match(String((over[0] as PromiseRejectedResult).reason), 'option maxQueue')
  await new Promise((resolve) => setTimeout(resolve, QUEUE_TIMEOUT + 50))
  const r = await Promise.allSettled([db.read('f', keys0[0] as string)])
  assert.is(codeOf(r[0] as PromiseSettledResult<unknown>), 'SHARD_UNAVAILABLE')
  // Refused on arrival because the shard has been down longer than queueTimeout (not queued, then timed out).
  assert.match(String((r[0] as PromiseRejectedResult).reason), 'has been unreachable for')
})

faults('restarted on the same port: the client reconnects by itself and new requests succeed', async ({ cluster, db }) => {
  const port = (cluster.config.shards[0] as { port: number }).port
  const up = once(db, 'shardUp', 10_000)
  const server = new ShardServer({ port })
  cluster.servers[0] = server
  await server.listen()
  await up
  // The restarted server is empty: ifNotExists re-creates the index where it is missing.
  await db.createIndex('f', { ifNotExists: true })
  const keys0 = keysFor(db, 'f', 0, 100)
  await db.writeMany('f', keys0.map((k) => [k, { again: k }]))
  const got = await db.readMany('f', keys0)
  got.forEach((e, i) => assert.equal(e?.record, { again: keys0[i] }))
})

faults.run()

const stalled = suite<{ server: net.Server; sockets: Set<net.Socket>; db: Pyshard }>('tcp faults: a shard that never answers', {} as never)

stalled.before(async (ctx) => {
  // Says HELLO_OK, then reads batches and never answers them.
  ctx.sockets = new Set()
  ctx.server = net.createServer((socket) => {
    ctx.sockets.add(socket)
    const decoder = new FrameDecoder()
    socket.on('data', (chunk) => decoder.push(chunk, (kind) => {
      if (kind === FrameKind.HELLO) socket.write(encodeFrame(FrameKind.HELLO_OK, 0, { v: 1, role: 'shard' }))
    }))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => ctx.server.listen(0, '127.0.0.1', resolve))
  const port = (ctx.server.address() as net.AddressInfo).port
  ctx.db = await Pyshard.open({
    config: { transport: 'tcp', shards: [{ name: 'mute', host: '127.0.0.1', port }] },
    requestTimeout: 200,
  })
})

stalled.after(async (ctx) => {
  await ctx.db?.close()
  await new Promise((resolve) => {
    ctx.server.close(resolve)
    for (const s of ctx.sockets) s.destroy()
  })
})

stalled('requests reject TIMEOUT after requestTimeout', async ({ db }) => {
  const settled = await Promise.allSettled([db.read('i', 'a'), db.write('i', 'b', 1), db.has('i', 'c')])
  assert.equal(settled.map(codeOf), ['TIMEOUT', 'TIMEOUT', 'TIMEOUT'])
})

stalled.run()

const unreachable = suite('tcp faults: nothing listens')

unreachable('requests reject SHARD_UNAVAILABLE within queueTimeout, and shardDown is emitted', async () => {
  const probe = net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  const db = await Pyshard.open({
    config: { transport: 'tcp', shards: [{ name: 'gone', host: '127.0.0.1', port }] },
    connectTimeout: 300, transportOptions: { queueTimeout: 200 },
  })
  try {
    const down = once<ShardDownEvent>(db, 'shardDown', 5000)
    const r = await Promise.allSettled([db.read('i', 'k')])
    assert.is(codeOf(r[0] as PromiseSettledResult<unknown>), 'SHARD_UNAVAILABLE')
    assert.is((await down).shard, 'gone')
  } finally {
    await db.close()
  }
})

unreachable.run()

const closing = suite<{ cluster: TcpCluster; db: Pyshard }>('tcp faults: close() drains', {} as never)

closing.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 1 })
  ctx.db = await Pyshard.connect({ bootstrap: ctx.cluster.target, transportOptions: { queueTimeout: 200 } })
  await ctx.db.createIndex('c')
})

closing.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.cluster?.stop()
})

closing('requests sent before close() are all answered; later ones reject SHARD_UNAVAILABLE', async ({ cluster, db }) => {
  const keys = Array.from({ length: 1000 }, (_, i) => `c${i}`)
  const pending = keys.map((k) => db.write('c', k, k))
  await tick()
  await tick()
  const closed = (cluster.servers[0] as ShardServer).close()
  const settled = await Promise.allSettled(pending)
  assert.equal([...new Set(settled.map(codeOf))], ['OK'])
  await closed
  const after = await Promise.allSettled([db.read('c', 'c1')])
  assert.is(codeOf(after[0] as PromiseSettledResult<unknown>), 'SHARD_UNAVAILABLE')
})

closing.run()
