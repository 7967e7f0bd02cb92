// A networked cluster in one process: two shard servers, a bootstrap server that
// assigns them their ranges, and a client that connects through it. Then the
// seed's quick start over real sockets. In production each server runs on its
// own host (see docs/tcp.md and `pyshard shard` / `pyshard bootstrap`).
// Run: node --import tsx examples/cluster.ts
import { Pyshard } from '../src/index.js'
import { BootstrapServer, ShardServer } from '../transports/tcp/servers.js'

// 1. Shard servers: port 0 picks a free port (give fixed ports in production).
const servers = [new ShardServer(), new ShardServer()]
const ports = []
for (const server of servers) ports.push((await server.listen()).port)

// 2. The bootstrap server loads the map and assigns each shard server its name, range and size.
const bootstrap = new BootstrapServer({
  config: {
    transport: 'tcp',
    shards: [
      { name: 'shard0-0.5', start: 0.0, end: 0.5, size: 1024 * 1024, host: '127.0.0.1', port: ports[0] as number },
      { name: 'shard0.5-1', start: 0.5, end: 1.0, size: 1024 * 1024, host: '127.0.0.1', port: ports[1] as number },
    ],
  },
})
const { host, port } = await bootstrap.listen()

// 3. A client: fetches the map from the bootstrap server, then talks to the shard servers directly.
const db = await Pyshard.connect(`${host}:${port}`)
await db.createIndex('test_index')
await db.write('test_index', 'test', 'hello world')
console.log(await db.read('test_index', 'test'))
// → { hash: 0.38755105808377266, record: 'hello world' }
await db.write('test_index', 'test1', { hello: 'world' })
console.log(await db.pop('test_index', 'test1'))
// → { hash: 0.029390326933935285, record: { hello: 'world' } }
console.log(await db.read('test_index', 'test1')) // → null

for (const s of await db.stat()) console.log(`${s.name} [${s.start}, ${s.end}) ${s.count} entries, ${s.bytes} bytes`)
for (const h of bootstrap.stat()) console.log(`${h.name} at ${h.host}:${h.port}: ${h.up ? 'up' : 'down'}, ${h.configured ? 'assigned' : 'not assigned'}`)

await db.close()
await bootstrap.close()
for (const server of servers) await server.close()
