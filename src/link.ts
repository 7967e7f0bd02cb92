/**
 * The client-side lifecycle every remote transport shares, written once:
 * connect lazily with a timeout, many requests in flight matched by id, a
 * per-request timeout, reconnect by itself with capped exponential backoff and
 * jitter, a bounded offline queue (in count and in time), `close` (finish what
 * is in flight) versus `destroy` (now). It knows nothing of sockets: a
 * transport supplies `open`, which yields a `Channel`.
 */
import { PyshardError, ShardUnavailableError, TimeoutError } from './errors.js'

/** What a transport's `open` hands back: a ready (connected, authenticated) carrier. */
export interface Channel<Out> {
  /** Sends one request; its answer comes back through `ChannelEvents.message` with the same id. */
  send(id: number, payload: Out): void
  /** Ends gracefully once written data has gone out; `close` waits for a returned promise. */
  end(): void | Promise<void>
  /** Drops the carrier now. */
  destroy(): void
  /**
   * Told when requests come to be in flight (`true`) and when none is left (`false`), so a carrier
   * that holds the process open (a worker thread) holds it only while an answer is awaited.
   */
  busy?(busy: boolean): void
}

/** How a channel reports back. Call `close` exactly once, when the carrier is gone. */
export interface ChannelEvents<In> {
  /** The answer to request `id`. */
  message(id: number, payload: In): void
  /** Request `id` gets no answer but this error (e.g. its answer was too big); the carrier stays up. */
  reject(id: number, error: PyshardError): void
  /** A connection-level failure the peer stated (e.g. AUTH_FAILED); pending requests reject with it. */
  failure(error: PyshardError): void
  /** The peer is shutting down: send nothing new on this carrier, end it once every answer is in. */
  goaway(): void
  /** The carrier is gone (after `end`, `destroy`, or a failure). */
  close(error?: Error): void
}

/** Options of `Link`. */
export interface LinkOptions<Out, In> {
  /** Name used in error messages (the shard's name). */
  name: string
  /** Opens the carrier; rejects when it cannot. Must give up when `signal` aborts (the connect timeout). */
  open(events: ChannelEvents<In>, signal: AbortSignal): Promise<Channel<Out>>
  /** How long `open` may take (ms). @default 3000 */
  connectTimeout?: number
  /**
   * How long a request may go unanswered once it is handed to the carrier before it rejects TIMEOUT
   * (ms). The clock starts when the request is sent, not when the caller made it (time spent
   * waiting for the carrier is bounded by `queueTimeout`), and a deadline that passed while this
   * thread was busy is checked only after the answers that arrived meanwhile have been read.
   * @default 5000
   */
  requestTimeout?: number
  /**
   * Most requests (by weight) accepted and not yet settled, sent or waiting for the carrier. A
   * request that would pass it rejects at once with SHARD_UNAVAILABLE naming `maxInFlight`: no
   * back-pressure queue, so a caller that issues more in one tick gets the error for the excess
   * instead of the client holding every request (its encoded bytes, its callbacks) in memory.
   * @default 65536
   */
  maxInFlight?: number
  /**
   * Most requests (by weight) waiting while the carrier is down after a failed attempt or a loss;
   * beyond it they reject SHARD_UNAVAILABLE at once. Requests made before the first attempt has
   * settled are not counted against it (each waits at most `queueTimeout`). @default 1000
   */
  maxQueue?: number
  /**
   * How long a request may wait for the carrier while it is down before it rejects
   * SHARD_UNAVAILABLE; once the carrier has been down this long, new requests reject at once. @default connectTimeout
   */
  queueTimeout?: number
  /** First reconnect delay (ms); doubles per failed attempt. @default 50 */
  reconnectDelay?: number
  /** Largest reconnect delay (ms). @default 2000 */
  maxReconnectDelay?: number
  /** Reconnect after a loss or a failed attempt; when false the first failure closes the connection. @default true */
  reconnect?: boolean
  /** Called when the carrier is ready (`first`: the first time). */
  onUp?(first: boolean): void
  /** Called when a ready carrier is lost, or the first attempt fails. */
  onDown?(error: Error): void
  /** Clock (ms). @default Date.now */
  now?: () => number
}

interface Pending<Out, In> {
  id: number
  payload: Out
  weight: number
  /** When the request rejects TIMEOUT (set when it is sent). */
  deadline: number
  /** When a request still queued rejects SHARD_UNAVAILABLE. */
  queueDeadline: number
  resolve(value: In): void
  reject(error: Error): void
  done: boolean
}

type State = 'idle' | 'connecting' | 'up' | 'down' | 'closing' | 'closed'

const MAX_ID = 0xffffffff

/** A carrier lost within this long of coming up does not reset the backoff (a peer that dies right after starting). */
const STABLE_MS = 1000

/** Most event-loop turns an overdue check waits while answers keep arriving (see `#expire`). */
const MAX_EXPIRY_DEFERRALS = 64

function positive(name: string, v: number | undefined, fallback: number, zero = false): number {
  if (v === undefined) return fallback
  if (!(Number.isFinite(v) && (zero ? v >= 0 : v > 0))) throw new TypeError(`options.${name} must be a ${zero ? 'non-negative' : 'positive'} number, got ${String(v)}`)
  return v
}

/** A self-healing request/response link to one peer. */
export class Link<Out, In> {
  readonly name: string
  #open: LinkOptions<Out, In>['open']
  #connectTimeout: number
  #requestTimeout: number
  #maxInFlight: number
  #maxQueue: number
  #queueTimeout: number
  #reconnectDelay: number
  #maxReconnectDelay: number
  #reconnect: boolean
  #onUp: ((first: boolean) => void) | undefined
  #opens = 0
  #onDown: ((error: Error) => void) | undefined
  #now: () => number

  #state: State = 'idle'
  #channel: Channel<Out> | null = null
  /** Requests sent, by id. */
  #inflight = new Map<number, Pending<Out, In>>()
  /** The same requests in sending order, which is deadline order (settled ones are skipped lazily). */
  #order: Pending<Out, In>[] = []
  #orderHead = 0
  /** Requests waiting for the carrier, in arrival order. */
  #queue: Pending<Out, In>[] = []
  #queued = 0
  /** Weight of the requests accepted and not settled (queued or in flight): what `maxInFlight` bounds. */
  #held = 0
  #nextId = 1
  /** An answer arrived since the timer fired: the overdue check waits one more turn. */
  #heard = false
  #deferrals = 0
  #upSince = 0
  #timer: NodeJS.Timeout | null = null
  #timerAt = Infinity
  #retryTimer: NodeJS.Timeout | null = null
  #attempts = 0
  #everUp = false
  #downSince = 0
  #lastError: Error | null = null
  #failure: PyshardError | null = null
  #drained: (() => void) | null = null
  #closed: Promise<void> | null = null
  #upWaiters: { resolve(): void; reject(error: Error): void }[] = []
  /** The peer said GOAWAY on the current carrier: new requests wait for the next one. */
  #goingAway = false

  constructor(options: LinkOptions<Out, In>) {
    this.name = options.name
    this.#open = options.open
    this.#connectTimeout = positive('connectTimeout', options.connectTimeout, 3000)
    this.#requestTimeout = positive('requestTimeout', options.requestTimeout, 5000)
    this.#maxInFlight = positive('maxInFlight', options.maxInFlight, 65_536)
    this.#maxQueue = positive('maxQueue', options.maxQueue, 1000, true)
    this.#queueTimeout = positive('queueTimeout', options.queueTimeout, this.#connectTimeout)
    this.#reconnectDelay = positive('reconnectDelay', options.reconnectDelay, 50)
    this.#maxReconnectDelay = positive('maxReconnectDelay', options.maxReconnectDelay, 2000)
    this.#reconnect = options.reconnect ?? true
    this.#onUp = options.onUp
    this.#onDown = options.onDown
    this.#now = options.now ?? Date.now
  }

  /** Whether the carrier is ready now. */
  get up(): boolean { return this.#state === 'up' }

  /** How many times the channel came up (a reconnect, or a restarted worker, raises it). */
  get opens(): number { return this.#opens }

  /** Requests sent and not yet answered. */
  get inflight(): number { return this.#inflight.size }

  /** The last error that took the carrier down (or kept it from coming up), if any. */
  get lastError(): Error | null { return this.#lastError }

  /**
   * The error `submit` would reject a request of `weight` with at once (closed, or `maxInFlight`
   * reached), or null. Lets a caller skip encoding a request that cannot go.
   */
  refusal(weight: number): ShardUnavailableError | null {
    if (this.#state === 'closing' || this.#state === 'closed') return this.#unavailable('is closed')
    if (this.#held + weight > this.#maxInFlight) {
      return this.#unavailable(`has ${this.#held} requests in flight; ${weight} more would pass maxInFlight (${this.#maxInFlight})`)
    }
    return null
  }

  /** Opens the carrier now instead of on the first request; resolves once it is up, rejects if the attempt fails. */
  connect(): Promise<void> {
    if (this.#state === 'up') return Promise.resolve()
    if (this.#state === 'closing' || this.#state === 'closed') return Promise.reject(this.#unavailable('is closed'))
    return new Promise<void>((resolve, reject) => {
      this.#upWaiters.push({ resolve, reject })
      if (this.#state !== 'connecting') this.#connectNow()
    })
  }

  /**
   * Sends `payload`; resolves with the peer's answer. Rejects TIMEOUT `requestTimeout` after it
   * was sent, SHARD_UNAVAILABLE when `maxInFlight` is reached, when the carrier is lost with the
   * request in flight, when the offline queue is full or has waited too long, or after close.
   * @param weight how much of `maxQueue` the request takes while queued (a batch: its length)
   */
  request(payload: Out, weight = 1): Promise<In> {
    return new Promise<In>((resolve, reject) => this.submit(payload, weight, resolve, reject))
  }

  /**
   * `request` in callback form: exactly one of `resolve` or `reject` is called, on the same
   * terms. Spares the promise on latency-bound paths (the router's `ShardClient.submit`).
   */
  submit(payload: Out, weight: number, resolve: (value: In) => void, reject: (error: Error) => void): void {
    {
      const refusal = this.refusal(weight)
      if (refusal !== null) {
        reject(refusal)
        return
      }
      const state = this.#state
      const p: Pending<Out, In> = { id: 0, payload, weight, deadline: 0, queueDeadline: 0, resolve, reject, done: false }
      if (state === 'up' && !this.#goingAway) {
        this.#held += weight
        this.#send(p)
        return
      }
      const now = this.#now()
      if (state === 'idle') this.#connectNow()
      // The offline limits are for a peer known to be unreachable. Before any attempt has failed
      // (the lazy first connect, a GOAWAY hand-over) requests wait for the carrier, each for at most
      // its own timeout: a first burst bigger than maxQueue is not refused.
      const lastError = this.#lastError
      if (lastError !== null) {
        if (now - this.#downSince >= this.#queueTimeout) {
          reject(this.#unavailable(`has been unreachable for ${now - this.#downSince} ms (option queueTimeout)`, lastError))
          return
        }
        if (this.#queued + weight > this.#maxQueue && this.#queued > 0) {
          reject(this.#unavailable(`is not connected and ${this.#queued} requests already wait for it (option maxQueue)`, lastError))
          return
        }
        if (weight > this.#maxQueue) {
          reject(this.#unavailable(`is not connected and a batch of ${weight} exceeds the offline queue (option maxQueue)`, lastError))
          return
        }
      }
      p.queueDeadline = now + this.#queueTimeout
      this.#held += weight
      this.#queue.push(p)
      this.#queued += weight
      this.#arm(p.queueDeadline)
      this.#timer?.ref()
    }
  }

  /** Stops taking requests, lets those in flight finish (answer or timeout), then ends the carrier. Idempotent. */
  close(): Promise<void> {
    if (this.#closed === null) {
      const wasUp = this.#state === 'up'
      this.#state = 'closing'
      this.#clearRetry()
      // Queued requests would wait for a carrier that will not come.
      this.#rejectQueue(this.#unavailable('is closed'))
      for (const w of this.#upWaiters.splice(0)) w.reject(this.#unavailable('is closed'))
      this.#closed = (async () => {
        if (wasUp && this.#inflight.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve))
        this.#finish()
        await this.#channel?.end()
      })()
    }
    return this.#closed
  }

  /** Rejects everything now and drops the carrier. */
  destroy(error?: Error): void {
    if (this.#state === 'closed') return
    this.#clearRetry()
    const err = error ?? this.#unavailable('was destroyed')
    this.#finish()
    this.#rejectQueue(err)
    this.#rejectInflight(err)
    for (const w of this.#upWaiters.splice(0)) w.reject(err)
    const ch = this.#channel
    this.#channel = null
    ch?.destroy()
    this.#closed ??= Promise.resolve()
  }

  // ---- internals ----

  #finish(): void {
    this.#state = 'closed'
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#timerAt = Infinity
  }

  #unavailable(what: string, cause?: Error | null): ShardUnavailableError {
    const suffix = cause ? `: ${cause.message}` : ''
    return new ShardUnavailableError(`shard "${this.name}" ${what}${suffix}`, cause ? { cause } : undefined)
  }

  /** Marks a request settled (the caller is told next). */
  #settle(p: Pending<Out, In>): void {
    p.done = true
    this.#held -= p.weight
  }

  #send(p: Pending<Out, In>): void {
    let id = this.#nextId
    this.#nextId = id === MAX_ID ? 1 : id + 1
    while (this.#inflight.has(id)) id = this.#nextId++
    p.id = id
    p.deadline = this.#now() + this.#requestTimeout
    const channel = this.#channel as Channel<Out>
    if (this.#inflight.size === 0) channel.busy?.(true)
    this.#inflight.set(id, p)
    this.#order.push(p)
    if (this.#timerAt > p.deadline) this.#arm(p.deadline)
    channel.send(id, p.payload)
  }

  /** No request is in flight any more: the carrier need not hold the process. */
  #idle(): void {
    this.#channel?.busy?.(false)
    if (this.#drained !== null) this.#checkDrained()
  }

  #arm(at: number): void {
    if (this.#timer !== null) {
      if (this.#timerAt <= at) return
      clearTimeout(this.#timer)
    }
    this.#timerAt = at
    this.#timer = setTimeout(this.#onTimer, Math.max(0, at - this.#now()) + 1)
    // Requests waiting for a carrier keep the process alive (nothing else does while it is down);
    // in-flight ones have their socket for that.
    if (this.#queue.length === 0) this.#timer.unref()
  }

  #onTimer = (): void => {
    this.#timer = null
    this.#timerAt = Infinity
    // Timers run before the event loop reads sockets and ports: after a stretch of this thread's own
    // work, answers may be waiting unread. Look at deadlines once they have been read (setImmediate
    // runs after the poll phase), and again a turn later while answers keep coming in.
    this.#heard = false
    this.#deferrals = 0
    setImmediate(this.#expire)
  }

  #expire = (): void => {
    if (this.#heard && this.#deferrals < MAX_EXPIRY_DEFERRALS) {
      this.#heard = false
      this.#deferrals++
      setImmediate(this.#expire)
      return
    }
    const now = this.#now()
    let next = Infinity
    const order = this.#order
    let head = this.#orderHead
    while (head < order.length) {
      const p = order[head] as Pending<Out, In>
      if (p.done) { head++; continue }
      if (p.deadline > now) { next = p.deadline; break }
      head++
      this.#settle(p)
      this.#inflight.delete(p.id)
      p.reject(new TimeoutError(`shard "${this.name}" did not answer within ${this.#requestTimeout} ms of sending (option requestTimeout); the request may still be applied`))
    }
    this.#compact(head)
    if (this.#queue.length > 0) {
      const keep: Pending<Out, In>[] = []
      for (const p of this.#queue) {
        if (p.done) continue
        if (p.queueDeadline <= now) {
          this.#settle(p)
          this.#queued -= p.weight
          p.reject(this.#unavailable(`could not be reached within ${this.#queueTimeout} ms (option queueTimeout)`, this.#lastError))
        } else {
          keep.push(p)
          next = Math.min(next, p.queueDeadline)
        }
      }
      this.#queue = keep
    }
    if (this.#inflight.size === 0) this.#idle()
    if (next !== Infinity) this.#arm(next)
  }

  #compact(head: number): void {
    if (head >= this.#order.length) {
      this.#order = []
      this.#orderHead = 0
    } else if (head > 1024 && head * 2 > this.#order.length) {
      this.#order = this.#order.slice(head)
      this.#orderHead = 0
    } else {
      this.#orderHead = head
    }
  }

  #checkDrained(): void {
    if (this.#drained !== null && this.#inflight.size === 0) {
      const d = this.#drained
      this.#drained = null
      d()
    }
  }

  #connectNow(): void {
    // connect() while a retry is pending replaces that retry: one attempt loop at a time.
    this.#clearRetry()
    this.#state = 'connecting'
    this.#failure = null
    const ac = new AbortController()
    const timer = setTimeout(() => ac.abort(new TimeoutError(`connecting to shard "${this.name}" took over ${this.#connectTimeout} ms (option connectTimeout)`)), this.#connectTimeout)
    timer.unref()
    let channel: Channel<Out> | null = null
    let gone = false
    /** The request `id` answered on the current carrier, settled; undefined if unknown or the carrier is stale. */
    const take = (id: number): Pending<Out, In> | undefined => {
      if (channel === null || this.#channel !== channel) return undefined
      this.#heard = true
      const p = this.#inflight.get(id)
      if (p === undefined) return undefined
      this.#inflight.delete(id)
      this.#settle(p)
      return p
    }
    const afterAnswer = (): void => {
      if (this.#inflight.size === 0) {
        this.#idle()
        if (this.#goingAway) void channel?.end()
      }
    }
    const events: ChannelEvents<In> = {
      message: (id, payload) => {
        const p = take(id)
        if (p === undefined) return
        // Answers come in sending order: drop settled entries from the front as we go.
        const order = this.#order
        let head = this.#orderHead
        while (head < order.length && (order[head] as Pending<Out, In>).done) head++
        this.#compact(head)
        p.resolve(payload)
        afterAnswer()
      },
      reject: (id, error) => {
        const p = take(id)
        if (p === undefined) return
        p.reject(error)
        afterAnswer()
      },
      failure: (error) => {
        this.#failure = error
      },
      goaway: () => {
        if (channel === null || this.#channel !== channel) return
        this.#goingAway = true
        if (this.#inflight.size === 0) void channel.end()
      },
      close: (error) => {
        if (gone) return
        gone = true
        if (channel !== null && this.#channel === channel) this.#lost(this.#failure ?? error ?? new Error('connection closed'))
      },
    }
    this.#open(events, ac.signal).then(
      (ch) => {
        clearTimeout(timer)
        if (this.#state !== 'connecting' || gone) {
          ch.destroy()
          if (this.#state === 'connecting') this.#failed(this.#failure ?? new Error('connection closed during the handshake'))
          return
        }
        channel = ch
        this.#channel = ch
        this.#goingAway = false
        this.#state = 'up'
        this.#upSince = Date.now()
        this.#lastError = null
        const first = !this.#everUp
        this.#everUp = true
        this.#opens++
        const queue = this.#queue
        this.#queue = []
        this.#queued = 0
        for (const p of queue) if (!p.done) this.#send(p)
        this.#timer?.unref()
        this.#onUp?.(first)
        for (const w of this.#upWaiters.splice(0)) w.resolve()
      },
      (err: unknown) => {
        clearTimeout(timer)
        // The transport's own error names its own option (a worker's startTimeout); else the connect timeout.
        const error = !(err instanceof PyshardError) && ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason : (err as Error)
        if (this.#state === 'connecting') this.#failed(this.#failure ?? error)
      },
    )
  }

  /** An attempt to connect failed. */
  #failed(error: Error): void {
    const firstFailure = this.#lastError === null
    this.#lastError = error
    if (this.#downSince === 0 || firstFailure) this.#downSince = this.#now()
    this.#state = 'down'
    for (const w of this.#upWaiters.splice(0)) w.reject(error)
    if (firstFailure) this.#onDown?.(error)
    // A refused token will not be accepted on the next try: fail the waiting requests with it now.
    if (error instanceof PyshardError && error.code === 'AUTH_FAILED') this.#rejectQueue(error)
    if (!this.#reconnect) {
      this.#rejectQueue(error instanceof PyshardError ? error : this.#unavailable('cannot be reached', error))
      this.#finish()
      return
    }
    this.#scheduleRetry()
  }

  /** A ready carrier went away. */
  #lost(error: Error): void {
    this.#channel = null
    if (Date.now() - this.#upSince >= STABLE_MS) this.#attempts = 0
    const err = error instanceof PyshardError && error.code !== 'SHARD_UNAVAILABLE'
      ? error
      : this.#unavailable('lost its connection with requests in flight', error)
    this.#rejectInflight(err)
    if (this.#state === 'closing' || this.#state === 'closed') {
      this.#finish()
      return
    }
    this.#lastError = error
    this.#downSince = this.#now()
    this.#state = 'down'
    this.#onDown?.(error)
    if (!this.#reconnect) {
      this.#finish()
      return
    }
    this.#scheduleRetry()
  }

  #scheduleRetry(): void {
    // Capped exponential backoff with jitter (half to full delay), so clients of a restarted server do not return in lockstep.
    const base = Math.min(this.#maxReconnectDelay, this.#reconnectDelay * 2 ** Math.min(this.#attempts, 30))
    this.#attempts++
    const delay = base / 2 + Math.random() * (base / 2)
    this.#clearRetry()
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      if (this.#state === 'down') this.#connectNow()
    }, delay)
    this.#retryTimer.unref()
  }

  #clearRetry(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
  }

  #rejectQueue(error: Error): void {
    const queue = this.#queue
    this.#queue = []
    this.#queued = 0
    this.#timer?.unref()
    for (const p of queue) {
      if (p.done) continue
      this.#settle(p)
      p.reject(error)
    }
  }

  #rejectInflight(error: Error): void {
    const pending = [...this.#inflight.values()]
    this.#inflight.clear()
    this.#order = []
    this.#orderHead = 0
    for (const p of pending) {
      this.#settle(p)
      p.reject(error)
    }
    this.#checkDrained()
  }
}
