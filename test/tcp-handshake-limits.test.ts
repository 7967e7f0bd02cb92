// Limits that protect a shard server from peers that have not authenticated: frames before the
// HELLO is accepted are limited to a few KiB (not maxFrameSize), and maxConnections caps how
// many connections are open at once.
import net from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ShardServer } from '../transports/tcp/servers.js'
import { FrameDecoder, FrameKind, decodeBody, encodeFrame } from '../transports/tcp/codec.js'

const TOKEN = 'limits-token'

interface Frame { kind: number; id: number; body: unknown }

/** A raw connection that records the frames it gets and when it closes. */
function connect(port: number): { socket: net.Socket; frames: Frame[]; ready: Promise<void>; closed: Promise<void> } {
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  let isClosed = false
  socket.once('close', () => (isClosed = true))
  const frames: Frame[] = []
  const decoder = new FrameDecoder()
  socket.on('data', (chunk: Buffer) => decoder.push(chunk, (kind, id, body) => {
    frames.push({ kind, id, body: decodeBody(body) })
  }))
  return {
    socket, frames,
    ready: new Promise((resolve) => socket.once('connect', () => resolve())),
    closed: until(() => isClosed, 'the connection to close'),
  }
}

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (pred()) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`gave up waiting for ${what}`)
}

interface Ctx { server: ShardServer; port: number; sockets: net.Socket[] }

const test = suite<Ctx>('tcp: limits before authentication', {} as Ctx)

test.before(async (ctx) => {
  // maxFrameSize stays at its 64 MiB default: the point is that a peer without a token cannot use it.
  ctx.server = new ShardServer({ token: TOKEN, handshakeTimeout: 5000, maxConnections: 3 })
  ctx.port = (await ctx.server.listen()).port
  ctx.sockets = []
})

test.after(async (ctx) => {
  for (const s of ctx.sockets ?? []) s.destroy()
  await ctx.server?.destroy()
})

test('a frame over 4 KiB before HELLO: FRAME_TOO_LARGE at once, nothing of it buffered', async (ctx) => {
  const c = connect(ctx.port)
  ctx.sockets.push(c.socket)
  await c.ready
  const head = Buffer.alloc(9)
  head.writeUInt32BE(48 * 1024 * 1024, 0)
  head[4] = FrameKind.HELLO
  c.socket.write(head)
  await c.closed
  const error = c.frames.find((f) => f.kind === FrameKind.ERROR)?.body as { code: string; message: string } | undefined
  assert.is(error?.code, 'FRAME_TOO_LARGE')
  assert.match(error?.message ?? '', 'before a HELLO')
})

test('HELLO and a 200 KB batch in one write: the limit rises with the HELLO, the batch is answered', async (ctx) => {
  const c = connect(ctx.port)
  ctx.sockets.push(c.socket)
  await c.ready
  const batch = Array.from({ length: 2000 }, () => ({ op: 'indexes', pad: 'p'.repeat(90) }))
  c.socket.write(Buffer.concat([encodeFrame(FrameKind.HELLO, 0, { v: 1, token: TOKEN }), encodeFrame(FrameKind.BATCH, 1, batch)]))
  await until(() => c.frames.some((f) => f.kind === FrameKind.RESULT || f.kind === FrameKind.ERROR), 'an answer')
  const result = c.frames.find((f) => f.kind === FrameKind.RESULT)
  assert.ok(result, JSON.stringify(c.frames.map((f) => f.body)).slice(0, 300))
  assert.is((result.body as unknown[]).length, 2000)
  c.socket.destroy()
  await c.closed
})

test('maxConnections: one connection too many is closed; once one closes, a new one is served', async (ctx) => {
  await until(() => ctx.server.connections === 0, 'earlier connections to close')
  const open = [connect(ctx.port), connect(ctx.port), connect(ctx.port)]
  for (const c of open) {
    ctx.sockets.push(c.socket)
    await c.ready
    c.socket.write(encodeFrame(FrameKind.HELLO, 0, { v: 1, token: TOKEN }))
  }
  await until(() => open.every((c) => c.frames.some((f) => f.kind === FrameKind.HELLO_OK)), 'three HELLO_OK')
  const extra = connect(ctx.port)
  ctx.sockets.push(extra.socket)
  extra.socket.write(encodeFrame(FrameKind.HELLO, 0, { v: 1, token: TOKEN }))
  await extra.closed
  assert.not.ok(extra.frames.some((f) => f.kind === FrameKind.HELLO_OK), 'the fourth connection is not served')
  ;(open[0] as { socket: net.Socket }).socket.destroy()
  await until(() => ctx.server.connections === 2, 'the server to see the close')
  const next = connect(ctx.port)
  ctx.sockets.push(next.socket)
  next.socket.write(encodeFrame(FrameKind.HELLO, 0, { v: 1, token: TOKEN }))
  await until(() => next.frames.some((f) => f.kind === FrameKind.HELLO_OK), 'HELLO_OK on a new connection')
})

test('options.maxConnections is checked', () => {
  assert.throws(() => new ShardServer({ maxConnections: 0 }), /options\.maxConnections/)
})

test.run()
