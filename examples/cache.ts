// A partitioned in-app cache: 4 shards with a byte limit each, least recently
// used entries evicted when a shard is full, and a TTL on every entry.
// Run: node --import tsx examples/cache.ts
import { Pyshard } from '../src/index.js'

const db = await Pyshard.open({ shards: 4, size: 64 * 1024, onFull: 'evict' }) // 64 KiB per shard
let evicted = 0
db.on('evict', () => evicted++)

await db.createIndex('pages')

async function render(url: string): Promise<string> {
  const hit = await db.read('pages', url)
  if (hit !== null) return hit.record as string
  const html = `<html><body>${url} ${'·'.repeat(900)}</body></html>` // pretend this was expensive
  await db.write('pages', url, html, { ttl: 60_000 }) // fresh for a minute
  return html
}

for (let i = 0; i < 1000; i++) await render(`/article/${i % 400}`)

const stats = await db.stat()
const bytes = stats.reduce((a, s) => a + s.bytes, 0)
const count = stats.reduce((a, s) => a + s.count, 0)
console.log(`${count} pages cached in ${bytes} bytes (limit ${stats.reduce((a, s) => a + s.maxSize, 0)}), ${evicted} evicted`)
for (const s of stats) console.log(`  ${s.name}: ${s.count} entries, ${s.bytes}/${s.maxSize} bytes`)
await db.close()
