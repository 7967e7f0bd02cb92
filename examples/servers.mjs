import { Pyshard } from 'pyshard'
import { ShardServer, BootstrapServer } from 'pyshard/server'

const a = new ShardServer() // port 0: any free port; give fixed ones in production
const b = new ShardServer()
const [pa, pb] = [(await a.listen()).port, (await b.listen()).port]
const bootstrap = new BootstrapServer({
  port: 0,
  config: { shards: [{ name: 'a', host: '127.0.0.1', port: pa }, { name: 'b', host: '127.0.0.1', port: pb }] },
})
const { port } = await bootstrap.listen() // BAD_CONFIG for a bad map; assigns every shard server

const db = await Pyshard.connect(`127.0.0.1:${port}`) // or { bootstrap, token, ...OpenOptions }
await db.createIndex('test_index')
await db.write('test_index', 'test', 'hello world')
console.log(await db.read('test_index', 'test')) // → { hash: 0.38755105808377266, record: 'hello world' }

await db.close()
await bootstrap.close()
await Promise.all([a.close(), b.close()])
