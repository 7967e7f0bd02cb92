/**
 * A clock tests can move by hand. `Pyshard.open({ now: clock })` drives TTL in
 * every shard the store owns: in-process shards call `now()`, worker shards read
 * the same time from shared memory (a function cannot cross threads). A
 * `ShardServer({ now: clock.now })` in the same process takes it too.
 */
export class ManualClock {
  /** The time, shared with worker threads (one float64, ms). */
  readonly buffer: SharedArrayBuffer
  readonly #view: Float64Array

  /** @param start the time to start at (ms). @default Date.now() */
  constructor(start: number = Date.now()) {
    if (!Number.isFinite(start)) throw new TypeError(`ManualClock start must be a finite number of ms, got ${String(start)}`)
    this.buffer = new SharedArrayBuffer(8)
    this.#view = new Float64Array(this.buffer)
    this.#view[0] = start
  }

  /** The current time (ms); a bound function, so it can be handed on as `now`. */
  readonly now = (): number => this.#view[0] as number

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new TypeError(`advance takes a non-negative number of ms, got ${String(ms)}`)
    this.#view[0] = (this.#view[0] as number) + ms
  }

  /** Sets the time (ms). */
  set(ms: number): void {
    if (!Number.isFinite(ms)) throw new TypeError(`set takes a finite number of ms, got ${String(ms)}`)
    this.#view[0] = ms
  }
}

/** A clock that reads a `ManualClock`'s shared memory (what a worker host uses). */
export function sharedClock(buffer: SharedArrayBuffer): () => number {
  const view = new Float64Array(buffer)
  return () => view[0] as number
}
