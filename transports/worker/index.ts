/**
 * Shards in worker threads. Each worker owns the data of its shards, so a key
 * always lives in the same thread, and work over a shard's data (processors)
 * runs there, in parallel with the other workers.
 *
 * The router hands this transport one batch per shard per tick; the batches of
 * all shards of one worker issued in the same tick travel as one message, and
 * the worker answers them with one message.
 */
import { Worker } from 'node:worker_threads'
import type { ResourceLimits } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { channel } from 'node:diagnostics_channel'
import { BadConfigError, ShardUnavailableError, TimeoutError, errorFromCode, positiveInt } from '../../src/internal.js'
import type { Request, Response, ShardClient, ShardSpec, Transport, TransportContext } from '../../src/internal.js'
import type { Codec, HostData, HostMessage, HostShard, Part, ReplyMessage } from './messages.js'
import { makeCodec } from './codec.js'
import type { WireCodec } from './codec.js'

export type { Codec } from './messages.js'

/**
 * Settings of the worker transport, given as `transportOptions` to `Pyshard.open`.
 * Every one is optional.
 */
export interface WorkerTransportOptions {
  /**
   * How batches cross threads: `'columns'` (structured clone of the requests
   * and answers laid out in columns), `'clone'` (structured clone of the
   * request and response objects as they are) or `'msgpack'` (one msgpackr
   * buffer per message, transferred). All carry any JSON document; columns
   * measured fastest on the bench workload (docs/workers.md).
   * @default 'columns'
   */
  codec?: Codec
  /**
   * Most requests in flight to one worker. A send that would go over it
   * rejects at once with SHARD_UNAVAILABLE instead of queueing without bound.
   * @default 65536
   */
  maxInFlight?: number
  /** V8 heap limits of each worker; a worker that runs out of memory is restarted (empty). @default Node's defaults */
  resourceLimits?: ResourceLimits
  /** How long a worker may take to start before `open` rejects SHARD_UNAVAILABLE (ms). @default 30000 */
  startTimeout?: number
  /** How often each worker reclaims expired entries in the background (ms). @default 1000 */
  sweepInterval?: number
}

interface Settings {
  codec: Codec
  maxInFlight: number
  resourceLimits: ResourceLimits | undefined
  startTimeout: number
  sweepInterval: number
}

const DEFAULTS: Settings = {
  codec: 'columns',
  maxInFlight: 65_536,
  resourceLimits: undefined,
  startTimeout: 30_000,
  sweepInterval: 1000,
}

/** A restart within this long of the previous start counts as a crash loop and backs off. */
const CRASH_LOOP_MS = 1000
const MAX_RESTART_DELAY_MS = 5000

/**
 * Published (only when someone subscribes) with `{ worker, shards }` each time
 * a worker thread starts, including restarts. For diagnostics and fault tests.
 */
const startChannel = channel('pyshard:worker:start')

/** Payload of the `pyshard:worker:start` diagnostics channel. */
export interface WorkerStartMessage {
  worker: Worker
  /** Names of the shards this worker hosts. */
  shards: string[]
}

function settingsFrom(options: Record<string, unknown>): Settings {
  const out = { ...DEFAULTS }
  const positive = (name: 'maxInFlight' | 'startTimeout' | 'sweepInterval'): void => {
    out[name] = positiveInt(`transportOptions.${name}`, options[name], out[name])
  }
  positive('maxInFlight')
  positive('startTimeout')
  positive('sweepInterval')
  if (options.codec !== undefined) {
    if (options.codec !== 'clone' && options.codec !== 'columns' && options.codec !== 'msgpack') {
      throw new TypeError(`options.transportOptions.codec must be "clone", "columns" or "msgpack", got ${String(options.codec)}`)
    }
    out.codec = options.codec
  }
  if (options.resourceLimits !== undefined) {
    if (options.resourceLimits === null || typeof options.resourceLimits !== 'object') {
      throw new TypeError('options.transportOptions.resourceLimits must be an object (worker_threads ResourceLimits)')
    }
    out.resourceLimits = options.resourceLimits as ResourceLimits
  }
  return out
}

/**
 * The host to start: from the TypeScript sources (tests, benches) a small .mjs
 * that registers tsx first, since Node 20 cannot start a .ts worker; from the
 * build, the built host next to this file. In the CJS build tsup's
 * `import.meta.url` shim lives in a shared chunk at the root of dist/, so the
 * host is looked for relative to both places.
 */
function hostUrl(): URL {
  const here = import.meta.url
  if (here.endsWith('.ts')) return new URL('./host-tsx.mjs', here)
  const candidates = [new URL('./host.js', here), new URL('./transports/worker/host.js', here)]
  return candidates.find((url) => existsSync(fileURLToPath(url))) ?? (candidates[0] as URL)
}

/** One batch handed to `send`, waiting for its message to go or come back. */
interface OutPart {
  shard: number
  reqs: Request[]
  resolve: (responses: Response[]) => void
  reject: (err: Error) => void
  /** The batch holds createIndex/dropIndex requests whose outcome the index list follows. */
  admin: boolean
}

interface Pending {
  parts: OutPart[]
  n: number
  /** When it times out (performance.now() ms). */
  deadline: number
}

/** Index names created (and not dropped) through this transport, replayed into restarted workers. */
type IndexLog = Set<string>

/** One worker thread and the shards it hosts. */
class WorkerGroup {
  readonly #shards: HostShard[]
  readonly #names: string[]
  readonly #ctx: TransportContext
  readonly #settings: Settings
  readonly #indexes: IndexLog
  readonly #codec: WireCodec
  #worker: Worker | null = null
  #ready = false
  /** Set while restarting after repeated crashes: sends fail fast. */
  #down: Error | null = null
  #closing = false
  #closed: Promise<void> | null = null
  #outbox: OutPart[] = []
  #flushQueued = false
  #pending = new Map<number, Pending>()
  #inFlight = 0
  #nextId = 1
  #refed = true
  #startedAt = 0
  #crashes = 0
  #restartTimer: NodeJS.Timeout | null = null
  #timer: NodeJS.Timeout | null = null
  #onIdle: (() => void) | null = null
  #clients: number

  constructor(shards: HostShard[], ctx: TransportContext, settings: Settings, indexes: IndexLog) {
    this.#shards = shards
    this.#names = shards.map((s) => s.name)
    this.#ctx = ctx
    this.#settings = settings
    this.#indexes = indexes
    this.#clients = shards.length
    this.#codec = makeCodec(settings.codec)
  }

  /** Starts the first worker; resolves once it is ready. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = this.#spawn()
      const fail = (err: Error): void => {
        clearTimeout(timer)
        worker.removeAllListeners('message')
        void worker.terminate()
        this.#worker = null
        reject(err)
      }
      const timer = setTimeout(() => {
        fail(new ShardUnavailableError(`worker for shards ${this.#names.join(', ')} did not start within ${this.#settings.startTimeout} ms (transportOptions.startTimeout)`))
      }, this.#settings.startTimeout)
      const onStart = (msg: HostMessage): void => {
        if (msg.t === 'ready') {
          clearTimeout(timer)
          worker.off('message', onStart)
          worker.off('error', onEarlyError)
          worker.off('exit', onEarlyExit)
          this.#attach(worker)
          this.#ready = true
          this.#updateRef()
          resolve()
        } else if (msg.t === 'fatal') {
          fail(errorFromCode(msg.code, msg.message))
        }
      }
      const onEarlyError = (err: Error): void => fail(new ShardUnavailableError(`worker for shards ${this.#names.join(', ')} failed to start: ${err.message}`, { cause: err }))
      const onEarlyExit = (code: number): void => fail(new ShardUnavailableError(`worker for shards ${this.#names.join(', ')} exited with code ${code} while starting`))
      worker.on('message', onStart)
      worker.on('error', onEarlyError)
      worker.on('exit', onEarlyExit)
    })
  }

  #spawn(): Worker {
    const data: HostData = {
      shards: this.#shards,
      processors: this.#ctx.processors,
      codec: this.#settings.codec,
      sweepInterval: this.#settings.sweepInterval,
      clock: this.#ctx.clock,
      dataDir: this.#ctx.dataDir, fsync: this.#ctx.fsync,
    }
    const worker = new Worker(hostUrl(), {
      workerData: data,
      ...(this.#settings.resourceLimits ? { resourceLimits: this.#settings.resourceLimits } : {}),
      // The host's stdout/stderr go straight to ours; nothing to pipe.
      stdout: false,
      stderr: false,
    })
    this.#worker = worker
    // A new Worker starts referenced.
    this.#refed = true
    this.#startedAt = Date.now()
    if (startChannel.hasSubscribers) startChannel.publish({ worker, shards: [...this.#names] } satisfies WorkerStartMessage)
    return worker
  }

  /** Wires a started worker's messages and faults. */
  #attach(worker: Worker): void {
    worker.on('message', (msg: HostMessage) => this.#onMessage(msg))
    worker.on('error', (err: Error) => this.#fault(worker, err))
    worker.on('exit', (code: number) => this.#fault(worker, new Error(`exited with code ${code}`)))
    worker.on('messageerror', (err: Error) => this.#ctx.emit('error', new ShardUnavailableError(`a message from the worker for shards ${this.#names.join(', ')} could not be read: ${err.message}`, { cause: err })))
  }

  send(shard: number, reqs: Request[]): Promise<Response[]> {
    if (this.#closing) return Promise.reject(new ShardUnavailableError(`shard "${this.#names[shard]}" is closed`))
    if (this.#down !== null) return Promise.reject(this.#down)
    if (this.#inFlight + reqs.length > this.#settings.maxInFlight) {
      return Promise.reject(new ShardUnavailableError(
        `the worker for shard "${this.#names[shard]}" has ${this.#inFlight} requests in flight; ${reqs.length} more would pass transportOptions.maxInFlight (${this.#settings.maxInFlight})`,
      ))
    }
    let admin = false
    for (let i = 0; i < reqs.length; i++) {
      const op = (reqs[i] as Request).op
      if (op === 'createIndex' || op === 'dropIndex') {
        admin = true
        break
      }
    }
    return new Promise((resolve, reject) => {
      this.#outbox.push({ shard, reqs, resolve, reject, admin })
      this.#inFlight += reqs.length
      if (!this.#flushQueued) {
        this.#flushQueued = true
        // The router flushes every shard's batch from process.nextTick: a microtask runs after all of them,
        // so the batches of this worker's shards issued in one tick share one message.
        queueMicrotask(() => this.#flush())
      }
    })
  }

  #flush(): void {
    this.#flushQueued = false
    const parts = this.#outbox
    if (parts.length === 0) return
    this.#outbox = []
    const worker = this.#worker
    if (worker === null || this.#down !== null) {
      const err = this.#down ?? new ShardUnavailableError(`the worker for shards ${this.#names.join(', ')} is not running`)
      for (const p of parts) this.#settleFail(p, err)
      this.#idleCheck()
      return
    }
    const id = this.#nextId++
    let n = 0
    for (const p of parts) n += p.reqs.length
    const wire: Part[] = parts.map((p) => ({ shard: p.shard, reqs: p.reqs }))
    try {
      const { body, transfer } = this.#codec.encodeBatch(wire)
      worker.postMessage({ id, body }, transfer)
    } catch (err) {
      // A document that cannot cross threads (a function inside, say) fails alone, as BAD_REQUEST.
      this.#sendSplit(parts, err as Error)
      return
    }
    this.#pending.set(id, { parts, n, deadline: performance.now() + this.#ctx.requestTimeout })
    if (this.#timer === null) this.#armTimer(this.#ctx.requestTimeout)
    this.#updateRef()
  }

  /** Answers the requests that cannot be sent with BAD_REQUEST and sends the rest. */
  #sendSplit(parts: OutPart[], cause: Error): void {
    for (const p of parts) {
      const local = new Array<Response | undefined>(p.reqs.length)
      const rest: Request[] = []
      for (let i = 0; i < p.reqs.length; i++) {
        const req = p.reqs[i] as Request
        try {
          structuredClone(req)
          rest.push(req)
        } catch (err) {
          local[i] = { ok: false, code: 'BAD_REQUEST', message: `the request cannot be sent to a worker (documents must be JSON): ${(err as Error).message}` }
        }
      }
      if (rest.length === p.reqs.length) {
        // Nothing in this part is at fault: the message failed for another reason.
        this.#settleFail(p, new ShardUnavailableError(`cannot send to the worker for shard "${this.#names[p.shard]}": ${cause.message}`, { cause }))
        continue
      }
      this.#inFlight -= p.reqs.length - rest.length
      const merge = (answers: Response[]): Response[] => {
        let j = 0
        return local.map((r) => r ?? (answers[j++] as Response))
      }
      if (rest.length === 0) {
        p.resolve(merge([]))
        continue
      }
      this.#outbox.push({ ...p, reqs: rest, resolve: (answers) => p.resolve(merge(answers)) })
    }
    if (this.#outbox.length > 0) this.#flush()
    else this.#idleCheck()
  }

  #onMessage(msg: HostMessage): void {
    if (msg.t === 'reply') this.#onReply(msg)
    else if (msg.t === 'events') this.#emitEvents(msg.events)
  }

  #onReply(msg: ReplyMessage): void {
    if (msg.events !== undefined) this.#emitEvents(msg.events)
    const pending = this.#pending.get(msg.id)
    if (pending === undefined) return // timed out, or the index replay of a restart
    this.#pending.delete(msg.id)
    this.#inFlight -= pending.n
    let answers: Response[][] | undefined
    let error = msg.error
    if (error === undefined) {
      try {
        answers = this.#codec.decodeReply(msg.body)
      } catch (err) {
        error = `could not decode the worker's answer: ${(err as Error).message}`
      }
    }
    const parts = pending.parts
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as OutPart
      const res = answers?.[i]
      if (res === undefined || res.length !== part.reqs.length) {
        part.reject(new ShardUnavailableError(`the worker for shard "${this.#names[part.shard]}" gave no usable answer: ${error ?? 'wrong number of responses'}`))
        continue
      }
      if (part.admin) this.#followIndexes(part.reqs, res)
      part.resolve(res)
    }
    this.#idleCheck()
  }

  /** Keeps the index log in step with what the shards accepted. */
  #followIndexes(reqs: Request[], res: Response[]): void {
    for (let i = 0; i < reqs.length; i++) {
      const req = reqs[i] as Request
      if (!(res[i] as Response).ok) continue
      if (req.op === 'createIndex') this.#indexes.add(req.index)
      else if (req.op === 'dropIndex') this.#indexes.delete(req.index)
    }
  }

  #emitEvents(events: NonNullable<ReplyMessage['events']>): void {
    for (const e of events) this.#ctx.emit(e.type, { shard: this.#names[e.shard] ?? String(e.shard), index: e.index, key: e.key })
  }

  /**
   * One timer per worker, not one per message: it fires at the oldest
   * message's deadline (messages are kept in send order, so deadlines are in
   * order too), fails what is overdue, and re-arms for the next.
   */
  #armTimer(ms: number): void {
    this.#timer = setTimeout(() => this.#expire(), Math.max(1, Math.ceil(ms)))
    // Pending answers keep the worker referenced; the timer itself need not hold the process.
    this.#timer.unref()
  }

  #expire(): void {
    this.#timer = null
    const now = performance.now()
    for (const [id, pending] of this.#pending) {
      if (pending.deadline > now) {
        this.#armTimer(pending.deadline - now)
        break
      }
      this.#pending.delete(id)
      this.#inFlight -= pending.n
      // The worker may still apply these requests; it is busy, not lost, so it keeps its data.
      for (const p of pending.parts) {
        p.reject(new TimeoutError(`shard "${this.#names[p.shard]}" (in a worker) did not answer within ${this.#ctx.requestTimeout} ms (requestTimeout); the request may still be applied`))
      }
    }
    this.#idleCheck()
  }

  #settleFail(part: OutPart, err: Error): void {
    this.#inFlight -= part.reqs.length
    part.reject(err)
  }

  /** The worker threw or exited: fail what it held, report the shards down, start a fresh one. */
  #fault(worker: Worker, cause: Error): void {
    if (worker !== this.#worker || this.#closing) return
    this.#worker = null
    this.#ready = false
    void worker.terminate()
    const what = `the worker for shards ${this.#names.join(', ')} failed (${cause.message}); its shards restart empty`
    const err = new ShardUnavailableError(what, { cause })
    for (const p of this.#pending.values()) {
      for (const part of p.parts) part.reject(err)
    }
    this.#pending.clear()
    this.#inFlight = 0
    // Batches queued for the next message go to the new worker.
    for (const p of this.#outbox) this.#inFlight += p.reqs.length
    for (const name of this.#names) this.#ctx.emit('shardDown', { shard: name, error: err })
    // Restart at once, unless the worker keeps dying right after starting: then back off, failing sends fast meanwhile.
    this.#crashes = Date.now() - this.#startedAt < CRASH_LOOP_MS ? this.#crashes + 1 : 1
    if (this.#crashes <= 1) this.#restart()
    else {
      const delay = Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (this.#crashes - 2))
      this.#down = new ShardUnavailableError(`${what}; restarting in ${delay} ms after ${this.#crashes} failures in a row within ${CRASH_LOOP_MS} ms of starting`, { cause })
      for (const p of this.#outbox) this.#settleFail(p, this.#down)
      this.#outbox = []
      this.#restartTimer = setTimeout(() => this.#restart(), delay)
      this.#restartTimer.unref()
    }
    this.#idleCheck()
  }

  /**
   * Starts a fresh worker. Messages posted before it is up wait in its port, so
   * the index replay goes first and new batches follow at once.
   */
  #restart(): void {
    this.#restartTimer = null
    this.#down = null
    if (this.#closing) return
    const worker = this.#spawn()
    const names = [...this.#indexes]
    if (names.length > 0) {
      const parts: Part[] = this.#shards.map((_, shard) => ({ shard, reqs: names.map((index): Request => ({ op: 'createIndex', index })) }))
      const id = this.#nextId++
      const { body, transfer } = this.#codec.encodeBatch(parts)
      worker.postMessage({ id, body }, transfer)
    }
    const onStart = (msg: HostMessage): void => {
      if (msg.t !== 'ready' && msg.t !== 'fatal') return
      worker.off('message', onStart)
      if (msg.t === 'fatal') {
        this.#fault(worker, new Error(msg.message))
        return
      }
      this.#ready = true
      this.#updateRef()
      for (const name of this.#names) this.#ctx.emit('shardUp', { shard: name })
    }
    worker.on('message', onStart)
    this.#attach(worker)
    if (this.#outbox.length > 0 && !this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(() => this.#flush())
    }
  }

  /**
   * Keeps the worker referenced only while it holds work (or is starting), so an
   * idle store never keeps the process alive, and an awaited answer always does.
   */
  #updateRef(): void {
    const worker = this.#worker
    if (worker === null) return
    const busy = !this.#ready || this.#pending.size > 0
    if (busy && !this.#refed) {
      worker.ref()
      this.#refed = true
    } else if (!busy && this.#refed) {
      worker.unref()
      this.#refed = false
    }
  }

  #idleCheck(): void {
    if (this.#pending.size === 0) {
      this.#updateRef()
      if (this.#outbox.length === 0 && this.#onIdle !== null) this.#onIdle()
    }
  }

  /** One shard client is done; the last one ends the worker after what is in flight has settled. */
  release(): Promise<void> {
    if (--this.#clients > 0) return Promise.resolve()
    return this.close()
  }

  /** Lets what is in flight settle (bounded by requestTimeout), then ends the worker. */
  close(): Promise<void> {
    if (this.#closed === null) {
      this.#closed = (async () => {
        // The router flushes its last batches just before closing: let them reach the outbox and go.
        await new Promise<void>((resolve) => queueMicrotask(resolve))
        if (this.#pending.size > 0 || this.#outbox.length > 0 || this.#flushQueued) {
          await new Promise<void>((resolve) => { this.#onIdle = resolve })
        }
        this.#closing = true
        if (this.#restartTimer !== null) clearTimeout(this.#restartTimer)
        if (this.#timer !== null) clearTimeout(this.#timer)
        const worker = this.#worker
        this.#worker = null
        if (worker !== null) await worker.terminate()
      })()
    }
    return this.#closed
  }
}

/** Splits shards over `workers` groups, round robin, so each worker gets an even share. */
function plan(n: number, workers: number | undefined): number[] {
  if (workers !== undefined && !(Number.isSafeInteger(workers) && workers > 0)) {
    throw new TypeError(`options.workers must be a positive integer, got ${String(workers)}`)
  }
  const w = Math.min(n, workers ?? availableParallelism())
  return Array.from({ length: n }, (_, i) => i % w)
}

/** The worker transport. */
export const transport: Transport = {
  async connect(specs: readonly ShardSpec[], ctx: TransportContext): Promise<ShardClient[]> {
    if (specs.length === 0) return []
    if (ctx.now !== undefined && ctx.clock === undefined) {
      throw new TypeError('options.now: worker shards cannot call a function in this thread; pass a ManualClock (exported by pyshard) to drive their clock')
    }
    const settings = settingsFrom(ctx.options)
    const owner = plan(specs.length, ctx.workers)
    const count = Math.max(...owner) + 1
    const indexes: IndexLog = new Set()
    const members: HostShard[][] = Array.from({ length: count }, () => [])
    const local: number[] = []
    specs.forEach((spec, i) => {
      const group = members[owner[i] as number] as HostShard[]
      local.push(group.length)
      group.push({ name: spec.name, start: spec.start, end: spec.end, size: spec.size, onFull: spec.onFull })
    })
    const groups = members.map((shards) => new WorkerGroup(shards, ctx, settings, indexes))
    const started = await Promise.allSettled(groups.map((g) => g.start()))
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) {
      await Promise.allSettled(groups.map((g) => g.close()))
      const reason = failed.reason as Error
      throw reason instanceof BadConfigError || reason instanceof ShardUnavailableError
        ? reason
        : new ShardUnavailableError(`cannot start worker shards: ${reason.message}`, { cause: reason })
    }
    return specs.map((_, i): ShardClient => {
      const group = groups[owner[i] as number] as WorkerGroup
      const shard = local[i] as number
      let closed = false
      return {
        send: (batch) => group.send(shard, batch),
        close: () => {
          if (closed) return Promise.resolve()
          closed = true
          return group.release()
        },
      }
    })
  },
}
