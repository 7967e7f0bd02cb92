import Keyv from 'keyv'
import { Pyshard } from 'pyshard'
import { KeyvPyshard } from 'pyshard/keyv'

const db = await Pyshard.open({ shards: 4, size: 16 * 1024 * 1024, onFull: 'evict' })
const keyv = new Keyv({ store: new KeyvPyshard(db), namespace: 'sessions' })

await keyv.set('user:1', { name: 'Ada' }, 60_000) // TTL in ms
console.log(await keyv.get('user:1')) // → { name: 'Ada' }
console.log(await keyv.get(['user:1', 'user:2'])) // → [ { name: 'Ada' }, undefined ]
for await (const [key, value] of keyv.iterator()) console.log(key, value) // → user:1 { name: 'Ada' }
await keyv.clear() // only the 'sessions' namespace

await db.close()
