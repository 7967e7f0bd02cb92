// Bad input to a shard server: random bytes, a 4 GiB length prefix, a truncated frame,
// an unknown op, a wrong token, a silent client, a client that never reads. Each gets
// its error (or is closed); the server stays up and a well-behaved client on another
// connection sees no error.
import net from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard, PyshardError } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'
import type { ClientErrorEvent } from '../transports/tcp/servers.js'
import { FrameDecoder, FrameKind, decodeBody, encodeFrame, frame } from '../transports/tcp/codec.js'

const TOKEN = 'bad-input-token'

interface RawFrame { kind: number; id: number; body: unknown }

/** A client speaking raw bytes, recording the frames it gets back. */
class RawClient {
  readonly socket: net.Socket
  readonly frames: RawFrame[] = []
  readonly closed: Promise<void>
  #decoder = new FrameDecoder()

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port })
    this.socket.on('error', () => {})
    this.socket.on('data', (chunk: Buffer) => this.#decoder.push(chunk, (kind, id, body) => {
      this.frames.push({ kind, id, body: decodeBody(body) })
    }))
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()))
  }

  ready(): Promise<void> {
    return new Promise((resolve) => this.socket.once('connect', () => resolve()))
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  hello(token?: string): void {
    this.write(encodeFrame(FrameKind.HELLO, 0, token === undefined ? { v: 1 } : { v: 1, token }))
  }

  async until(pred: (f: RawFrame) => boolean, ms = 3000): Promise<RawFrame> {
    const end = Date.now() + ms
    for (;;) {
      const hit = this.frames.find(pred)
      if (hit) return hit
      if (Date.now() > end) throw new Error(`no matching frame within ${ms} ms; got ${JSON.stringify(this.frames)}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  error(): { code: string; message: string } | undefined {
    return this.frames.find((f) => f.kind === FrameKind.ERROR)?.body as { code: string; message: string } | undefined
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Deterministic pseudo-random bytes (xorshift), so a failure can be replayed. */
function randomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

interface Ctx {
  server: ShardServer
  port: number
  db: Pyshard
  clientErrors: ClientErrorEvent[]
  /** Failures of the well-behaved client's background traffic. */
  goodErrors: unknown[]
  goodOps: number
  stop: boolean
  background: Promise<void>
  raws: RawClient[]
}

const test = suite<Ctx>('tcp bad input: the server survives, other clients see nothing', {} as Ctx)

test.before(async (ctx) => {
  ctx.server = new ShardServer({ token: TOKEN, handshakeTimeout: 300, maxFrameSize: 1024 * 1024 })
  ctx.clientErrors = []
  ctx.server.on('clientError', (e) => ctx.clientErrors.push(e))
  ctx.port = (await ctx.server.listen()).port
  ctx.db = await Pyshard.open({ config: { transport: 'tcp', token: TOKEN, shards: [{ name: 's', host: '127.0.0.1', port: ctx.port }] } })
  await ctx.db.createIndex('good')
  ctx.goodErrors = []
  ctx.goodOps = 0
  ctx.stop = false
  ctx.raws = []
  // A well-behaved client keeps writing and reading back on its own connection the whole time.
  ctx.background = (async () => {
    for (let i = 0; !ctx.stop; i++) {
      try {
        await ctx.db.write('good', `k${i % 100}`, { i })
        const e = await ctx.db.read('good', `k${i % 100}`)
        if ((e?.record as { i: number } | undefined)?.i !== i) throw new Error(`read back ${JSON.stringify(e)} for ${i}`)
        ctx.goodOps++
      } catch (err) {
        ctx.goodErrors.push(err)
      }
      if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  })()
})

test.after(async (ctx) => {
  ctx.stop = true
  await ctx.background
  for (const r of ctx.raws ?? []) r.destroy()
  await ctx.db?.close()
  await ctx.server?.destroy()
})

function raw(ctx: Ctx): RawClient {
  const r = new RawClient(ctx.port)
  ctx.raws.push(r)
  return r
}

test('random bytes: closed (with BAD_REQUEST or FRAME_TOO_LARGE when the server could tell)', async (ctx) => {
  for (const seed of [1, 7, 42, 1234, 99991]) {
    const r = raw(ctx)
    await r.ready()
    r.write(randomBytes(64 * 1024, seed))
    await r.closed
    // Whatever the bytes, the server says why before it closes (at the latest, no HELLO in time).
    const err = r.error()
    assert.ok(err !== undefined, `seed ${seed}: closed without an ERROR frame`)
    assert.ok(['BAD_REQUEST', 'FRAME_TOO_LARGE'].includes(err.code), `seed ${seed}: ${err.code}`)
  }
})

test('a length prefix of 4 GiB: FRAME_TOO_LARGE, closed, nothing buffered', async (ctx) => {
  const r = raw(ctx)
  await r.ready()
  r.write(Buffer.from([0xff, 0xff, 0xff, 0xff, FrameKind.HELLO, 0, 0, 0, 0]))
  await r.closed
  assert.is(r.error()?.code, 'FRAME_TOO_LARGE')
  assert.match(r.error()?.message ?? '', 'maxFrameSize')
})

test('a truncated frame: the connection is closed when the client gives up, the server stays up', async (ctx) => {
  const r = raw(ctx)
  await r.ready()
  r.hello(TOKEN)
  await r.until((f) => f.kind === FrameKind.HELLO_OK)
  const whole = encodeFrame(FrameKind.BATCH, 7, [{ op: 'indexes' }])
  r.socket.end(whole.subarray(0, whole.length - 3))
  await r.closed
  assert.not.ok(r.frames.some((f) => f.kind === FrameKind.RESULT), 'no answer to half a frame')
})

test('a frame with an unknown op (sent with HELLO in one write): BAD_REQUEST for that request, the connection keeps working', async (ctx) => {
  const r = raw(ctx)
  await r.ready()
  r.hello(TOKEN)
  r.write(encodeFrame(FrameKind.BATCH, 1, [{ op: 'explode', index: 'good' }, { op: 'indexes' }, 42, null]))
  const res = await r.until((f) => f.kind === FrameKind.RESULT && f.id === 1)
  const answers = res.body as { ok: boolean; code?: string; value?: unknown }[]
  assert.is(answers.length, 4)
  assert.is(answers[0]?.code, 'BAD_REQUEST')
  assert.equal(answers[1], { ok: true, value: ['good'] })
  assert.is(answers[2]?.code, 'BAD_REQUEST')
  assert.is(answers[3]?.code, 'BAD_REQUEST')
  r.write(encodeFrame(FrameKind.BATCH, 2, [{ op: 'indexes' }]))
  await r.until((f) => f.kind === FrameKind.RESULT && f.id === 2)
  assert.is(r.socket.destroyed, false)
})

test('a batch that is not MessagePack, or not an array, or an unknown frame kind: BAD_REQUEST and closed', async (ctx) => {
  const bodies = [
    frame(FrameKind.BATCH, 1, Buffer.from([0xc1, 0xc1, 0xc1])),
    encodeFrame(FrameKind.BATCH, 1, { op: 'indexes' }),
    encodeFrame(99 as FrameKind, 1, []),
  ]
  for (const bytes of bodies) {
    const r = raw(ctx)
    await r.ready()
    r.hello(TOKEN)
    r.write(bytes)
    await r.closed
    assert.is(r.error()?.code, 'BAD_REQUEST')
  }
})

test('a wrong or missing token: AUTH_FAILED and closed; a store with a wrong token rejects AUTH_FAILED', async (ctx) => {
  for (const token of ['nope', undefined]) {
    const r = raw(ctx)
    await r.ready()
    r.hello(token)
    r.write(encodeFrame(FrameKind.BATCH, 1, [{ op: 'indexes' }]))
    await r.closed
    assert.is(r.error()?.code, 'AUTH_FAILED')
    assert.not.ok(r.frames.some((f) => f.kind === FrameKind.RESULT), 'nothing answered before the token')
  }
  const wrong = await Pyshard.open({
    config: { transport: 'tcp', shards: [{ name: 's', host: '127.0.0.1', port: ctx.port }] },
    token: 'wrong', transportOptions: { maxReconnectDelay: 50 },
  })
  try {
    await wrong.read('good', 'k1')
    assert.unreachable('should reject')
  } catch (err) {
    assert.instance(err, PyshardError)
    assert.is((err as PyshardError).code, 'AUTH_FAILED')
  } finally {
    await wrong.close()
  }
})

test('a first frame other than HELLO, and a client that sends nothing: BAD_REQUEST and closed', async (ctx) => {
  const early = raw(ctx)
  await early.ready()
  early.write(encodeFrame(FrameKind.BATCH, 1, [{ op: 'indexes' }]))
  await early.closed
  assert.is(early.error()?.code, 'BAD_REQUEST')

  const silent = raw(ctx)
  await silent.ready()
  await silent.closed
  assert.is(silent.error()?.code, 'BAD_REQUEST')
  assert.match(silent.error()?.message ?? '', 'handshakeTimeout')
})

test('a client that never reads: many tiny frames asking for big answers cost bounded memory, others go on', async (ctx) => {
  const value = 'v'.repeat(256 * 1024)
  const { hash } = await ctx.db.write('good', 'big', value)
  const r = raw(ctx)
  await r.ready()
  r.socket.pause()
  // ~2,000 frames of one read of a 256 KiB value, in one ~60 KB write: about 500 MiB of answers
  // if the server answered a whole chunk before looking at what waits to go out.
  const one = encodeFrame(FrameKind.BATCH, 1, [{ op: 'read', index: 'good', key: 'big', hash }])
  const n = Math.floor(60_000 / one.length)
  const before = process.memoryUsage().arrayBuffers
  r.write(Buffer.concat([encodeFrame(FrameKind.HELLO, 0, { v: 1, token: TOKEN }), ...Array.from({ length: n }, () => one)]))
  // Let the server read all of it: the well-behaved client gets answers meanwhile.
  const opsBefore = ctx.goodOps
  for (let i = 0; i < 20; i++) {
    await ctx.db.write('good', 'probe', i)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.ok(ctx.goodOps > opsBefore, 'the well-behaved client kept going')
  const grown = process.memoryUsage().arrayBuffers - before
  // maxWriteBuffer is 1 MiB: one answer past it, plus what the socket holds.
  assert.ok(grown < 32 * 1024 * 1024, `buffers grew by ${(grown / 1048576).toFixed(1)} MiB for ${n} frames`)
  assert.is(r.socket.destroyed, false, 'the slow reader is not dropped, only not read')
  r.destroy()
  await r.closed
  assert.equal(await ctx.db.read('good', 'probe'), { hash: (await ctx.db.write('good', 'probe', 19)).hash, record: 19 })
})

test('a client that reads late gets every answer, in order, once it reads', async (ctx) => {
  const { hash } = await ctx.db.write('good', 'mid', 'm'.repeat(64 * 1024))
  const r = raw(ctx)
  await r.ready()
  r.socket.pause()
  const n = 300
  const frames = Array.from({ length: n }, (_, i) => encodeFrame(FrameKind.BATCH, i + 1, [{ op: 'read', index: 'good', key: 'mid', hash }]))
  r.write(Buffer.concat([encodeFrame(FrameKind.HELLO, 0, { v: 1, token: TOKEN }), ...frames]))
  await new Promise((resolve) => setTimeout(resolve, 50))
  r.socket.resume()
  await r.until((f) => f.kind === FrameKind.RESULT && f.id === n, 10_000)
  const ids = r.frames.filter((f) => f.kind === FrameKind.RESULT).map((f) => f.id)
  assert.equal(ids, Array.from({ length: n }, (_, i) => i + 1))
  for (const f of r.frames) if (f.kind === FrameKind.RESULT) assert.is((f.body as { value: string }[])[0]?.value.length, 64 * 1024)
  r.destroy()
})

test('after all that: the server is up, the well-behaved client saw no error, protocol errors were reported', async (ctx) => {
  ctx.stop = true
  await ctx.background
  assert.equal(ctx.goodErrors.map(String), [])
  assert.ok(ctx.goodOps > 0)
  assert.ok(ctx.server.address !== null)
  assert.is((await ctx.db.read('good', 'k1')) !== null, true)
  const codes = new Set(ctx.clientErrors.map((e) => e.error.code))
  for (const code of ['BAD_REQUEST', 'FRAME_TOO_LARGE', 'AUTH_FAILED']) assert.ok(codes.has(code as never), `clientError ${code}`)
})

test.run()
