// Child process for test/tcp-inflight.test.ts: against the shard server at
// argv[2] (port), issues 1,000,000 writes in one tick without awaiting, then reports
// how they settled and the client's heap (after gc when --expose-gc is on) as JSON on stdout.
// It imports the built package (the heap figure is the shipped code's: tsx's name helpers add
// a property store to every closure of the sources).
const { Pyshard } = await import(new URL('../../dist/src/index.js', import.meta.url).href)

const port = Number(process.argv[2])
const total = Number(process.argv[3] ?? 1_000_000)
const gc = globalThis.gc
const heap = () => {
  gc?.()
  return process.memoryUsage().heapUsed
}

const db = await Pyshard.open({ config: { shards: [{ name: 's0', transport: 'tcp', host: '127.0.0.1', port, size: 1024 * 1024 * 1024, onFull: 'reject' }] } })
await db.createIndex('m')
const base = heap()
const counts = {}
let limitMessage = ''
let settled = 0
let peak = 0
const sample = () => {
  settled++
  if (settled % 100_000 === 0) peak = Math.max(peak, heap())
}
// Shared handlers: the heap figure is the store's, not a closure per call of this script.
const onOk = () => { counts.ok = (counts.ok ?? 0) + 1; sample() }
const onErr = (err) => {
  const c = String(err?.code)
  counts[c] = (counts[c] ?? 0) + 1
  if (c === 'SHARD_UNAVAILABLE') limitMessage ||= err.message
  sample()
}
for (let i = 0; i < total; i++) db.write('m', `k${i}`, { i }).then(onOk, onErr)
const afterLoop = heap()
peak = Math.max(peak, afterLoop)
while (settled < total) await new Promise((r) => setTimeout(r, 50))
const stored = (await db.stat()).reduce((n, s) => n + s.count, 0)
await db.close()
process.stdout.write(`${JSON.stringify({ counts, limitMessage, stored, base, afterLoop, peak, gc: gc !== undefined })}\n`)
