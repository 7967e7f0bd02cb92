/**
 * What every concern module of the conformance suite shares: how a runner hands
 * over stores (`MakeStore`), what its transport can and cannot do (`Caps`), and
 * small helpers (fresh index names, keys on one shard, waiting for events).
 */
import type { EventEmitter } from 'node:events'
import type { Test } from 'uvu'
import { hashKey } from '../../src/index.js'
import type { ManualClock, OnFull, Pyshard } from '../../src/index.js'

/** What a concern may ask of a store beyond the runner's defaults. */
export interface StoreSettings {
  /** Drives TTL in every shard of the store (only asked for when `caps.clock` is not a reason). */
  clock?: ManualClock
  /** Byte limit of each shard. @default the runner's (64 MiB) */
  size?: number
  /** What a full shard does. @default 'reject' */
  onFull?: OnFull
}

/** The `Pyshard.open` options that carry `settings` (for runners whose store owns its shards). */
export function openOptions(settings: StoreSettings = {}): { now?: ManualClock; size?: number; onFull?: OnFull } {
  return {
    ...(settings.clock !== undefined ? { now: settings.clock } : {}),
    ...(settings.size !== undefined ? { size: settings.size } : {}),
    ...(settings.onFull !== undefined ? { onFull: settings.onFull } : {}),
  }
}

/** What Redis shards cannot do that the concerns ask (Redis keeps the time, the memory limit and the evictions). */
export const REDIS_CAPS = {
  clock: 'Redis keeps time on its server: an injected clock cannot drive its TTL (TTL against a real redis-server: test/redis-behaviour.test.ts)',
  eviction: 'Redis enforces its own maxmemory and eviction policy, not the shard\'s "size" (OOM as SHARD_FULL: test/redis-behaviour.test.ts)',
  shardEvents: 'Redis evicts and expires keys itself and reports neither as an event',
  sweepTimer: 'Redis reclaims expired keys itself',
  staleStore: 'a redis shard\'s range is fixed by its config: it never answers MOVED',
} as const

/** Why stores that own their shards (memory, worker) never hold a stale map. */
export const OWN_SHARDS = 'the store owns its shards: they move only by its own db.reshard, which publishes the new map itself (mapChanged there: test/reshard-store.test.ts), so its map is never stale'

/** A store a runner opened for a concern. */
export interface OpenedStore {
  db: Pyshard
  /** Where the store's shards report `evict` / `expire` (and the `error` a throwing listener of them becomes). @default [db] */
  events?: EventEmitter[]
  /** Stops what the runner started for this store (servers), after the store is closed. */
  stop?: () => Promise<void>
}

/** Opens a fresh store with `settings` honoured. The concern closes it (through `withStore`). */
export type MakeStore = (settings?: StoreSettings) => Promise<OpenedStore>

/**
 * What the runner's transport can do. A string field is the reason a group of tests cannot run
 * there: those tests are registered as skipped and the reason is printed, never passed silently.
 */
export interface Caps {
  /** The runner's name (set by `conformance`), for the SKIP lines. */
  name?: string
  /** The store was opened with test/fixtures/processors.ts: run the processor checks. */
  processors?: boolean
  /** Extra teardown after every store of the runner is closed (stop a shared server...). */
  teardown?: () => Promise<void>
  /** Why an injected clock cannot drive TTL here (the ttl concern is skipped). */
  clock?: string
  /** Why the shard's byte `size` and `onFull` are not pyshard's to enforce here (the eviction concern is skipped). */
  eviction?: string
  /** Why `evict` / `expire` events are not reported here (those event tests are skipped). */
  shardEvents?: string
  /**
   * The shards reclaim expired entries on a background timer (every second at most): the ttl
   * concern waits for `expire` events with no request at all. A reason string when there is no
   * such timer to wait for.
   */
  sweepTimer?: true | string
  /**
   * Opens a store whose map is older than its cluster's (one shard where the cluster has
   * split [0, 1) in halves), over a cluster where `index` exists on every shard: a request for
   * the upper half meets MOVED and the store takes the newer map (`mapChanged`). A reason
   * string where a store's map cannot be stale (in-process and worker shards move only by `db.reshard`).
   */
  staleStore?: ((index: string) => Promise<OpenedStore>) | string
}

/** The shared context of one runner's suite: the store the api concern works in. */
export interface Ctx { opened: OpenedStore; db: Pyshard }

/** A concern: registers its tests on the runner's suite. */
export type Concern = (test: Test<Ctx>, makeStore: MakeStore, caps: Caps) => void

let counter = 0
/** An index name no other test uses (so tests never see each other's data). */
export const fresh = (): string => `idx${++counter}_${process.pid}`

/**
 * Registers `names` as skipped on `test` and prints why on a line starting with SKIP
 * (a transport that cannot run a concern must never look like a pass).
 */
export function skip(test: Test<Ctx>, caps: Caps, concern: string, reason: string, names: string[]): void {
  console.log(`SKIP conformance: ${caps.name ?? '?'}: ${names.length} ${concern} test(s): ${reason}`)
  for (const name of names) test.skip(name, () => {})
}

/** Opens a store with `settings`, runs `fn`, then closes the store and stops what the runner started for it. */
export async function withStore<T>(makeStore: MakeStore, settings: StoreSettings, fn: (opened: Required<Pick<OpenedStore, 'db' | 'events'>>) => Promise<T>): Promise<T> {
  const opened = await makeStore(settings)
  try {
    return await fn({ db: opened.db, events: opened.events ?? [opened.db as unknown as EventEmitter] })
  } finally {
    await opened.db.close()
    await opened.stop?.()
  }
}

/** Index of the shard of `db` that holds `key` of `index`. */
export function shardOf(db: Pyshard, index: string, key: string): number {
  const h = hashKey(index, key)
  return db.map.shards.findIndex((s) => h >= s.start && h < s.end)
}

/** `n` keys of `index` that all live on shard `shard`, of equal length (so equal documents weigh the same). */
export function keysOn(db: Pyshard, index: string, shard: number, n: number, prefix = 'k'): string[] {
  const { start, end } = db.map.shards[shard] as { start: number; end: number }
  const out: string[] = []
  for (let i = 0; out.length < n; i++) {
    const key = `${prefix}${String(i).padStart(6, '0')}`
    const h = hashKey(index, key)
    if (h >= start && h < end) out.push(key)
  }
  return out
}

/** An evict/expire event as the store (or a shard server) reports it. */
export interface EntryEvent { shard: string; index: string; key: string }

/**
 * Records `event` on every emitter. `until(n)` resolves once `n` have arrived and rejects
 * after a generous timeout naming what did arrive: waiting for an event, not for a time.
 */
export function record<T = EntryEvent>(emitters: EventEmitter[], event: string): {
  seen: T[]
  until(n: number, timeoutMs?: number): Promise<T[]>
  stop(): void
} {
  const seen: T[] = []
  let waiter: { n: number; resolve(): void } | null = null
  const on = (e: T): void => {
    seen.push(e)
    if (waiter !== null && seen.length >= waiter.n) waiter.resolve()
  }
  for (const em of emitters) em.on(event, on)
  return {
    seen,
    until(n, timeoutMs = 15_000) {
      if (seen.length >= n) return Promise.resolve(seen)
      let timer: NodeJS.Timeout | undefined
      return new Promise<T[]>((resolve, reject) => {
        waiter = { n, resolve: () => resolve(seen) }
        // Also keeps the process alive while the shards' (unref'd) sweep timers are all that is left.
        timer = setTimeout(() => reject(new Error(`waited ${timeoutMs} ms for ${n} "${event}" events; got ${seen.length}: ${JSON.stringify(seen)}`)), timeoutMs)
      }).finally(() => {
        waiter = null
        clearTimeout(timer)
      })
    },
    stop() {
      for (const em of emitters) em.off(event, on)
    },
  }
}

/**
 * Lets whatever an earlier request set off reach the listeners: one request to every shard
 * (a worker's events ride on its replies) and a turn of the event loop (events leave in a microtask).
 */
export async function settle(db: Pyshard): Promise<void> {
  await db.stat()
  await new Promise((resolve) => setImmediate(resolve))
}
