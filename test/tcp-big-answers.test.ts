// Answers bigger than a frame: a batch whose answers add up to more than maxFrameSize arrives in
// parts, a scan of big documents pages by bytes, a single answer bigger than the client's limit
// fails that request alone, and a server that sends an oversized frame anyway fails only that
// batch. The connection stays up in every case (no shardDown).
import net from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'
import type { ClusterConfig, Entry } from '../src/index.js'
import { FrameDecoder, FrameKind, decodeBatch, encodeFrame } from '../transports/tcp/codec.js'
import { rejectsWith } from './helpers/assert.js'

const MAX = 2 * 1024 * 1024

interface Ctx { server: ShardServer; config: ClusterConfig; db: Pyshard; downs: number; stores: Pyshard[] }

const test = suite<Ctx>('tcp: answers bigger than a frame', {} as Ctx)

test.before(async (ctx) => {
  ctx.server = new ShardServer({ maxFrameSize: MAX, size: 1 << 30 })
  const { port } = await ctx.server.listen()
  ctx.config = { transport: 'tcp', shards: [{ name: 's', host: '127.0.0.1', port, size: 1 << 30 }] }
  ctx.db = await Pyshard.open({ config: ctx.config, transportOptions: { maxFrameSize: MAX } })
  ctx.stores = [ctx.db]
  ctx.downs = 0
  ctx.db.on('shardDown', () => ctx.downs++)
  await ctx.db.createIndex('big')
  const doc = 'x'.repeat(256 * 1024)
  for (let i = 0; i < 24; i++) await ctx.db.write('big', `k${i}`, `${i}:${doc}`)
})

test.after(async (ctx) => {
  for (const db of ctx.stores ?? []) await db.close()
  await ctx.server?.destroy()
})

const keys = Array.from({ length: 24 }, (_, i) => `k${i}`)

test('readMany whose answers add up to 3x maxFrameSize: every record, with others in the same tick', async (ctx) => {
  const other = ctx.db.has('big', 'k0')
  const many = ctx.db.readMany('big', keys)
  const [has, got] = await Promise.all([other, many])
  assert.is(has, true)
  got.forEach((e, i) => assert.ok(String(e?.record).startsWith(`${i}:`), `record ${i}`))
  assert.is(await ctx.db.write('big', 'small', 1).then(() => 'ok'), 'ok')
  assert.is(ctx.downs, 0)
})

test('entries() over documents whose default page would be 3x maxFrameSize: pages by bytes', async (ctx) => {
  const seen: string[] = []
  for await (const [key, entry] of ctx.db.entries('big')) {
    if (key.startsWith('k')) {
      assert.ok(((entry as Entry).record as string).startsWith(`${key.slice(1)}:`))
      seen.push(key)
    }
  }
  assert.equal(seen.sort(), [...keys].sort())
  assert.is(ctx.downs, 0)
})

test('one answer bigger than the client takes: that request rejects FRAME_TOO_LARGE, the connection stays', async (ctx) => {
  const small = await Pyshard.open({ config: ctx.config, transportOptions: { maxFrameSize: 64 * 1024 } })
  ctx.stores.push(small)
  let downs = 0
  small.on('shardDown', () => downs++)
  await rejectsWith(small.read('big', 'k1'), 'FRAME_TOO_LARGE')
  assert.is(await small.has('big', 'k1'), true)
  assert.is(downs, 0)
})

test.run()

interface Rogue { server: net.Server; sockets: Set<net.Socket>; db: Pyshard; downs: number }

const rogue = suite<Rogue>('tcp: a server that sends a frame over the client\'s maxFrameSize anyway', {} as Rogue)

rogue.before(async (ctx) => {
  // Answers every batch with { ok: true, value: false } per request, except batch 1: a 1 MiB RESULT.
  ctx.sockets = new Set()
  ctx.server = net.createServer((socket) => {
    ctx.sockets.add(socket)
    socket.on('error', () => {})
    const decoder = new FrameDecoder()
    socket.on('data', (chunk) => decoder.push(chunk, (kind, id, body) => {
      if (kind === FrameKind.HELLO) socket.write(encodeFrame(FrameKind.HELLO_OK, 0, { v: 1, role: 'shard' }))
      if (kind !== FrameKind.BATCH) return
      const n = (decodeBatch(body) as unknown[]).length
      if (id === 1) {
        const huge = encodeFrame(FrameKind.RESULT, id, Array.from({ length: n }, () => ({ ok: true, value: 'h'.repeat(1 << 20) })))
        // In pieces, so the client drops it across several reads.
        for (let off = 0; off < huge.length; off += 100_000) socket.write(huge.subarray(off, off + 100_000))
      } else {
        socket.write(encodeFrame(FrameKind.RESULT, id, Array.from({ length: n }, () => ({ ok: true, value: false }))))
      }
    }))
  })
  await new Promise<void>((resolve) => ctx.server.listen(0, '127.0.0.1', resolve))
  const port = (ctx.server.address() as net.AddressInfo).port
  ctx.db = await Pyshard.open({
    config: { transport: 'tcp', shards: [{ name: 'rogue', host: '127.0.0.1', port }] },
    transportOptions: { maxFrameSize: 64 * 1024 },
  })
  ctx.downs = 0
  ctx.db.on('shardDown', () => ctx.downs++)
})

rogue.after(async (ctx) => {
  await ctx.db?.close()
  await new Promise((resolve) => {
    ctx.server.close(resolve)
    for (const s of ctx.sockets) s.destroy()
  })
})

rogue('the oversized answer fails its batch alone; the next batch is answered on the same connection', async (ctx) => {
  await rejectsWith(ctx.db.has('i', 'a'), 'FRAME_TOO_LARGE')
  assert.is(await ctx.db.has('i', 'b'), false)
  assert.is(ctx.downs, 0)
})

rogue.run()
