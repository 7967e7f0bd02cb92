/**
 * Moving a cluster from one map to another while it serves: the steps, once. The bootstrap
 * server runs them over its shard servers (`BootstrapServer.reshard`), the router over the
 * shards a store owns (`db.reshard`); each gives a way to send a shard an admin request and
 * what to do when the new map is in force.
 *
 * For every range that changes owner: clear what a destination may hold there from an earlier,
 * abandoned move; copy the range in pages while the source serves (it logs the keys changed
 * meanwhile); catch up; freeze writes to the moving ranges (they answer TRY_AGAIN, which clients
 * retry within their request timeout; reads go on); copy the last changes; cut over at a new
 * epoch (the shards that only gain first, then those that lose a range, then the retired ones);
 * publish; end the move and only then delete the moved entries on their sources. A failure
 * before the cut-over rolls back (the sources keep everything); after it the new map stands
 * and the remaining steps are retried until they succeed or `retryFor` runs out.
 */
import { BadConfigError, PyshardError, TimeoutError } from './errors.js'
import { hashKey } from './hash.js'
import type { ShardSpec } from './shard-map.js'
import type { ExportPage, MovedEntry, Range, ShardSettings } from './shard.js'
import type { Request } from './protocol.js'

/** A range that changes owner. */
export interface ReshardMove { from: string; to: string; start: number; end: number }

/** One step of a reshard, as its progress reports it. */
export interface ReshardProgress {
  phase: 'plan' | 'copy' | 'catch-up' | 'freeze' | 'cut-over' | 'cleanup' | 'done' | 'rolled-back'
  /** The ranges that change owner. */
  moves: ReshardMove[]
  /** Entries copied so far (catch-up rounds included). */
  moved: number
  /** The epoch of the new map. */
  epoch: number
}

/** What a reshard did. */
export interface ReshardResult {
  epoch: number
  moves: ReshardMove[]
  /** Entries copied (catch-up rounds included). */
  moved: number
  /** Entries deleted on the sources once handed over. */
  dropped: number
  /** How long the writes to the moving ranges were paused (ms). */
  frozenMs: number
}

/** What the coordinator needs from whoever owns the shards. */
export interface ReshardDriver {
  /** Sends one admin request to shard `name` (of either map) and answers its value; rejects with its error. */
  call(name: string, req: Request): Promise<unknown>
  /** The indexes every shard of the new map must have before it takes a range. */
  indexes: readonly string[]
  /** Puts the new map (at `epoch`) in force for clients; called once every shard holds its new range. */
  publish(epoch: number): Promise<void> | void
  /** Told of each phase and of copied pages. */
  report?: ((progress: ReshardProgress) => void) | undefined
  /** After the cut-over, how long a failed step is retried before the reshard rejects (ms). @default 30000 */
  retryFor?: number | undefined
  /** Entries per copied page. @default 2000 */
  pageSize?: number | undefined
}

/** Catch-up rounds before the freeze; fewer when a round finds little to do. */
const CATCH_UP_ROUNDS = 4
/** A catch-up round this small is followed by the freeze. */
const CATCH_UP_SMALL = 200

/** Every overlap of an old shard's range with another shard's new range: what must move. */
export function planMoves(old: readonly ShardSpec[], next: readonly ShardSpec[]): ReshardMove[] {
  const moves: ReshardMove[] = []
  for (const o of old) {
    for (const n of next) {
      if (n.name === o.name) continue
      const start = Math.max(o.start, n.start)
      const end = Math.min(o.end, n.end)
      if (start < end) moves.push({ from: o.name, to: n.name, start, end })
    }
  }
  return moves
}

/**
 * A new map for the same shards split evenly `n` ways (`db.reshard({ shards: n })`): the first
 * shards keep their names, settings and transport; new ones are named `shard<i>` (skipping names
 * in use) and copy the last shard's settings.
 */
export function evenSplit(current: readonly ShardSpec[], n: number): ShardSpec[] {
  const taken = new Set(current.map((s) => s.name))
  const last = current[current.length - 1] as ShardSpec
  const out: ShardSpec[] = []
  let fresh = 0
  for (let i = 0; i < n; i++) {
    let base = current[i]
    if (base === undefined) {
      let name: string
      do name = `shard${fresh++}`
      while (taken.has(name))
      taken.add(name)
      base = { ...last, name }
    }
    out.push({ ...base, start: i / n, end: i === n - 1 ? 1 : (i + 1) / n })
  }
  return out
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function settingsOf(spec: ShardSpec, epoch: number, owns = true): ShardSettings {
  return { name: spec.name, start: owns ? spec.start : 0, end: owns ? spec.end : 0, size: spec.size, onFull: spec.onFull, epoch }
}

function inRange(mv: ReshardMove, hash: number): boolean {
  return hash >= mv.start && hash < mv.end
}

/**
 * Moves the data of `old` (at `oldEpoch`) to `next` at `epoch` (higher than `oldEpoch`). Shards
 * are matched by name. Every shard of both maps must answer `driver.call`. Shards only in `next`
 * must be empty and unassigned (a fresh shard server or a new in-process shard).
 */
export async function reshardData(old: readonly ShardSpec[], oldEpoch: number, next: readonly ShardSpec[], epoch: number, driver: ReshardDriver): Promise<ReshardResult> {
  if (!(epoch > oldEpoch)) throw new BadConfigError(`a reshard needs an epoch above ${oldEpoch}, got ${epoch}`)
  const moves = planMoves(old, next)
  const sources = [...new Set(moves.map((mv) => mv.from))]
  const destinations = [...new Set(moves.map((mv) => mv.to))]
  const oldNames = new Set(old.map((s) => s.name))
  const fresh = next.filter((s) => !oldNames.has(s.name))
  const rangesOf = (name: string, side: 'from' | 'to'): Range[] => moves.filter((mv) => mv[side] === name).map((mv) => [mv.start, mv.end])
  const pageSize = driver.pageSize ?? 2000
  const progress: ReshardProgress = { phase: 'plan', moves, moved: 0, epoch }
  const report = (phase?: ReshardProgress['phase']): void => {
    if (phase !== undefined) progress.phase = phase
    driver.report?.({ ...progress, moves: [...moves] })
  }
  const call = driver.call
  report('plan')

  const deliver = async (from: string, entries: MovedEntry[]): Promise<void> => {
    const byDest = new Map<string, MovedEntry[]>()
    for (const e of entries) {
      const hash = hashKey(e.index, e.key)
      const to = moves.find((mv) => mv.from === from && inRange(mv, hash))?.to
      if (to === undefined) continue
      let list = byDest.get(to)
      if (list === undefined) byDest.set(to, (list = []))
      list.push(e)
    }
    await Promise.all([...byDest].map(([to, list]) => call(to, { op: 'importEntries', entries: list })))
    progress.moved += entries.length
  }
  const createIndexes = async (name: string): Promise<void> => {
    for (const index of driver.indexes) {
      try {
        await call(name, { op: 'createIndex', index })
      } catch (err) {
        if (!(err instanceof PyshardError && err.code === 'INDEX_EXISTS')) throw err
      }
    }
  }

  let frozenAt = 0
  try {
    // New shards own nothing until the cut-over: what they receive counts as handover.
    for (const s of fresh) {
      await createIndexes(s.name)
      await call(s.name, { op: 'configure', settings: settingsOf(s, oldEpoch, false) })
    }
    for (const name of destinations) {
      await createIndexes(name)
      // Leftovers of an abandoned move (entries outside what the destination owns) would come back.
      await call(name, { op: 'dropRange', ranges: rangesOf(name, 'to') })
    }
    await Promise.all(sources.map((name) => call(name, { op: 'migrateStart', ranges: rangesOf(name, 'from') })))
    report('copy')
    await Promise.all(sources.map(async (name) => {
      const ranges = rangesOf(name, 'from')
      let cursor = 0
      do {
        const page = (await call(name, { op: 'exportRange', ranges, cursor, count: pageSize })) as ExportPage
        await deliver(name, page.entries)
        report()
        cursor = page.cursor
        // Shards in this thread answer at once: let the requests waiting meanwhile run between pages.
        await yieldTurn()
      } while (cursor !== 0)
    }))
    report('catch-up')
    for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
      const counts = await Promise.all(sources.map(async (name) => {
        const dirty = (await call(name, { op: 'migrateDirty' })) as MovedEntry[]
        await deliver(name, dirty)
        return dirty.length
      }))
      if (counts.reduce((a, b) => a + b, 0) < CATCH_UP_SMALL) break
      await yieldTurn()
    }
    report('freeze')
    frozenAt = Date.now()
    await Promise.all(sources.map((name) => call(name, { op: 'migrateFreeze' })))
    await Promise.all(sources.map(async (name) => deliver(name, (await call(name, { op: 'migrateDirty' })) as MovedEntry[])))
    report('cut-over')
  } catch (err) {
    // Roll back: the sources keep everything and take writes again; the copies go.
    await Promise.allSettled(sources.map((name) => call(name, { op: 'migrateEnd' })))
    await Promise.allSettled(destinations.map((name) => call(name, { op: 'dropRange', ranges: rangesOf(name, 'to') })))
    report('rolled-back')
    throw err
  }

  // From here the new map stands: every step is retried until it succeeds.
  const deadline = Date.now() + (driver.retryFor ?? 30_000)
  const persist = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    for (let delay = 20; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await step()
      } catch (err) {
        if (err instanceof PyshardError && err.code === 'STALE_EPOCH') throw err
        if (Date.now() + delay > deadline) {
          throw new TimeoutError(`reshard to epoch ${epoch}: the new map stands but ${what} still fails: ${(err as Error).message}`, { cause: err })
        }
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
  }
  const losing = new Set(sources)
  const configure = (spec: ShardSpec, owns: boolean): Promise<unknown> =>
    persist(`assigning shard "${spec.name}"`, () => call(spec.name, { op: 'configure', settings: settingsOf(spec, epoch, owns) }))
  await Promise.all(next.filter((s) => !losing.has(s.name)).map((s) => configure(s, true)))
  await Promise.all(next.filter((s) => losing.has(s.name)).map((s) => configure(s, true)))
  const nextNames = new Set(next.map((s) => s.name))
  await Promise.all(old.filter((s) => !nextNames.has(s.name)).map((s) => configure(s, false)))
  await persist('publishing the map', async () => driver.publish(epoch))
  await Promise.all(sources.map((name) => persist(`ending the move on "${name}"`, () => call(name, { op: 'migrateEnd' }))))
  const frozenMs = Date.now() - frozenAt
  report('cleanup')
  const drops = await Promise.all(sources.map((name) => persist(`deleting the moved entries on "${name}"`, () => call(name, { op: 'dropRange', ranges: rangesOf(name, 'from') }) as Promise<number>)))
  report('done')
  return { epoch, moves, moved: progress.moved, dropped: drops.reduce((a, b) => a + b, 0), frozenMs }
}
