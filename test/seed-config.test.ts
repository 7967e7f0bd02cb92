// The seed's config_example.json (two shards, size 1024, "host": "", no transport) runs as it is in
// BootstrapServer, `pyshard up --config` and `Pyshard.open({ config })`. Ports are free ones
// instead of the seed's 5050/5051 so tests never clash with a running cluster.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pyshard } from '../src/index.js'
import { BootstrapServer, ShardServer } from '../transports/tcp/servers.js'
import { freePort } from './helpers/ports.js'
import { runCli, startRunning } from './helpers/cli.js'

const test = suite('seed config')

function seedConfig(p0: number, p1: number): object {
  return {
    shards: [
      { name: 'shard0-0.5', start: 0.0, end: 0.5, size: 1024, host: '', port: p0 },
      { name: 'shard0.5-1', start: 0.5, end: 1.0, size: 1024, host: '', port: p1 },
    ],
  }
}

test('BootstrapServer and Pyshard.open take the seed config unchanged ("" is 127.0.0.1, no transport is tcp)', async () => {
  const servers = [new ShardServer(), new ShardServer()]
  const ports = []
  for (const s of servers) ports.push((await s.listen()).port)
  const config = seedConfig(ports[0] as number, ports[1] as number)
  const bootstrap = new BootstrapServer({ config: config as never })
  try {
    const address = await bootstrap.listen()
    assert.equal(bootstrap.map.shards.map((s) => [s.transport, s.host]), [['tcp', '127.0.0.1'], ['tcp', '127.0.0.1']])
    const viaBootstrap = await Pyshard.connect(`${address.host}:${address.port}`)
    await viaBootstrap.createIndex('test_index')
    await viaBootstrap.write('test_index', 'test', 'hello world')
    await viaBootstrap.close()
    const direct = await Pyshard.open({ config: config as never })
    assert.equal((await direct.read('test_index', 'test'))?.record, 'hello world')
    assert.equal((await direct.stat()).map((s) => [s.name, s.transport, s.maxSize]), [['shard0-0.5', 'tcp', 1024], ['shard0.5-1', 'tcp', 1024]])
    await direct.close()
  } finally {
    await bootstrap.close()
    for (const s of servers) await s.close()
  }
})

test('pyshard up --config runs the seed config unchanged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-seed-'))
  const file = join(dir, 'config_example.json')
  writeFileSync(file, JSON.stringify(seedConfig(await freePort(), await freePort()), null, 2))
  const port = await freePort()
  const up = await startRunning(['up', '--config', file, '--port', String(port)], /ready on/)
  try {
    const w = await runCli(['write', 'test_index', '--force', '-b', `127.0.0.1:${port}`], { input: '1|test\n2|{"test": "test"}\n3|42\n' })
    assert.is(w.code, 0, w.stderr)
    const c = await runCli(['cat', 'test_index', '-b', `127.0.0.1:${port}`])
    assert.is(c.code, 0, c.stderr)
    assert.is(c.stdout.trim().split('\n').length, 3)
  } finally {
    up.child.kill('SIGINT')
    await up.exited
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
