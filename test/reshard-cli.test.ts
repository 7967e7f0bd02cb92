/** pyshard reshard: moves a running cluster of separate processes to a new map; needs the admin token. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, runCli, startRunning } from './helpers/cli.js'
import type { Running } from './helpers/cli.js'

const ctx = { dir: '', running: [] as Running[] }
const test = suite('cli: pyshard reshard')

test.before(() => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-cli-reshard-'))
})
test.after(async () => {
  for (const r of ctx.running) if (r.child.exitCode === null) r.child.kill('SIGKILL')
  rmSync(ctx.dir, { recursive: true, force: true })
})

test('reshard 2 -> 3 with the admin token: exit 0, every entry kept; the data token is refused with exit 1', async () => {
  const ports = [await freePort(), await freePort(), await freePort()]
  const shards = await Promise.all(ports.map((p) => startRunning(['shard', '--port', String(p), '--admin-token', 'adm'], /ready/)))
  ctx.running.push(...shards)
  const shard = (i: number, start: number, end: number): object => ({ name: `s${i}`, host: '127.0.0.1', port: ports[i], start, end })
  const two = join(ctx.dir, 'two.json')
  const three = join(ctx.dir, 'three.json')
  writeFileSync(two, JSON.stringify({ transport: 'tcp', adminToken: 'adm', shards: [shard(0, 0, 0.5), shard(1, 0.5, 1)] }))
  writeFileSync(three, JSON.stringify({ transport: 'tcp', shards: [shard(0, 0, 0.3), shard(1, 0.3, 0.6), shard(2, 0.6, 1)] }))
  const bport = await freePort()
  const boot = await startRunning(['bootstrap', '--config', two, '--port', String(bport)], /ready on/)
  ctx.running.push(boot)
  assert.match(boot.out(), /shard "s0" assigned \(epoch 1\)/)
  const b = ['-b', `127.0.0.1:${bport}`]
  const input = Array.from({ length: 300 }, (_, i) => `k${i}|${i}`).join('\n') + '\n'
  const w = await runCli(['write', 'spread', '--force', ...b], { input })
  assert.is(w.code, 0, w.stderr)

  const refused = await runCli(['reshard', '--config', three, ...b, '--admin-token', 'wrong'])
  assert.is(refused.code, 1, refused.stderr)
  assert.match(refused.stderr, /reshard failed/)

  const r = await runCli(['reshard', '--config', three, ...b, '--admin-token', 'adm'], { timeoutMs: 60_000 })
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /epoch 2 in force/)
  const s = await runCli(['stat', '--json', ...b])
  const stats = JSON.parse(s.stdout) as { name: string; count: number; status: string }[]
  assert.equal(stats.map((x) => [x.name, x.status]), [['s0', 'up'], ['s1', 'up'], ['s2', 'up']])
  assert.is(stats.reduce((n, x) => n + x.count, 0), 300)
  assert.ok(stats.every((x) => x.count > 0))
})

test.run()
