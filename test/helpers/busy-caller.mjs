// Child process for test/tcp-inflight.test.ts: sends 1,000 writes to the shard server at argv[2]
// (port) with requestTimeout 300 ms, then keeps its own thread busy for 1.5 s before it reads the
// answers, and prints how each write settled. The server (another process) answered long before.
const { Pyshard } = await import(new URL('../../dist/src/index.js', import.meta.url).href)

const port = Number(process.argv[2])
const db = await Pyshard.open({
  config: { shards: [{ name: 's0', transport: 'tcp', host: '127.0.0.1', port, size: 64 * 1024 * 1024, onFull: 'reject' }] },
  requestTimeout: 300,
})
await db.createIndex('b')
const writes = Array.from({ length: 1000 }, (_, i) => db.write('b', `k${i}`, i).then(() => 'ok', (err) => String(err?.code)))
// The router flushes on the next tick: after this the batch is on the socket.
await new Promise((resolve) => setImmediate(resolve))
const until = Date.now() + 1500
while (Date.now() < until) { /* the caller's own work */ }
const counts = {}
for (const r of await Promise.all(writes)) counts[r] = (counts[r] ?? 0) + 1
await db.close()
process.stdout.write(`${JSON.stringify({ counts })}\n`)
