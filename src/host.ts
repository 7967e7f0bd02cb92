/**
 * `ShardHost`: one Shard and everything that lives beside it. The TTL sweep
 * timer, events leaving the data path, the assignment (name, range, epoch) and,
 * when a data dir is set, persistence. The memory transport, the worker host and
 * the shard server each run ShardHosts; none of them touches a Shard directly.
 */
import { Shard } from './shard.js'
import type { Processor, Range, ShardOptions, ShardSettings, ShardEvent } from './shard.js'
import { errorResponse, execute, perform } from './protocol.js'
import type { Request, Response } from './protocol.js'
import { positiveInt } from './options.js'
import { BadRequestError, errorFromCode } from './errors.js'
import type { DataDir, Fsync } from './persist/data-dir.js'

export type { Fsync } from './persist/data-dir.js'

/** Where and how a host keeps its shard on disk (`ShardHost.persist`). */
export interface Persistence {
  /** The shard's data dir (created if missing). */
  dir: string
  /** When a write's commit must be on disk before it is acknowledged. @default 'everysec' */
  fsync?: Fsync | undefined
  /**
   * 'stored': the dir's assignment replaces the host's settings (a shard server). 'given': the
   * host's settings come from the caller's config and a dir holding another range is refused.
   * 'adopt': the caller's settings replace the dir's (a store finishing a reshard it recorded).
   * @default 'stored'
   */
  assignment?: 'stored' | 'given' | 'adopt' | undefined
  /** Told of a commit that failed after its request was answered. @default none (ignored) */
  onError?: ((error: Error) => void) | undefined
  /** Loads an old-format snapshot into the shard (imported once into a fresh dir). @default none */
  legacy?: ((shard: Shard, dir: string) => Promise<number | null>) | undefined
}

/** The data dir of shard `name` under a store's `dataDir`: one subfolder per shard, its name made safe as one path segment. */
export function shardDataDir(root: string, name: string): string {
  const safe = encodeURIComponent(name)
  return `${root.replace(/[\\/]+$/, '')}/${safe === '.' || safe === '..' ? safe.replaceAll('.', '%2E') : safe}`
}

/** The fsync policies, for option checks. */
export const FSYNC_POLICIES: readonly Fsync[] = ['always', 'everysec', 'no']

/** What a host reports to its owner. */
export type HostEvent =
  | { type: 'evict' | 'expire'; shard: string; index: string; key: string }
  | { type: 'configured'; settings: ShardSettings }

/** Options of `ShardHost`: the Shard's, plus what lives beside it. */
export interface ShardHostOptions extends Omit<ShardOptions, 'onEvent'> {
  /**
   * How often expired entries are reclaimed in the background (ms); 0 for no timer (the
   * owner calls `sweep()` itself). The timer is unref'd. @default 1000
   */
  sweepInterval?: number
  /**
   * Told of evictions, expiries and a new assignment. Called synchronously while the request
   * runs: it must only record or queue (the store's and the servers' emitters deliver in a
   * microtask). What it throws is swallowed: a sink never fails an operation.
   */
  onEvent?: (event: HostEvent) => void
}

/**
 * Where a host keeps its assignment (name, range, size, policy, epoch) across restarts, so that
 * an older assignment is still refused after one. The persistence layer implements it.
 */
export interface AssignmentStore {
  /** Called synchronously with every assignment the shard accepted. */
  save(settings: Readonly<ShardSettings>): void
}

/** Entries reclaimed per background sweep, so one sweep never stalls the loop. */
const SWEEP_BUDGET = 10_000

/**
 * How long a move's source waits for its coordinator (ms) when `migrateStart` names no lease.
 * A live coordinator calls a source at every copied page and renews the lease every quarter of
 * it (`migrateTouch`), so only a coordinator that is gone (killed, cut off) lets it run out; it
 * is long enough that a garbage-collection pause, a slow commit on a destination or a reconnect
 * of a few seconds does not end a healthy move, and short enough that writes frozen by a dead
 * coordinator resume within a couple of client request timeouts (5 s by default).
 */
export const MIGRATE_LEASE_MS = 10_000

/** The ops the host looks at before the shard answers them (a move's lease and record). */
const MOVE_OPS: ReadonlySet<string> = new Set([
  'configure', 'migrateStart', 'migrateFreeze', 'migrateDirty', 'migrateEnd', 'migrateTouch', 'migrateCommit', 'exportRange', 'importEntries',
])

/** A move this shard is the source of, as the host keeps it (and, once frozen, records it). */
interface Move {
  ranges: Range[]
  /** The epoch the shard held when the move began: an assignment above it is the cut-over. */
  epoch: number
  lease: number
  frozen: boolean
  /** The cut-over has begun: the freeze holds until the new assignment or `migrateEnd`. */
  committed: boolean
  /** Restored from the data dir after a restart: the changes logged before it are gone. */
  restored: boolean
}

/** The `move` record of a data dir. */
interface MoveRecord { ranges: Range[]; epoch: number; lease: number; committed: boolean }

/** Hosts one Shard: answers requests and batches, sweeps, reports events. */
export class ShardHost {
  readonly #shard: Shard
  readonly #onEvent: ((event: HostEvent) => void) | undefined
  readonly #sweepInterval: number
  #timer: NodeJS.Timeout | null = null
  #settings: Readonly<ShardSettings>
  #store: DataDir | null = null
  #move: Move | null = null
  #lease: NodeJS.Timeout | null = null

  constructor(options: ShardHostOptions = {}) {
    const { sweepInterval, onEvent, ...shardOptions } = options
    this.#sweepInterval = sweepInterval === 0 ? 0 : positiveInt('sweepInterval', sweepInterval, 1000)
    this.#onEvent = onEvent
    const sink = onEvent === undefined ? undefined : (e: ShardEvent): void => {
      this.#report({ type: e.type, shard: this.#shard.settings.name, index: e.index, key: e.key })
    }
    this.#shard = new Shard(sink === undefined ? shardOptions : { ...shardOptions, onEvent: sink })
    this.#settings = this.#shard.settings
  }

  /** The shard's name, range, size, policy and epoch. */
  get settings(): Readonly<ShardSettings> { return this.#shard.settings }

  /** The engine itself, for the persistence layer that loads and saves it. Not for the data path. */
  get engine(): Shard { return this.#shard }

  /**
   * Opens the shard's data dir and loads the shard from it; from then on every change is
   * recorded there. Call once, before serving. Loads lmdb on first use. Rejects with DATA_DIR
   * naming the dir when it cannot be used (the host must not serve then). Resolves with the
   * number of entries loaded.
   */
  async persist(options: Persistence): Promise<number> {
    if (this.#store !== null) throw new Error('ShardHost.persist: already persisting')
    const fsync = options.fsync ?? 'everysec'
    if (!FSYNC_POLICIES.includes(fsync)) throw new TypeError(`options.fsync must be one of ${FSYNC_POLICIES.join(', ')}, got ${String(fsync)}`)
    const { openDataDir } = await import('./persist/data-dir.js')
    const { store, loaded } = await openDataDir(options.dir, this.#shard, {
      fsync, assignment: options.assignment ?? 'stored', onError: options.onError ?? (() => {}), legacy: options.legacy,
    })
    this.#store = store
    // The stored assignment is not news: 'configured' is for assignments that arrive.
    this.#settings = this.#shard.settings
    this.#restoreMove()
    return loaded
  }

  /** The data dir's fsync policy, or null without one. */
  get fsync(): Fsync | null { return this.#store?.fsync ?? null }

  /**
   * With `fsync: 'always'`, a promise that resolves once every change made so far is on disk
   * (answer after it), or null when nothing waits. Null for other policies and without a dir.
   */
  durable(): Promise<void> | null { return this.#store === null ? null : this.#store.durable() }

  /** Sets the processors `run` may call. */
  setProcessors(processors: Record<string, Processor>): void { this.#shard.setProcessors(processors) }

  /** Starts the background sweep (idempotent). */
  start(): void {
    if (this.#timer !== null || this.#sweepInterval === 0) return
    this.#timer = setInterval(() => this.sweep(), this.#sweepInterval)
    this.#timer.unref()
  }

  /** Reclaims expired entries now (up to a budget); returns how many. */
  sweep(budget = SWEEP_BUDGET): number {
    return this.#shard.sweep(budget)
  }

  /** Answers one request. Never throws: a failure is an error response. */
  execute(req: Request): Response {
    if (!MOVE_OPS.has(req?.op)) return execute(this.#shard, req)
    const r = this.#moveOp(req)
    if (req.op === 'configure') this.#noticeSettings()
    return r
  }

  /**
   * Runs one request and gives the value a success response would carry; throws what the
   * request failed with (`execute` without the response object, for in-process callers).
   */
  perform(req: Request): unknown {
    if (!MOVE_OPS.has(req?.op)) return perform(this.#shard, req)
    const r = this.execute(req)
    if (!r.ok) throw errorFromCode(r.code, r.message, r.epoch)
    return r.value
  }

  /** Answers a batch, one response per request, in order. */
  answer(batch: readonly Request[]): Response[] {
    const shard = this.#shard
    const out = new Array<Response>(batch.length)
    let configured = false
    for (let i = 0; i < batch.length; i++) {
      const req = batch[i] as Request
      if (!MOVE_OPS.has(req?.op)) {
        out[i] = execute(shard, req)
        continue
      }
      out[i] = this.#moveOp(req)
      if (req.op === 'configure') configured = true
    }
    if (configured) this.#noticeSettings()
    return out
  }

  /**
   * Stops the timer; with a data dir, waits for what was written to be committed (and flushed,
   * unless `fsync` is 'no') and closes it. The shard keeps its data until the host is dropped.
   */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#disarm()
    const store = this.#store
    if (store === null) return
    this.#store = null
    this.#shard.setJournal(null)
    await store.close()
  }

  /**
   * A move op (or an assignment): the shard answers, and the host keeps the move's lease and,
   * once it is frozen, its record in the data dir, so that a source restarted mid-move never
   * takes writes to ranges it may already have handed over.
   */
  #moveOp(req: Request): Response {
    const move = this.#move
    switch (req.op) {
      case 'migrateStart': {
        const lease = req.lease ?? MIGRATE_LEASE_MS
        if (!(Number.isSafeInteger(lease) && lease > 0)) return errorResponse(new BadRequestError(`migrateStart's lease must be a positive integer of ms, got ${String(lease)}`))
        const r = execute(this.#shard, req)
        if (!r.ok) return r
        // A new move replaces the one in progress (and its record).
        if (move?.frozen === true) this.#record(null)
        this.#move = { ranges: req.ranges, epoch: this.#shard.settings.epoch, lease, frozen: false, committed: false, restored: false }
        this.#disarm()
        this.#arm()
        return r
      }
      case 'migrateFreeze': {
        const r = execute(this.#shard, req)
        if (r.ok && move !== null) {
          move.frozen = true
          this.#record(move)
          this.#arm()
        }
        return r
      }
      case 'migrateDirty':
        if (move?.restored === true) {
          return errorResponse(new BadRequestError(`shard "${this.#shard.settings.name}" restarted during the move: the changes it logged are gone; the move must roll back`))
        }
        this.#arm()
        return execute(this.#shard, req)
      case 'exportRange':
        this.#arm()
        return execute(this.#shard, req)
      case 'migrateTouch':
        if (move === null) return errorResponse(new BadRequestError(`shard "${this.#shard.settings.name}" has no move in progress (it ended, or its lease ran out)`))
        this.#arm()
        return { ok: true, value: true }
      case 'migrateCommit':
        if (move === null || !move.frozen) {
          return errorResponse(new BadRequestError(`shard "${this.#shard.settings.name}" has no frozen move to commit (it ended, or its lease ran out)`))
        }
        move.committed = true
        this.#record(move)
        this.#disarm()
        return { ok: true, value: true }
      case 'migrateEnd':
        this.#endMove()
        return execute(this.#shard, req)
      case 'importEntries': {
        // A copy is acknowledged committed: the coordinator's commit point counts on every copy
        // being in the data dir, as the sources drop what they handed over.
        const r = execute(this.#shard, req)
        this.#store?.commit()
        return r
      }
      case 'configure': {
        const r = execute(this.#shard, req)
        if (!r.ok || move === null) return r
        // The cut-over (an assignment at a newer epoch: the new owner already holds the range) ends
        // the move, so a key there answers MOVED, never TRY_AGAIN, even if `migrateEnd` never
        // comes. A move restored after a restart has no coordinator left: whoever assigns the shard ends it.
        // A committed move ends only at the cut-over's assignment (or migrateEnd): the old assignment
        // sent to a restarted source must not lift a freeze its destination already relies on.
        if ((move.restored && !move.committed) || this.#shard.settings.epoch > move.epoch) this.#endMove()
        return r
      }
      default:
        return execute(this.#shard, req)
    }
  }

  /** Ends the move on the shard (the freeze lifts) and forgets its lease and record. */
  #endMove(): void {
    const move = this.#move
    this.#move = null
    this.#disarm()
    this.#shard.migrateEnd()
    if (move?.frozen === true) this.#record(null)
  }

  /** (Re)starts the lease of a move that is not committed. */
  #arm(): void {
    const move = this.#move
    if (move === null || move.committed) return
    if (this.#lease !== null) {
      this.#lease.refresh()
      return
    }
    this.#lease = setTimeout(() => {
      this.#lease = null
      // No coordinator called for a whole lease: it is gone. Before the commit the sources hold
      // everything, so ending the move loses nothing (the coordinator, if it comes back, rolls back).
      if (this.#move !== null && !this.#move.committed) this.#endMove()
    }, move.lease)
    this.#lease.unref()
  }

  #disarm(): void {
    if (this.#lease !== null) clearTimeout(this.#lease)
    this.#lease = null
  }

  #record(move: Move | null): void {
    const record: MoveRecord | undefined = move === null ? undefined : { ranges: move.ranges, epoch: move.epoch, lease: move.lease, committed: move.committed }
    this.#store?.writeMeta('move', record)
  }

  /** After a restart: a frozen move comes back frozen (and committed if it was), with a fresh lease. */
  #restoreMove(): void {
    const store = this.#store as DataDir
    const rec = store.readMeta('move') as MoveRecord | undefined
    if (rec === undefined) return
    // Assigned past the move's epoch: the cut-over reached this shard before it went down.
    if (rec.epoch !== this.#shard.settings.epoch || !Array.isArray(rec.ranges)) {
      store.writeMeta('move', undefined)
      return
    }
    this.#shard.migrateStart(rec.ranges)
    this.#shard.migrateFreeze()
    this.#move = { ranges: rec.ranges, epoch: rec.epoch, lease: rec.lease > 0 ? rec.lease : MIGRATE_LEASE_MS, frozen: true, committed: rec.committed === true, restored: true }
    this.#arm()
  }

  #noticeSettings(): void {
    // `configure` replaces the settings object: noticing it costs one comparison.
    const now = this.#shard.settings
    if (now === this.#settings) return
    this.#settings = now
    this.#store?.assign(now)
    this.#report({ type: 'configured', settings: { ...now } })
  }

  #report(event: HostEvent): void {
    if (this.#onEvent === undefined) return
    try {
      this.#onEvent(event)
    } catch {
      // A sink that throws is its owner's bug; the operation it reports on has already happened.
    }
  }
}
