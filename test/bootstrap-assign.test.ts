// Regression: a shard server whose first assignment fails (here: is never answered, so it times out)
// is assigned again by the health checks while it stays connected.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import net from 'node:net'
import { BootstrapServer } from '../transports/tcp/servers.js'
import type { ShardSettings } from '../src/index.js'
import { FrameDecoder, FrameKind, encodeFrame, decodeBody } from '../transports/tcp/codec.js'

const test = suite<{ server: net.Server | null; bootstrap: BootstrapServer | null }>('bootstrap: assignment retried', { server: null, bootstrap: null })

test.after(async (ctx) => {
  await ctx.bootstrap?.close()
  await new Promise<void>((r) => (ctx.server ? ctx.server.close(() => r()) : r()))
})

test('an assignment that timed out is retried until the shard server has the map\'s settings', async (ctx) => {
  let configures = 0
  let settings: ShardSettings = { name: 'shard', start: 0, end: 1, size: 64 << 20, onFull: 'reject', epoch: 0 }
  const sockets = new Set<net.Socket>()
  ctx.server = net.createServer((sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    const dec = new FrameDecoder()
    sock.on('error', () => {})
    sock.on('data', (c) => dec.push(c, (kind, id, body) => {
      if (kind === FrameKind.HELLO) return void sock.write(encodeFrame(FrameKind.HELLO_OK, 0, { v: 1, role: 'shard' }))
      const [req] = decodeBody(body) as { op: string; settings?: ShardSettings }[]
      if (req?.op === 'configure') {
        if (++configures === 1) return // the first assignment is never answered
        settings = req.settings as ShardSettings
        return void sock.write(encodeFrame(FrameKind.RESULT, id, [{ ok: true, value: true }]))
      }
      if (req?.op === 'stat') {
        const { name, start, end, size, onFull } = settings
        sock.write(encodeFrame(FrameKind.RESULT, id, [{ ok: true, value: { name, start, end, count: 0, bytes: 0, maxSize: size, onFull, indexes: 0, distribution: [] } }]))
      }
    }))
  })
  const server = ctx.server
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  ctx.bootstrap = new BootstrapServer({
    config: { transport: 'tcp', shards: [{ name: 'a', host: '127.0.0.1', port, size: 1000 }] },
    requestTimeout: 200, healthInterval: 100,
  })
  await ctx.bootstrap.listen()
  for (let i = 0; i < 100 && !(ctx.bootstrap.stat()[0]?.configured === true); i++) await new Promise((r) => setTimeout(r, 50))
  assert.ok(configures >= 2, `assignments sent: ${configures}`)
  assert.is(ctx.bootstrap.stat()[0]?.configured, true)
  assert.equal({ name: settings.name, size: settings.size }, { name: 'a', size: 1000 })
  await ctx.bootstrap.close()
  ctx.bootstrap = null
  for (const s of sockets) s.destroy()
})

test.run()
