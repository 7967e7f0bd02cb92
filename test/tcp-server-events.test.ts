// ShardServer events leave the data path: a listener that throws does not touch the answer
// being sent; what it throws arrives as 'error'.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'

interface Ctx { server: ShardServer; db: Pyshard; clock: number }

const test = suite<Ctx>('tcp: ShardServer events off the data path', {} as Ctx)

test.before(async (ctx) => {
  ctx.clock = 1_000_000
  ctx.server = new ShardServer({ now: () => ctx.clock })
  const { port } = await ctx.server.listen()
  ctx.db = await Pyshard.open({ config: { transport: 'tcp', shards: [{ name: 's', host: '127.0.0.1', port }] } })
  await ctx.db.createIndex('e')
})

test.after(async (ctx) => {
  await ctx.db?.close()
  await ctx.server?.destroy()
})

test('a throwing expire listener: the read that expired the entry answers, the error arrives as \'error\'', async (ctx) => {
  const errors: Error[] = []
  const expired: string[] = []
  ctx.server.on('error', (err) => errors.push(err))
  ctx.server.on('expire', (e) => {
    expired.push(e.key)
    throw new Error('listener failed')
  })
  await ctx.db.write('e', 'short', 1, { ttl: 10 })
  ctx.clock += 1000
  assert.is(await ctx.db.read('e', 'short'), null)
  assert.is(await ctx.db.has('e', 'short'), false)
  assert.equal(expired, ['short'])
  assert.equal(errors.map((e) => e.message), ['listener failed'])
})

test.run()
