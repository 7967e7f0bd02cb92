/**
 * Writers for resharding tests that kill processes: each writer owns a slice of the keys and
 * writes or removes them in a loop; an operation that fails (a killed server, a bootstrap that is
 * down) is retried, the same operation, until it is acknowledged, so the log of acknowledged
 * values is exact. `check` compares every key with the log and the shards' counts with the live keys.
 */
import * as assert from 'uvu/assert'
import type { Pyshard } from '../../src/index.js'

export interface Writers {
  keys: string[]
  /** The last acknowledged value of each key (null: removed). */
  log: Map<string, number | null>
  /** Operations acknowledged so far. */
  acked(): number
  /** Stops the writers (each finishes its operation in flight). */
  stop(): Promise<void>
}

function rng(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

/** Writes `n` keys (value 0) into `index`, then starts `count` writers over them. */
export async function startWriters(db: Pyshard, index: string, n: number, count = 4): Promise<Writers> {
  const keys = Array.from({ length: n }, (_, i) => `key:${i}`)
  for (let i = 0; i < n; i += 1000) await db.writeMany(index, keys.slice(i, i + 1000).map((k) => [k, 0]))
  const log = new Map<string, number | null>(keys.map((k) => [k, 0]))
  let stopped = false
  let acked = 0
  const writer = async (w: number): Promise<void> => {
    const next = rng(w + 1)
    let v = 0
    while (!stopped) {
      const key = keys[Math.floor(next() * (n / count)) * count + w] as string
      const remove = next() < 0.1
      v++
      for (;;) {
        try {
          if (remove) await db.remove(index, key)
          else await db.write(index, key, v)
          break
        } catch {
          // Not acknowledged: the same operation again (the log must be exact).
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
      log.set(key, remove ? null : v)
      acked++
    }
  }
  const running = Array.from({ length: count }, (_, w) => writer(w))
  return {
    keys, log, acked: () => acked,
    async stop() {
      stopped = true
      await Promise.all(running)
    },
  }
}

/** Every key read from `db` equals the log; the shards' counts sum to the live keys, with nothing left as handover. */
export async function checkAgainstLog(db: Pyshard, index: string, w: Writers, name: string): Promise<void> {
  const got = await db.readMany(index, w.keys)
  const wrong: string[] = []
  got.forEach((e, i) => {
    const key = w.keys[i] as string
    const want = w.log.get(key)
    const have = e === null ? null : e.record
    if (have !== want) wrong.push(`${key}: want ${want}, have ${JSON.stringify(have)}`)
  })
  assert.equal(wrong.slice(0, 5), [], `${name}: ${wrong.length} keys differ from the writers' log`)
  const stats = await db.stat()
  const live = [...w.log.values()].filter((v) => v !== null).length
  assert.is(stats.reduce((a, s) => a + s.count, 0), live, `${name}: stat counts equal the live keys (no key on two owners)`)
  assert.is(stats.reduce((a, s) => a + ((s as { handover?: number }).handover ?? 0), 0), 0, `${name}: no handover entries left`)
}

/** Resolves once `cond` holds, polling (the tests assert what happens, never how soon). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, tries = 3000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`never happened: ${what}`)
}
