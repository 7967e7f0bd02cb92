// The tcp client's memory and deadlines under a caller that does not wait: maxInFlight bounds
// what one shard holds (the excess rejects at once, naming the option), and a request times out
// only when it was sent and not answered within requestTimeout, never because the caller's own
// loop kept this thread from reading the answer. Clients run in child processes against the
// built package, so their heap figure is clean; the shard server runs here.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { ShardServer } from '../transports/tcp/servers.js'

interface Ctx { server: ShardServer; port: number }
const test = suite<Ctx>('tcp: bounded in-flight requests and send-time deadlines', {} as Ctx)

test.before(async (ctx) => {
  ctx.server = new ShardServer({})
  await ctx.server.listen()
  ctx.port = (ctx.server.address as { port: number }).port
})

test.after(async (ctx) => {
  await ctx.server?.close()
})

function child(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => { out += d })
    p.stderr.on('data', (d) => { err += d })
    p.on('close', (code) => resolve({ code, out, err }))
  })
}

const MB = 1024 * 1024

test('1,000,000 un-awaited writes in one tick: none TIMEOUT, the excess is refused naming maxInFlight, client heap under 300 MB', async ({ port }) => {
  const r = await child(['--expose-gc', 'test/helpers/million-writes.mjs', String(port), '1000000'])
  assert.is(r.code, 0, r.err)
  const res = JSON.parse(r.out) as { counts: Record<string, number>; limitMessage: string; stored: number; peak: number; gc: boolean }
  assert.ok(res.gc, 'the child ran with --expose-gc')
  assert.is(res.counts.TIMEOUT, undefined, `no write times out: ${JSON.stringify(res.counts)}`)
  assert.equal(Object.keys(res.counts).filter((c) => c !== 'ok' && c !== 'SHARD_UNAVAILABLE'), [], JSON.stringify(res.counts))
  assert.is((res.counts.ok ?? 0) + (res.counts.SHARD_UNAVAILABLE ?? 0), 1_000_000)
  assert.ok((res.counts.ok ?? 0) > 0, 'writes within maxInFlight are applied')
  assert.is(res.stored, res.counts.ok, 'every write answered ok is stored, and only those')
  if (res.counts.SHARD_UNAVAILABLE) assert.match(res.limitMessage, 'maxInFlight')
  assert.ok(res.peak < 300 * MB, `client heap peaked at ${(res.peak / MB).toFixed(0)} MB`)
})

test('a caller that keeps its thread busy past requestTimeout after sending: its answered writes do not TIMEOUT', async ({ port }) => {
  const r = await child(['test/helpers/busy-caller.mjs', String(port)])
  assert.is(r.code, 0, r.err)
  assert.equal(JSON.parse(r.out).counts, { ok: 1000 })
})

test.run()
