import { Pyshard } from 'pyshard'

const db = await Pyshard.open() // 4 in-process shards over [0, 1)

await db.createIndex('test_index')
await db.write('test_index', 'test', 'hello world')
console.log(await db.read('test_index', 'test'))
// → { hash: 0.38755105808377266, record: 'hello world' }
await db.write('test_index', 'test1', { hello: 'world' })
console.log(await db.pop('test_index', 'test1'))
// → { hash: 0.029390326933935285, record: { hello: 'world' } }

await db.close()
