// Inline record definitions cannot change how other frames decode: a frame encoded by a plain
// msgpackr encoder defines its own records under the ids of the shapes both ends know in
// advance (SHAPES in src/codec.ts). After it, every other frame (from any connection, on the
// server; from the server, on a client) still decodes with the known shapes.
import net from 'node:net'
import { Packr } from 'msgpackr'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'
import { FrameDecoder, FrameKind, decodeBody, decodeResults, encodeFrame, encodeResultFrame, frame } from '../transports/tcp/codec.js'

/** Twelve objects of distinct shapes: a plain encoder gives them record ids 0x40..0x4b, every known shape's id. */
function rogueObjects(): Record<string, unknown>[] {
  return Array.from({ length: 12 }, (_, i) => {
    const o: Record<string, unknown> = { op: 'indexes' }
    for (let j = 0; j <= i; j++) o[`f${j}`] = j
    return o
  })
}

interface Ctx { server: ShardServer; db: Pyshard; socket: net.Socket | null }

const test = suite<Ctx>('tcp: inline record definitions cannot change how other frames decode', {} as Ctx)

test.before(async (ctx) => {
  ctx.server = new ShardServer()
  const { port } = await ctx.server.listen()
  ctx.db = await Pyshard.open({ config: { transport: 'tcp', shards: [{ name: 's', host: '127.0.0.1', port }] } })
  ctx.socket = null
  await ctx.db.createIndex('users')
})

test.after(async (ctx) => {
  ctx.socket?.destroy()
  await ctx.db?.close()
  await ctx.server?.destroy()
})

test('a rogue frame on one connection: requests from another connection keep their meaning', async (ctx) => {
  const { port } = ctx.server.address as { port: number }
  const socket = net.connect({ host: '127.0.0.1', port })
  ctx.socket = socket
  socket.on('error', () => {})
  const decoder = new FrameDecoder()
  const answered = new Promise<unknown>((resolve) => {
    socket.on('data', (chunk: Buffer) => decoder.push(chunk, (kind, id, body) => {
      if (kind !== FrameKind.RESULT || id !== 1) return
      try {
        resolve(decodeBody(body))
      } catch (err) {
        resolve(err)
      }
    }))
  })
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const rogue = new Packr({ useRecords: true }).pack(rogueObjects())
  socket.write(Buffer.concat([encodeFrame(FrameKind.HELLO, 0, { v: 1 }), frame(FrameKind.BATCH, 1, rogue)]))
  const answers = await answered
  assert.ok(Array.isArray(answers), `the rogue frame's answer decodes: ${String(answers)}`)
  assert.is(answers.length, 12, 'the rogue frame itself is answered, one answer per object')

  // Object documents and their answers go through msgpackr's records (not the fast path).
  const written = await ctx.db.write('users', 'ada', { born: 1815 })
  assert.ok(written.hash > 0)
  assert.equal(await ctx.db.read('users', 'ada'), { hash: written.hash, record: { born: 1815 } })
  await ctx.db.write('users', 'grace', 1906)
  assert.equal((await ctx.db.read('users', 'grace'))?.record, 1906)
  assert.equal(await ctx.db.indexes(), ['users'])
})

test('a rogue RESULT body: the next answers still decode with the known shapes', () => {
  const rogue = new Packr({ useRecords: true }).pack(rogueObjects())
  assert.is((decodeResults(rogue) as unknown[]).length, 12)
  const good = encodeResultFrame(9, [{ ok: true, value: { a: 1 } }, { ok: false, code: 'BAD_REQUEST', message: 'no' }])
  assert.equal(decodeResults(good.subarray(9)), [{ ok: true, value: { a: 1 } }, { ok: false, code: 'BAD_REQUEST', message: 'no' }])
  // A cut rogue frame fails, and does not leave its definitions behind either.
  assert.throws(() => decodeResults(rogue.subarray(0, rogue.length - 2)))
  assert.equal(decodeResults(good.subarray(9)), [{ ok: true, value: { a: 1 } }, { ok: false, code: 'BAD_REQUEST', message: 'no' }])
})

test.run()
