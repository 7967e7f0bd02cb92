// The server states its maxFrameSize in HELLO_OK and a client never sends a bigger frame.
// Regression: a client whose maxFrameSize was above the server's sent one 100 MB write; the
// server dropped the shared connection and every other request of that tick, plus 200
// concurrent reads, failed FRAME_TOO_LARGE.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard, PyshardError } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'

const SERVER_MAX = 64 * 1024 * 1024
const test = suite<{ server: ShardServer; db: Pyshard }>('tcp: a client never sends a frame bigger than the server accepts', {} as never)

test.before(async (ctx) => {
  ctx.server = new ShardServer({ maxFrameSize: SERVER_MAX })
  const { port } = await ctx.server.listen()
  ctx.db = await Pyshard.open({
    config: { transport: 'tcp', shards: [{ name: 's', host: '127.0.0.1', port }] },
    transportOptions: { maxFrameSize: 256 * 1024 * 1024 },
    requestTimeout: 60_000,
  })
  await ctx.db.createIndex('docs')
  await Promise.all(Array.from({ length: 200 }, (_, i) => ctx.db.write('docs', `k${i}`, { i })))
})

test.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.server?.destroy()
})

test('a 100 MB write fails FRAME_TOO_LARGE alone; 200 concurrent reads on the same connection succeed', async ({ db, server }) => {
  const big = 'x'.repeat(100 * 1024 * 1024)
  const write = db.write('docs', 'big', big).then(() => null, (err: unknown) => err)
  const reads = Array.from({ length: 200 }, (_, i) => db.read('docs', `k${i}`))
  const got = await Promise.all(reads)
  got.forEach((e, i) => assert.equal(e?.record, { i }))
  const err = await write
  assert.instance(err, PyshardError)
  assert.is((err as PyshardError).code, 'FRAME_TOO_LARGE')
  assert.match((err as Error).message, String(SERVER_MAX))
  // The connection is still the one it was: nothing was torn down.
  assert.is(server.connections, 1)
  assert.equal((await db.read('docs', 'k7'))?.record, { i: 7 })
  assert.is(await db.read('docs', 'big'), null)
})

test.run()
