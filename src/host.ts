/**
 * `ShardHost`: one Shard and everything that lives beside it. The TTL sweep
 * timer, events leaving the data path, the assignment (name, range, epoch) and,
 * when a data dir is set, persistence. The memory transport, the worker host and
 * the shard server each run ShardHosts; none of them touches a Shard directly.
 */
import { Shard } from './shard.js'
import type { Processor, ShardOptions, ShardSettings, ShardEvent } from './shard.js'
import { execute } from './protocol.js'
import type { Request, Response } from './protocol.js'
import { positiveInt } from './options.js'

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
  #store: AssignmentStore | null = null

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
   * Sets where accepted assignments are saved (null: nowhere). A persistence layer calls
   * `restoreAssignment` with what it saved, then this, before the host serves.
   */
  setAssignmentStore(store: AssignmentStore | null): void { this.#store = store }

  /** Takes a saved assignment back at start-up (before serving). Refuses one older than the current (STALE_EPOCH). */
  restoreAssignment(settings: ShardSettings): void {
    this.#shard.configure(settings)
    this.#settings = this.#shard.settings
  }

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

  /** Stops the timer. The shard keeps its data until the host is dropped. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #noticeSettings(): void {
    // `configure` replaces the settings object: noticing it costs one comparison.
    const now = this.#shard.settings
    if (now === this.#settings) return
    this.#settings = now
    this.#store?.save(now)
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
