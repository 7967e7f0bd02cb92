/** pyshard shard + pyshard bootstrap as separate processes (the multi-host setup), and up's start-up errors. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, runCli, startRunning } from './helpers/cli.js'
import type { Running } from './helpers/cli.js'

const ctx = { dir: '', running: [] as Running[] }
const test = suite('cli: pyshard shard and pyshard bootstrap')

test.before(() => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-cli-servers-'))
})
test.after(async () => {
  for (const r of ctx.running) if (r.child.exitCode === null) r.child.kill('SIGKILL')
  rmSync(ctx.dir, { recursive: true, force: true })
})

test('two shard processes and a bootstrap process serve a cluster; SIGTERM stops each with exit 0', async () => {
  const ports = [await freePort(), await freePort()]
  const shards = await Promise.all(ports.map((p) => startRunning(['shard', '--port', String(p)], /ready/)))
  ctx.running.push(...shards)
  assert.match(shards[0]?.out() as string, `listening on 127.0.0.1:${ports[0]}`)
  const config = join(ctx.dir, 'cluster.json')
  writeFileSync(config, JSON.stringify({ transport: 'tcp', shards: ports.map((port, i) => ({ name: `s${i}`, host: '127.0.0.1', port })) }))
  const bport = await freePort()
  const boot = await startRunning(['bootstrap', '--config', config, '--port', String(bport)], /ready on/)
  ctx.running.push(boot)
  assert.match(boot.out(), /s0\s+\[0, 0\.5\)\s+tcp/)

  const b = ['-b', `127.0.0.1:${bport}`]
  const w = await runCli(['write', 'spread', '--force', ...b], { input: 'a|1\nb|2\nc|3\nd|4\n' })
  assert.is(w.code, 0, w.stderr)
  const s = await runCli(['stat', '--json', ...b])
  const stats = JSON.parse(s.stdout) as { name: string; count: number }[]
  assert.equal(stats.map((x) => x.name), ['s0', 's1'])
  assert.is(stats.reduce((n, x) => n + x.count, 0), 4)

  for (const r of [boot, ...shards]) r.child.kill('SIGTERM')
  for (const r of [boot, ...shards]) assert.is(await r.exited, 0, r.out())
})

test('up: a port in use is one line and exit 1; a bad config is one line and exit 1', async () => {
  const blocker = net.createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  const taken = (blocker.address() as net.AddressInfo).port
  try {
    const config = join(ctx.dir, 'taken.json')
    writeFileSync(config, JSON.stringify({ transport: 'tcp', shards: [{ name: 'x', host: '127.0.0.1', port: taken }] }))
    const r = await runCli(['up', '--config', config, '--port', '0'])
    assert.is(r.code, 1)
    assert.is(r.stderr, `pyshard up: shard server "x" on 127.0.0.1:${taken}: address in use\n`)
    const boot = await runCli(['up', '--config', join(ctx.dir, 'no-such.json')])
    assert.is(boot.code, 1)
    assert.match(boot.stderr, /^pyshard up: cannot read config file .*no-such\.json.*\(BAD_CONFIG\)\n$/)
  } finally {
    blocker.close()
  }
})

test('up --data DIR --fsync always: each shard is kept under DIR/<name>; started again, the data is back', async () => {
  const ports = [await freePort(), await freePort()]
  const config = join(ctx.dir, 'kept.json')
  writeFileSync(config, JSON.stringify({ transport: 'tcp', shards: ports.map((port, i) => ({ name: `k${i}`, host: '127.0.0.1', port })) }))
  const data = join(ctx.dir, 'data')
  const bport = await freePort()
  const b = ['-b', `127.0.0.1:${bport}`]
  const first = await startRunning(['up', '--config', config, '--port', String(bport), '--data', data, '--fsync', 'always'], /ready on/)
  ctx.running.push(first)
  const w = await runCli(['write', 'kept', '--force', ...b], { input: 'a|1\nb|2\nc|3\nd|4\n' })
  assert.is(w.code, 0, w.stderr)
  first.child.kill('SIGTERM')
  assert.is(await first.exited, 0, first.out())
  for (const name of ['k0', 'k1']) assert.ok(existsSync(join(data, name, 'data.mdb')), `data of ${name}`)
  const bad = await runCli(['up', '--config', config, '--fsync', 'sometimes', '--data', data])
  assert.is(bad.code, 2)
  assert.match(bad.stderr, '--fsync must be always, everysec or no')

  const second = await startRunning(['up', '--config', config, '--port', String(bport), '--data', data], /ready on/)
  ctx.running.push(second)
  const s = await runCli(['stat', '--json', ...b])
  const stats = JSON.parse(s.stdout) as { name: string; count: number }[]
  assert.is(stats.reduce((n, x) => n + x.count, 0), 4)
  second.child.kill('SIGTERM')
  assert.is(await second.exited, 0, second.out())
})

test.run()
