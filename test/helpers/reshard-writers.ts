/**
 * Writers for resharding tests (modeled on Redis Cluster's resharding test): each writer owns a
 * slice of the keys and writes or removes them in a loop, and the log keeps the last acknowledged
 * value of each key, so it is exact. Where processes are killed, an operation that fails is
 * retried, the same operation, until it is acknowledged; where no request may fail (`retry:
 * false`) a failure is recorded instead. `checkAgainstLog` compares every key with the log and
 * the shards' counts with the live keys.
 */
import * as assert from 'uvu/assert'
import type { Pyshard } from '../../src/index.js'

export interface Writers {
  keys: string[]
  /** The last acknowledged value of each key (null: removed). */
  log: Map<string, number | null>
  /** Operations acknowledged so far. */
  acked(): number
  /** Operations that failed (only with `retry: false`). */
  failures: string[]
  /** Stops the writers (each finishes its operation in flight). */
  stop(): Promise<void>
}

export interface WriterOptions {
  /** How many writers. @default 4 */
  count?: number
  /** Retry a failed operation until acknowledged (true), or record it in `failures` (false). @default true */
  retry?: boolean
  /** Let the event loop turn every this many operations (in-process shards answer at once). @default never */
  yieldEvery?: number
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

/** Writes `n` keys (value 0) into `index`, then starts the writers over them. */
export async function startWriters(db: Pyshard, index: string, n: number, options: WriterOptions = {}): Promise<Writers> {
  const { count = 4, retry = true, yieldEvery = 0 } = options
  const keys = Array.from({ length: n }, (_, i) => `key:${i}`)
  for (let i = 0; i < n; i += 1000) await db.writeMany(index, keys.slice(i, i + 1000).map((k) => [k, 0]))
  const log = new Map<string, number | null>(keys.map((k) => [k, 0]))
  let stopped = false
  let acked = 0
  const failures: string[] = []
  const writer = async (w: number): Promise<void> => {
    const next = rng(w + 1)
    let v = 0
    while (!stopped) {
      const key = keys[Math.floor(next() * (n / count)) * count + w] as string
      const remove = next() < 0.1
      v++
      let done = false
      while (!done) {
        try {
          if (remove) await db.remove(index, key)
          else await db.write(index, key, v)
          done = true
        } catch (err) {
          if (!retry) {
            failures.push(`${key}: ${(err as Error).message} (code ${(err as { code?: string }).code}, map epoch ${db.map.epoch})`)
            break
          }
          // Not acknowledged: the same operation again (the log must be exact).
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
      if (done) {
        log.set(key, remove ? null : v)
        acked++
      }
      if (yieldEvery > 0 && v % yieldEvery === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const running = Array.from({ length: count }, (_, w) => writer(w))
  return {
    keys, log, failures, acked: () => acked,
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
