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
import { BadConfigError, DataDirError, ShardUnavailableError, errorFromCode, errorResponse, measure, positiveInt } from '../../src/internal.js'
import type { Request, Response, ShardClient, ShardSpec, Transport, TransportContext } from '../../src/internal.js'
import { Link } from '../../src/link.js'
import type { Channel, ChannelEvents } from '../../src/link.js'
import type { BatchMessage, CloseMessage, Codec, HostData, HostEvent, HostMessage, HostShard, Part } from './messages.js'
import { makeCodec } from './codec.js'
import type { WireCodec } from './codec.js'
import type { WorkerTransportOptions } from '../../src/internal.js'
export type { WorkerTransportOptions }

export type { Codec } from './messages.js'


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

/** Index names created (and not dropped) through this transport, replayed into restarted workers. */
type IndexLog = Set<string>

/** Flags (each with a value) that say how the main script was given; none applies to a worker's file entry. */
const ENTRY_FLAGS = new Set(['--input-type', '-e', '--eval', '-p', '--print'])

/**
 * This process's `execArgv` for a worker: without the flags that say how the main script was given
 * (`--input-type`, `-e`/`--eval`, `-p`/`--print` and their values, `-` for stdin), which a worker
 * would inherit and fail to start with, and with every other flag kept (`--import`/`--require`/
 * `--loader` hooks such as tsx, `--conditions`, ...).
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '-') continue
    if (ENTRY_FLAGS.has(arg)) i++
    else if (!ENTRY_FLAGS.has(arg.slice(0, arg.indexOf('=')))) out.push(arg)
  }
  return out
}

/** One worker thread and the shards it hosts, reached through one `Link`: a worker is its channel. */
class WorkerGroup {
  readonly link: Link<Part, Response[]>
  readonly #shards: HostShard[]
  readonly #names: string[]
  readonly #ctx: TransportContext
  readonly #settings: Settings
  readonly #indexes: IndexLog
  readonly #codec: WireCodec
  #exited: Promise<unknown> = Promise.resolve()
  #clients: number
  /** The running worker's channel, once it started. */
  #channel: WorkerChannel | null = null

  constructor(shards: HostShard[], ctx: TransportContext, settings: Settings, indexes: IndexLog) {
    this.#shards = shards
    this.#names = shards.map((s) => s.name)
    this.#ctx = ctx
    this.#settings = settings
    this.#indexes = indexes
    this.#clients = shards.length
    this.#codec = makeCodec(settings.codec)
    const what = `shard${shards.length > 1 ? 's' : ''} ${this.#names.join(', ')}`
    this.link = new Link<Part, Response[]>({
      name: this.#names.join(', '),
      open: (events, signal) => this.#open(events, signal),
      connectTimeout: settings.startTimeout,
      requestTimeout: ctx.requestTimeout,
      queueTimeout: Math.min(settings.startTimeout, ctx.requestTimeout),
      maxInFlight: settings.maxInFlight,
      // Requests made while a worker restarts wait for it, bounded like those in flight.
      maxQueue: settings.maxInFlight,
      onUp: (first) => {
        if (!first) for (const shard of this.#names) ctx.emit('shardUp', { shard })
      },
      onDown: (error) => {
        const err = error instanceof ShardUnavailableError ? error : new ShardUnavailableError(`the worker for ${what} failed: ${error.message}`, { cause: error })
        for (const shard of this.#names) ctx.emit('shardDown', { shard, error: err })
      },
    })
  }

  /**
   * Starts a worker; resolves once it is ready. The createIndex of every index known to the store
   * is posted first, so a restarted worker has them before the requests that waited for it.
   */
  #open(events: ChannelEvents<Response[]>, signal: AbortSignal): Promise<Channel<Part>> {
    const names = this.#names.join(', ')
    const data: HostData = {
      shards: this.#shards, processors: this.#ctx.processors, codec: this.#settings.codec,
      sweepInterval: this.#settings.sweepInterval, clock: this.#ctx.clock,
      dataDir: this.#ctx.dataDir, fsync: this.#ctx.fsync, adopt: this.#ctx.adopt,
    }
    const worker = new Worker(hostUrl(), {
      workerData: data,
      execArgv: workerExecArgv(),
      ...(this.#settings.resourceLimits ? { resourceLimits: this.#settings.resourceLimits } : {}),
      // The host's stdout/stderr go straight to ours; nothing to pipe.
      stdout: false,
      stderr: false,
    })
    this.#exited = new Promise((resolve) => worker.once('exit', resolve))
    if (startChannel.hasSubscribers) startChannel.publish({ worker, shards: [...this.#names] } satisfies WorkerStartMessage)
    const indexes = [...this.#indexes]
    if (indexes.length > 0) {
      const replay: Part[] = this.#shards.map((_, shard) => ({ shard, reqs: indexes.map((index): Request => ({ op: 'createIndex', index })) }))
      const { body, transfer } = this.#codec.encodeBatch(replay)
      worker.postMessage({ ids: [], body } satisfies BatchMessage, transfer)
    }
    const channel = new WorkerChannel(worker, this.#codec, events, this.#ctx, this.#names, this.#settings.startTimeout)
    return new Promise((resolve, reject) => {
      let started = false
      let fault: Error | null = null
      const fail = (err: Error): void => {
        if (started) return
        started = true
        signal.removeEventListener('abort', onAbort)
        void worker.terminate()
        reject(err)
      }
      const onAbort = (): void => fail(new ShardUnavailableError(`worker for shards ${names} did not start within ${this.#settings.startTimeout} ms (transportOptions.startTimeout)`))
      signal.addEventListener('abort', onAbort, { once: true })
      worker.on('message', (msg: HostMessage) => {
        if (started) channel.receive(msg)
        else if (msg.t === 'ready') {
          started = true
          signal.removeEventListener('abort', onAbort)
          channel.busy(false)
          this.#channel = channel
          resolve(channel)
        } else if (msg.t === 'fatal') fail(errorFromCode(msg.code, msg.message))
      })
      worker.on('error', (err: Error) => {
        fault = err
        fail(new ShardUnavailableError(`worker for shards ${names} failed to start: ${err.message}`, { cause: err }))
      })
      worker.on('exit', (code: number) => {
        fail(new ShardUnavailableError(`worker for shards ${names} exited with code ${code} while starting`))
        const cause = fault ?? new Error(`exited with code ${code}`)
        events.close(new ShardUnavailableError(`the worker for shards ${names} failed (${cause.message}); its shards restart empty`, { cause }))
      })
      worker.on('messageerror', (err: Error) => this.#ctx.emit('error', new ShardUnavailableError(`a message from the worker for shards ${names} could not be read: ${err.message}`, { cause: err })))
    })
  }

  /** Sends one shard's batch; resolves with its answers. */
  submit(shard: number, reqs: Request[], done: (responses: Response[]) => void, fail: (err: unknown) => void): void {
    // Structured clone would turn a class instance (or a Date...) into something else on the way:
    // what is not JSON is refused here, BAD_REQUEST for that request alone, as in this thread.
    let bad: Map<number, Response> | null = null
    for (let i = 0; i < reqs.length; i++) {
      const req = reqs[i] as Request
      if (req.op !== 'write') continue
      try {
        measure(req.doc)
      } catch (err) {
        ;(bad ??= new Map()).set(i, errorResponse(err))
      }
    }
    if (bad !== null) {
      const refused = bad
      const rest = reqs.filter((_, i) => !refused.has(i))
      const merge = (res: Response[]): Response[] => {
        let j = 0
        return reqs.map((_, i) => refused.get(i) ?? (res[j++] as Response))
      }
      if (rest.length === 0) done(merge([]))
      else this.submit(shard, rest, (res) => done(merge(res)), fail)
      return
    }
    let admin = false
    for (let i = 0; i < reqs.length && !admin; i++) {
      const op = (reqs[i] as Request).op
      admin = op === 'createIndex' || op === 'dropIndex' || op === 'configure'
    }
    // The index log and the assignments follow what the shards accepted, for a restarted worker.
    const answer = admin ? (res: Response[]): void => { this.#follow(shard, reqs, res); done(res) } : done
    this.link.submit({ shard, reqs }, reqs.length, answer, fail)
  }

  #follow(shard: number, reqs: Request[], res: Response[]): void {
    for (let i = 0; i < reqs.length; i++) {
      const req = reqs[i] as Request
      if (!res[i]?.ok) continue
      if (req.op === 'createIndex') this.#indexes.add(req.index)
      else if (req.op === 'dropIndex') this.#indexes.delete(req.index)
      else if (req.op === 'configure') {
        const held = this.#shards[shard] as HostShard
        const s = req.settings
        this.#shards[shard] = {
          name: held.name, start: s.start ?? held.start, end: s.end ?? held.end, size: s.size ?? held.size,
          onFull: s.onFull ?? held.onFull, epoch: s.epoch ?? held.epoch ?? 0,
        }
      }
    }
  }

  /**
   * One shard client is done; the last one ends the worker after what is in flight has settled.
   * One that leaves while others stay (a reshard retired it) closes its data dir in the worker,
   * and a restarted worker leaves that dir alone.
   */
  async release(shard: number): Promise<void> {
    if (--this.#clients <= 0) return this.close()
    const held = this.#shards[shard] as HostShard
    this.#shards[shard] = { ...held, retired: true }
    if (this.#ctx.dataDir !== undefined) await this.#channel?.closeShard(shard)
  }

  /** Lets what is in flight settle (bounded by requestTimeout), then ends the worker. */
  async close(): Promise<void> {
    await this.link.close()
    await this.#exited
  }
}

/**
 * A started worker as the link's channel. The parts sent in one tick (the router flushes every
 * shard's batch from process.nextTick, and a microtask runs after all of them) travel as one
 * message, with one id per part; the reply answers them part by part.
 */
class WorkerChannel implements Channel<Part> {
  readonly #worker: Worker
  readonly #codec: WireCodec
  readonly #events: ChannelEvents<Response[]>
  readonly #ctx: TransportContext
  readonly #names: string[]
  #ids: number[] = []
  #parts: Part[] = []
  #flushQueued = false
  /** Answers given here (BAD_REQUEST) to requests of a part that could not cross threads, by part id. */
  #local = new Map<number, (Response | undefined)[]>()
  readonly #closeTimeout: number
  /** Ends `#closeDirs`'s waits when the host answers `closed`, by shard (-1: all of them). */
  readonly #closing = new Map<number, () => void>()

  constructor(worker: Worker, codec: WireCodec, events: ChannelEvents<Response[]>, ctx: TransportContext, names: string[], closeTimeout: number) {
    this.#worker = worker
    this.#closeTimeout = closeTimeout
    this.#codec = codec
    this.#events = events
    this.#ctx = ctx
    this.#names = names
  }

  send(id: number, part: Part): void {
    this.#ids.push(id)
    this.#parts.push(part)
    if (!this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(this.#flush)
    }
  }

  /** Referenced only while an answer is awaited: an idle store never keeps the process alive. */
  busy(busy: boolean): void {
    if (busy) this.#worker.ref()
    else this.#worker.unref()
  }

  /** Asks the host to close one shard's data dir (a reshard retired it; the worker goes on for the others). */
  closeShard(shard: number): Promise<void> { return this.#closeDirs(shard) }

  /** Asks the host to close its shards' data dirs, then ends the worker. */
  async end(): Promise<void> {
    this.#worker.ref()
    await this.#closeDirs(undefined)
    await this.#worker.terminate()
  }

  /**
   * Posts `close` (one shard, or all) and resolves once the host answers `closed` (what the dirs
   * held is committed and flushed), the worker ends, or `startTimeout` passes.
   */
  #closeDirs(shard: number | undefined): Promise<void> {
    // Gone already (it exited or was ended): nothing to ask.
    if (this.#worker.threadId === -1) return Promise.resolve()
    const key = shard ?? -1
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.#worker.off('exit', done)
        this.#closing.delete(key)
        resolve()
      }
      const timer = setTimeout(done, this.#closeTimeout)
      this.#worker.once('exit', done)
      this.#closing.set(key, done)
      this.#worker.postMessage({ t: 'close', shard } satisfies CloseMessage)
    })
  }

  destroy(): void { void this.#worker.terminate() }

  #flush = (): void => {
    this.#flushQueued = false
    const ids = this.#ids
    const parts = this.#parts
    this.#ids = []
    this.#parts = []
    try {
      this.#post(ids, parts)
    } catch (err) {
      this.#postSplit(ids, parts, err as Error)
    }
  }

  #post(ids: number[], parts: Part[]): void {
    const { body, transfer } = this.#codec.encodeBatch(parts)
    this.#worker.postMessage({ ids, body } satisfies BatchMessage, transfer)
  }

  /** A document that cannot cross threads (a function inside, say) fails alone, as BAD_REQUEST; the rest go. */
  #postSplit(ids: number[], parts: Part[], cause: Error): void {
    const keepIds: number[] = []
    const keep: Part[] = []
    parts.forEach((part, p) => {
      const id = ids[p] as number
      const local = new Array<Response | undefined>(part.reqs.length)
      const rest: Request[] = []
      part.reqs.forEach((req, i) => {
        try {
          structuredClone(req)
          rest.push(req)
        } catch (err) {
          local[i] = { ok: false, code: 'BAD_REQUEST', message: `the request cannot be sent to a worker (documents must be JSON): ${(err as Error).message}` }
        }
      })
      if (rest.length === part.reqs.length) {
        // Nothing in this part is at fault: the message failed for another reason.
        this.#events.reject(id, new ShardUnavailableError(`cannot send to the worker for shard "${this.#names[part.shard]}": ${cause.message}`, { cause }))
      } else if (rest.length === 0) {
        this.#events.message(id, local as Response[])
      } else {
        this.#local.set(id, local)
        keepIds.push(id)
        keep.push({ shard: part.shard, reqs: rest })
      }
    })
    if (keep.length > 0) this.#post(keepIds, keep)
  }

  receive(msg: HostMessage): void {
    if (msg.t === 'closed') this.#closing.get(msg.shard ?? -1)?.()
    if (msg.t === 'events') this.#emitEvents(msg.events)
    if (msg.t !== 'reply') return
    if (msg.events !== undefined) this.#emitEvents(msg.events)
    let answers: Response[][] | undefined
    let error = msg.error
    if (error === undefined) {
      try {
        answers = this.#codec.decodeReply(msg.body)
      } catch (err) {
        error = `could not decode the worker's answer: ${(err as Error).message}`
      }
    }
    msg.ids.forEach((id, p) => {
      const local = this.#local.get(id)
      if (local !== undefined) this.#local.delete(id)
      const res = answers?.[p]
      if (res === undefined) {
        this.#events.reject(id, new ShardUnavailableError(`the worker for shards ${this.#names.join(', ')} gave no usable answer: ${error ?? 'no answer for a part'}`))
        return
      }
      if (local === undefined) {
        this.#events.message(id, res)
        return
      }
      let j = 0
      for (let i = 0; i < local.length; i++) local[i] ??= res[j++]
      this.#events.message(id, local as Response[])
    })
  }

  #emitEvents(events: HostEvent[]): void {
    for (const e of events) this.#ctx.emit(e.type, { shard: this.#names[e.shard] ?? String(e.shard), index: e.index, key: e.key })
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
    const started = await Promise.allSettled(groups.map((g) => g.link.connect()))
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) {
      for (const g of groups) g.link.destroy()
      const reason = failed.reason as Error
      throw reason instanceof BadConfigError || reason instanceof ShardUnavailableError || reason instanceof DataDirError
        ? reason
        : new ShardUnavailableError(`cannot start worker shards: ${reason.message}`, { cause: reason })
    }
    return specs.map((_, i): ShardClient => {
      const group = groups[owner[i] as number] as WorkerGroup
      const shard = local[i] as number
      let closed = false
      return {
        send: (batch) => new Promise((resolve, reject) => group.submit(shard, batch, resolve, reject)),
        submit: (batch, done, fail) => group.submit(shard, batch, done, fail),
        // A restarted worker comes back with only what its data dir kept.
        opens: () => group.link.opens,
        close: () => {
          if (closed) return Promise.resolve()
          closed = true
          return group.release(shard)
        },
      }
    })
  },
}
