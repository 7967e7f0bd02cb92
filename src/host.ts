/**
 * `ShardHost`: one Shard and everything that lives beside it. The TTL sweep
 * timer, events leaving the data path, the assignment (name, range, epoch) and,
 * when a data dir is set, persistence. The memory transport, the worker host and
 * the shard server each run ShardHosts; none of them touches a Shard directly.
 */
import { Shard } from './shard.js'
import type { Processor, ShardOptions, ShardSettings, ShardEvent } from './shard.js'
import { execute, perform } from './protocol.js'
import type { Request, Response } from './protocol.js'
import { positiveInt } from './options.js'
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
   * @default 'stored'
   */
  assignment?: 'stored' | 'given' | undefined
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

/** Hosts one Shard: answers requests and batches, sweeps, reports events. */
export class ShardHost {
  readonly #shard: Shard
  readonly #onEvent: ((event: HostEvent) => void) | undefined
  readonly #sweepInterval: number
  #timer: NodeJS.Timeout | null = null
  #settings: Readonly<ShardSettings>
  #store: DataDir | null = null

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
    const r = execute(this.#shard, req)
    if (req.op === 'configure') this.#noticeSettings()
    return r
  }

  /**
   * Runs one request and gives the value a success response would carry; throws what the
   * request failed with (`execute` without the response object, for in-process callers).
   */
  perform(req: Request): unknown {
    const value = perform(this.#shard, req)
    if (req.op === 'configure') this.#noticeSettings()
    return value
  }

  /** Answers a batch, one response per request, in order. */
  answer(batch: readonly Request[]): Response[] {
    const shard = this.#shard
    const out = new Array<Response>(batch.length)
    let configured = false
    for (let i = 0; i < batch.length; i++) {
      const req = batch[i] as Request
      out[i] = execute(shard, req)
      if (req?.op === 'configure') configured = true
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
    const store = this.#store
    if (store === null) return
    this.#store = null
    this.#shard.setJournal(null)
    await store.close()
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
