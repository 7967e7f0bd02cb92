/**
 * Shards in worker threads, and a CPU-heavy processor run where each shard
 * lives. The same 100k documents go into 4 memory shards (all in this thread)
 * and 4 worker shards (spread over the cores); `run` scores every document of
 * the index on every shard in parallel and we merge the per-shard results.
 *
 *   node --import tsx examples/workers.ts
 *
 * This file is also the processors module: the store imports it (in each
 * worker, and here for the memory shards) and keeps its exported functions.
 */
import { availableParallelism } from 'node:os'
import { isMainThread } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { Pyshard } from '../src/index.js'
import type { Json } from '../src/index.js'

interface Product { price: number; ratings: number[]; title: string }
interface Scored { count: number; best: [key: string, score: number][] }

/**
 * A processor: runs over one shard's entries of one index, where the shard
 * lives, and returns something small. Here: a made-up relevance score per
 * product (some arithmetic per rating and per character of the title), the
 * best `top` of them.
 */
export function relevance(entries: Iterable<[string, Json]>, args: Json | undefined): Scored {
  const { query, top } = args as { query: string; top: number }
  const best: [string, number][] = []
  let count = 0
  for (const [key, raw] of entries) {
    const p = raw as unknown as Product
    let score = 0
    for (let pass = 0; pass < 30; pass++) {
      for (const r of p.ratings) score += Math.sqrt(r * (pass + 1)) / p.ratings.length
      for (let i = 0; i < p.title.length; i++) if (p.title.charCodeAt(i) === query.charCodeAt(i % query.length)) score += 0.01
    }
    score /= 1 + Math.log1p(p.price)
    count++
    if (best.length < top || score > (best[best.length - 1] as [string, number])[1]) {
      best.push([key, score])
      best.sort((a, b) => b[1] - a[1])
      if (best.length > top) best.pop()
    }
  }
  return { count, best }
}

async function main(): Promise<void> {
  const processors = fileURLToPath(import.meta.url)
  const products: [string, Json][] = Array.from({ length: 100_000 }, (_, i) => [
    `sku-${i}`,
    { price: 5 + (i % 500), ratings: Array.from({ length: 6 }, (_, j) => ((i * 7 + j * 13) % 5) + 1), title: `product ${i} in aisle ${i % 97}` },
  ])

  const timed = async (label: string, db: Pyshard): Promise<void> => {
    await db.createIndex('products')
    await db.writeMany('products', products)
    await db.run('products', 'relevance', { query: 'aisle', top: 3 }) // warm up the JIT where the shards live
    const start = performance.now()
    const perShard = (await db.run('products', 'relevance', { query: 'aisle', top: 3 })) as Scored[]
    const ms = performance.now() - start
    // Merge the shards' answers: a total and the overall best.
    const count = perShard.reduce((n, r) => n + r.count, 0)
    const best = perShard.flatMap((r) => r.best).sort((a, b) => b[1] - a[1]).slice(0, 3)
    console.log(`${label.padEnd(30)} ${ms.toFixed(0).padStart(5)} ms  (${count} products, best: ${best.map(([k]) => k).join(', ')})`)
    await db.close()
  }

  console.log(`${availableParallelism()} cores`)
  await timed('4 memory shards (this thread)', await Pyshard.open({ shards: 4, processors }))
  await timed('4 worker shards', await Pyshard.open({ shards: 4, transport: 'worker', processors }))
}

// Only when run as a script: in a worker (and when the store imports this file for its processors) this is a module.
// Not awaited at top level: the store imports this very module, which must finish evaluating first.
if (isMainThread && process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
