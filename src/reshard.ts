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
 *
 * Crash safety: a source ends a move by itself when the coordinator stops calling for a lease
 * (renewed every quarter of it), so a dead coordinator never leaves writes frozen. Just before
 * the cut-over every source commits (`migrateCommit`): from then on its freeze holds until its
 * new assignment, across its own restart too (the host records it in the data dir), and the
 * driver's `checkpoint` lets a coordinator that can restart record that the move must be
 * finished (`finishReshard`) rather than rolled back (`rollBackReshard`).
 */
import { BadConfigError, PyshardError, ShardUnavailableError, TimeoutError } from './errors.js'
import { hashKey } from './hash.js'
import type { ShardConfig, ShardSpec } from './shard-map.js'
import type { ExportPage, MovedEntry, Range, ShardSettings } from './shard.js'
import type { Request } from './protocol.js'
import { MIGRATE_LEASE_MS } from './host.js'

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
  /**
   * How many times the connection to shard `name` came up (`ShardClient.opens`), or undefined
   * where it cannot restart. A destination whose count changes during the copy may have restarted
   * and dropped what it received (a shard drops entries outside its range at start-up): the
   * move rolls back. @default none (never checked)
   */
  opens?: ((name: string) => number | undefined) | undefined
  /** The indexes every shard of the new map must have before it takes a range. */
  indexes: readonly string[]
  /** Puts the new map (at `epoch`) in force for clients; called once every shard holds its new range. */
  publish(epoch: number): Promise<void> | void
  /** Told of each phase and of copied pages. */
  report?: ((progress: ReshardProgress) => void) | undefined
  /** After the cut-over, how long a failed step is retried before the reshard rejects (ms). @default 30000 */
  retryFor?: number | undefined
  /** Entries per copied page (smaller pages stall each shard less; see bench/results/reshard.md). @default 250 */
  pageSize?: number | undefined
  /**
   * Pause between two copied pages of a source (ms): the copy then leaves the source's event
   * loop (and the destination's) more room for clients, for fewer entries moved per second. 0
   * still yields to other callbacks between pages. @default 5
   */
  pageDelay?: number | undefined
  /**
   * How long a source waits for this coordinator before it ends the move by itself (ms): the
   * freeze lifts and the writes logged are forgotten, so a coordinator that dies never leaves
   * a range frozen. The coordinator renews it every quarter of it until the cut-over, after
   * which the sources stay frozen until they get their new assignment (or `migrateEnd`).
   * @default 10000
   */
  lease?: number | undefined
  /**
   * Awaited once every source has committed to the cut-over and before any shard gets its new
   * assignment: from here on the move must be finished, not rolled back. A coordinator that can
   * restart records it durably here (see `finishReshard`); a rejection rolls the move back.
   * @default none
   */
  checkpoint?: ((phase: 'cut-over') => Promise<void> | void) | undefined
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
 * The shards of a new map split evenly `n` ways (`db.reshard({ shards: n })`), for
 * `ShardMap.parse` to give their ranges: the first keep their names, settings and transport; new
 * ones are named `shard<i>` (skipping names in use) and copy the last shard's settings.
 */
export function evenSplit(current: readonly ShardSpec[], n: number): ShardConfig[] {
  const taken = new Set(current.map((s) => s.name))
  const last = current[current.length - 1] as ShardSpec
  let fresh = 0
  return Array.from({ length: n }, (_, i) => {
    let base = current[i]
    if (base === undefined) {
      let name: string
      do name = `shard${fresh++}`
      while (taken.has(name))
      taken.add(name)
      base = { ...last, name }
    }
    // No range: the map splits [0,1) evenly over shards that give none, as for a new store.
    const { start: _start, end: _end, ...rest } = base
    return rest
  })
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
  const pageSize = driver.pageSize ?? 250
  const pageDelay = driver.pageDelay ?? 5
  const lease = driver.lease ?? MIGRATE_LEASE_MS
  const progress: ReshardProgress = { phase: 'plan', moves, moved: 0, epoch }
  const report = (phase?: ReshardProgress['phase']): void => {
    if (phase !== undefined) progress.phase = phase
    driver.report?.({ ...progress, moves: [...moves] })
  }
  const call = driver.call
  report('plan')

  // Set once a step failed: the other sources' loops stop before their next page or import.
  let aborted = false
  const running: Promise<unknown>[] = []
  const each = <T>(names: string[], step: (name: string) => Promise<T>): Promise<T[]> => {
    const all = names.map(step)
    running.push(...all)
    return Promise.all(all)
  }
  const deliver = async (from: string, entries: MovedEntry[]): Promise<void> => {
    if (aborted) throw new Error('the reshard is rolling back')
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
  let keepalive: NodeJS.Timeout | undefined
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
    const opensAt = new Map(destinations.map((name) => [name, driver.opens?.(name)]))
    await Promise.all(sources.map((name) => call(name, { op: 'migrateStart', ranges: rangesOf(name, 'from'), lease })))
    // The sources end the move by themselves if this coordinator stops calling (it died).
    keepalive = setInterval(() => {
      for (const name of sources) call(name, { op: 'migrateTouch' }).catch(() => {})
    }, Math.max(1, Math.floor(lease / 4)))
    keepalive.unref()
    report('copy')
    await each(sources, async (name) => {
      const ranges = rangesOf(name, 'from')
      let cursor = 0
      do {
        if (aborted) return
        const page = (await call(name, { op: 'exportRange', ranges, cursor, count: pageSize })) as ExportPage
        await deliver(name, page.entries)
        report()
        cursor = page.cursor
        // Between pages the source serves (and shards in this thread let waiting requests run).
        if (cursor !== 0) await pause(pageDelay)
      } while (cursor !== 0)
    })
    report('catch-up')
    for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
      const counts = await each(sources, async (name) => {
        const dirty = (await call(name, { op: 'migrateDirty' })) as MovedEntry[]
        await deliver(name, dirty)
        return dirty.length
      })
      if (counts.reduce((a, b) => a + b, 0) < CATCH_UP_SMALL) break
      await pause(0)
    }
    report('freeze')
    frozenAt = Date.now()
    // Freeze and read the last changes in one round trip (a shard answers its requests in order).
    await each(sources, async (name) => {
      const [, dirty] = await Promise.all([call(name, { op: 'migrateFreeze' }), call(name, { op: 'migrateDirty' })])
      await deliver(name, dirty as MovedEntry[])
    })
    // A destination that came up again since it was cleared may have restarted and dropped its copies.
    for (const [name, at] of opensAt) {
      if (at !== undefined && driver.opens?.(name) !== at) {
        throw new ShardUnavailableError(`shard "${name}" reconnected while it received a moving range (it may have restarted and lost the copies); the move rolls back`)
      }
    }
    // Every source now holds its freeze until its new assignment, whatever its lease; one whose
    // lease ran out (it took writes since) fails here and the move rolls back.
    await Promise.all(sources.map((name) => call(name, { op: 'migrateCommit' })))
    clearInterval(keepalive)
    await driver.checkpoint?.('cut-over')
    report('cut-over')
  } catch (err) {
    if (keepalive !== undefined) clearInterval(keepalive)
    // No copy may land after the roll-back has cleared the destinations.
    aborted = true
    await Promise.allSettled(running)
    // Roll back: the sources keep everything and take writes again; the copies go.
    await rollBackReshard(old, next, driver)
    report('rolled-back')
    throw err
  }

  const { dropped, ended } = await finishReshard(old, next, epoch, driver, () => report('cleanup'))
  const frozenMs = ended - frozenAt
  report('done')
  return { epoch, moves, moved: progress.moved, dropped, frozenMs }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => (ms > 0 ? setTimeout(resolve, ms) : setImmediate(resolve)))
}

/**
 * Undoes a move that has not reached its cut-over: the sources end it (their freeze lifts; they
 * kept everything) and the destinations delete what they received. Best effort: a source that
 * cannot be reached ends the move by itself when its lease runs out, and a destination's copies
 * are cleared by the next move to it (and dropped when it restarts, being outside its range).
 */
export async function rollBackReshard(old: readonly ShardSpec[], next: readonly ShardSpec[], driver: Pick<ReshardDriver, 'call'>): Promise<void> {
  const moves = planMoves(old, next)
  const rangesOf = (name: string): Range[] => moves.filter((mv) => mv.to === name).map((mv) => [mv.start, mv.end])
  await Promise.allSettled([...new Set(moves.map((mv) => mv.from))].map((name) => driver.call(name, { op: 'migrateEnd' })))
  await Promise.allSettled([...new Set(moves.map((mv) => mv.to))].map((name) => driver.call(name, { op: 'dropRange', ranges: rangesOf(name) })))
}

/**
 * The cut-over and what follows, for a move whose sources have committed: every shard gets its
 * assignment at `epoch` (those that only gain first, then those that lose a range, then the
 * retired ones), the map is published, the sources end the move and delete what they handed
 * over. Each step is retried until it succeeds or `retryFor` runs out. `reshardData` ends with
 * it; a coordinator that restarts after its 'cut-over' checkpoint calls it to finish the move.
 * Resolves with the entries deleted and when the move ended on the sources (ms since the epoch).
 */
export async function finishReshard(old: readonly ShardSpec[], next: readonly ShardSpec[], epoch: number, driver: ReshardDriver, onCleanup?: () => void): Promise<{ dropped: number; ended: number }> {
  const moves = planMoves(old, next)
  const sources = [...new Set(moves.map((mv) => mv.from))]
  const rangesOf = (name: string): Range[] => moves.filter((mv) => mv.from === name).map((mv) => [mv.start, mv.end])
  const call = driver.call
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
        await pause(delay)
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
  const ended = Date.now()
  onCleanup?.()
  const drops = await Promise.all(sources.map((name) => persist(`deleting the moved entries on "${name}"`, () => call(name, { op: 'dropRange', ranges: rangesOf(name) }) as Promise<number>)))
  return { dropped: drops.reduce((a, b) => a + b, 0), ended }
}
