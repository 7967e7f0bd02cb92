/**
 * Online resharding figures, same process (client, shard servers and bootstrap share one thread,
 * so absolute latencies are pessimistic; the ratio during/steady is the figure to read):
 *
 * - entries moved per second by `BootstrapServer.reshard` (2 -> 3 shard servers, 100-byte values)
 * - client latency p50 / p99 of a read+write loop in steady state and while the move runs
 * - what a map of 64+ shard servers costs: served map size, connect time, one stat round
 *
 *   node --import tsx bench/reshard.bench.ts [--entries N] [--shards S]
 * Writes bench/results/reshard.md.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Pyshard } from '../src/index.js'
import { BootstrapClient, BootstrapServer, ShardServer } from '../transports/tcp/servers.js'
import type { ClusterConfig } from '../src/index.js'

const { values: flags } = parseArgs({ options: { entries: { type: 'string' }, shards: { type: 'string' } } })
const ENTRIES = Number(flags.entries ?? 100_000)
const MANY = Number(flags.shards ?? 64)
const VALUE = 'x'.repeat(100)

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

async function loop(db: Pyshard, until: () => boolean): Promise<number[]> {
  const lat: number[] = []
  let i = 0
  while (!until()) {
    const key = `k${(i++ * 7919) % ENTRIES}`
    const t = performance.now()
    if (i % 2 === 0) await db.read('b', key)
    else await db.write('b', key, VALUE)
    lat.push(performance.now() - t)
  }
  return lat.sort((a, b) => a - b)
}

async function moveFigures(): Promise<string[]> {
  const servers = [new ShardServer(), new ShardServer(), new ShardServer()]
  const ports: number[] = []
  for (const s of servers) ports.push((await s.listen()).port)
  const shard = (i: number, start: number, end: number): ClusterConfig['shards'][number] => ({ name: `s${i}`, host: '127.0.0.1', port: ports[i], start, end })
  const bootstrap = new BootstrapServer({ config: { transport: 'tcp', shards: [shard(0, 0, 0.5), shard(1, 0.5, 1)] } })
  const { port } = await bootstrap.listen()
  const db = await Pyshard.connect({ bootstrap: `127.0.0.1:${port}`, requestTimeout: 30_000 })
  try {
    await db.createIndex('b')
    for (let i = 0; i < ENTRIES; i += 1000) await db.writeMany('b', Array.from({ length: 1000 }, (_, j) => [`k${i + j}`, VALUE]))
    const steadyEnd = performance.now() + 3000
    const steady = await loop(db, () => performance.now() > steadyEnd)
    let done = false
    const t0 = performance.now()
    const moving = bootstrap.reshard({ transport: 'tcp', shards: [shard(0, 0, 1 / 3), shard(1, 1 / 3, 2 / 3), shard(2, 2 / 3, 1)] }).finally(() => { done = true })
    const during = await loop(db, () => done)
    const result = await moving
    const secs = (performance.now() - t0) / 1000
    return [
      `- reshard 2 -> 3 of ${ENTRIES} entries (100-byte values): ${result.moved} entries moved in ${secs.toFixed(2)} s = ${Math.round(result.moved / secs)} entries/s; writes to the moving ranges paused ${result.frozenMs} ms`,
      `- client read+write loop, steady: p50 ${pct(steady, 50).toFixed(3)} ms, p99 ${pct(steady, 99).toFixed(3)} ms (${steady.length} requests)`,
      `- same loop during the move: p50 ${pct(during, 50).toFixed(3)} ms, p99 ${pct(during, 99).toFixed(3)} ms (${during.length} requests); p99 ratio ${(pct(during, 99) / pct(steady, 99)).toFixed(2)}x`,
    ]
  } finally {
    await db.close()
    await bootstrap.close()
    await Promise.all(servers.map((s) => s.destroy()))
  }
}

async function manyFigures(): Promise<string[]> {
  const servers: ShardServer[] = []
  for (let i = 0; i < MANY; i++) {
    const s = new ShardServer()
    await s.listen()
    servers.push(s)
  }
  const config: ClusterConfig = {
    transport: 'tcp',
    shards: servers.map((s, i) => ({ name: `s${i}`, host: '127.0.0.1', port: (s.address as { port: number }).port, start: i / MANY, end: i === MANY - 1 ? 1 : (i + 1) / MANY })),
  }
  const t0 = performance.now()
  const bootstrap = new BootstrapServer({ config })
  const { port } = await bootstrap.listen()
  const assignMs = performance.now() - t0
  const target = `127.0.0.1:${port}`
  const bc = new BootstrapClient(target)
  const mapBytes = JSON.stringify(await bc.getMap()).length
  await bc.close()
  const t1 = performance.now()
  const db = await Pyshard.connect({ bootstrap: target })
  const connectMs = performance.now() - t1
  try {
    await db.createIndex('m')
    await db.writeMany('m', Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]))
    const t2 = performance.now()
    const stats = await db.stat()
    const statMs = performance.now() - t2
    const t3 = performance.now()
    // Epoch propagation: one server takes half of its neighbour's range.
    const next = structuredClone(config)
    const mid = (next.shards[0]!.end as number) / 2
    next.shards[0]!.end = mid
    next.shards[1]!.start = mid
    const r = await bootstrap.reshard(next)
    const reshardMs = performance.now() - t3
    await db.read('m', 'k1')
    return [
      `- ${MANY} shard servers: bootstrap assigned all in ${assignMs.toFixed(0)} ms; served map ${mapBytes} bytes (${(mapBytes / MANY).toFixed(0)} per shard)`,
      `- a client connects in ${connectMs.toFixed(0)} ms and holds one connection per shard server it uses (up to ${MANY}); stat over all: ${statMs.toFixed(0)} ms (${stats.length} shards)`,
      `- a reshard moving one range to epoch ${r.epoch} (${r.moved} entries) took ${reshardMs.toFixed(0)} ms end to end; clients learn the epoch on their next MOVED (one map fetch)`,
    ]
  } finally {
    await db.close()
    await bootstrap.close()
    await Promise.all(servers.map((s) => s.destroy()))
  }
}

const lines = [...(await moveFigures()), ...(await manyFigures())]
const text = `# Online resharding (bench/reshard.bench.ts)\n\nOne process on a shared machine; ${new Date().toISOString().slice(0, 10)}.\n\n${lines.join('\n')}\n`
writeFileSync(new URL('./results/reshard.md', import.meta.url), text)
process.stdout.write(text)
