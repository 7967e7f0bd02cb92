// A consumer of the packed package, type-checked (strict) under NodeNext and Bundler resolution by
// test/package-install.test.ts. Each `@ts-expect-error` pins a mistake the types must refuse.
import { Pyshard, PyshardError, AbortedError, type Entry, type EvictEvent, type ClusterConfig, type TransportName } from 'pyshard'
import { KeyvPyshard } from 'pyshard/keyv'
import { ShardServer, BootstrapServer } from 'pyshard/server'

interface User { name: string; born: number; tags?: string[]; address?: { city: string } }

const db = await Pyshard.open({ shards: 2 })
await db.createIndex('users', { ifNotExists: true })

// Interfaces are documents: no cast, no index signature.
const ada: User = { name: 'Ada', born: 1815 }
await db.write('users', 'ada', ada)
await db.write('users', 'n', 42)
await db.write('users', 'l', [1, 'two', null, { three: true }])
await db.writeMany('users', [['a', ada], ['b', { name: 'B', born: 1 }]])

// Reads are typed by the caller.
const r: Entry<User> | null = await db.read<User>('users', 'ada')
const born: number | undefined = r?.record.born
const many: (Entry<User> | null)[] = await db.readMany<User>('users', ['ada', 'b'])
const popped: Entry<User> | null = await db.pop<User>('users', 'b')
for await (const [key, entry] of db.entries<User>('users')) console.log(key, entry.record.name.toUpperCase())
// Without a type argument records are JSON values.
const plain = await db.read('users', 'n')
const json: string | number | boolean | null | object | undefined = plain?.record

// @ts-expect-error functions are not documents
await db.write('users', 'f', () => 1)
// @ts-expect-error a Map is not a document
await db.write('users', 'm', new Map())
// @ts-expect-error undefined is not a document
await db.write('users', 'u', undefined)
// @ts-expect-error bigints are not documents
await db.write('users', 'b', { n: 10n })
// @ts-expect-error a Date (an object with methods) is not a document
await db.write('users', 'd', { at: new Date() })

// Every operation takes { signal, timeout } last.
const ac = new AbortController()
await db.read('users', 'ada', { signal: ac.signal, timeout: 100 })
await db.write('users', 'ada', ada, { ttl: 1000, timeout: 50 })
await db.has('users', 'ada', { signal: AbortSignal.timeout(1000) })
await db.remove('users', 'x', { timeout: 10 })
await db.stat({ timeout: 100 })
await db.indexes({ signal: ac.signal })
for await (const k of db.keys('users', { pageSize: 10, signal: ac.signal })) console.log(k)
// @ts-expect-error timeout is a number of ms
await db.read('users', 'ada', { timeout: '1s' })

// Transport names are checked; each transport's options are typed.
await Pyshard.open({ shards: 2, transport: 'worker', transportOptions: { codec: 'msgpack', maxInFlight: 10 } })
// @ts-expect-error misspelt transport
await Pyshard.open({ transport: 'wroker' })
// @ts-expect-error 'gzip' is not a worker codec
await Pyshard.open({ transport: 'worker', transportOptions: { codec: 'gzip' } })
// @ts-expect-error maxFrameSize is a tcp setting, not a worker one
await Pyshard.open({ transport: 'worker', transportOptions: { maxFrameSize: 1 } })
const name: TransportName = 'redis'
const config: ClusterConfig = { shards: [{ name: 'a' }, { name: 'b', onFull: 'evict' }] }
await Pyshard.open({ config, transportOptions: { maxFrameSize: 1 << 20 } })

db.on('evict', (e: EvictEvent) => console.log(e.shard, e.index, e.key))
// @ts-expect-error unknown event
db.on('nope', () => {})

const err: PyshardError = new AbortedError('x')
const store = new KeyvPyshard(db, { index: 'cache' })
await store.set('k', 'v', 1000)
const servers: [typeof ShardServer, typeof BootstrapServer] = [ShardServer, BootstrapServer]
console.log(born, many, popped, json, name, err.code satisfies string, servers)
await db.close()
