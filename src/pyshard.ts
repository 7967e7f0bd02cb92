/**
 * The router: hash a key, find its shard in the map, send. Requests for one
 * shard issued in the same tick travel as one batch (auto-pipelining);
 * multi-key and index-wide operations split per shard and run in parallel.
 */
import { EventEmitter } from 'node:events'
import diagnostics from 'node:diagnostics_channel'
import { BadRequestError, IndexExistsError, IndexNotFoundError, PyshardError, ShardUnavailableError, errorFromCode } from './errors.js'
import { hashKey } from './hash.js'
import { ShardMap, DEFAULT_SHARD_SIZE } from './shard-map.js'
import type { ClusterConfig, ShardSpec } from './shard-map.js'
import { loadTransport, transportNames } from './transport.js'
import type { ShardClient, TransportContext } from './transport.js'
import { processorsHref } from './processors.js'
import { positiveInt } from './options.js'
import type { Entry, ErrorResponse, Json, Request, Response, ScanPage } from './protocol.js'
import type { OnFull, ShardStat } from './shard.js'
import type { PyshardEvents } from './events.js'
import type { BootstrapClientOptions } from './bootstrap.js'

/** Options of `Pyshard.open`. */
export interface OpenOptions {
  /** A bootstrap config: a path to its JSON file, or the parsed object. Without it the store makes `shards` shards of `transport`. */
  config?: string | ClusterConfig
  /** Number of shards when no `config` is given, splitting [0,1) evenly. @default 4 */
  shards?: number
  /** Transport of those shards (`memory`, `worker`, ...). @default 'memory' */
  transport?: string
  /** Byte limit of each of those shards. @default 67108864 (64 MiB) */
  size?: number
  /** What those shards do when full. @default 'reject' */
  onFull?: OnFull
  /** Processors module (path or URL) whose exported functions `run` can call where each shard lives. */
  processors?: string | URL
  /** Worker threads to spread worker shards over. @default one per shard, at most the number of cores */
  workers?: number
  /** Clock in ms for TTL (in-process shards); inject a fake one in tests. @default Date.now */
  now?: () => number
  /** How long a request to a remote shard may take before it rejects with TIMEOUT (ms). @default 5000 */
  requestTimeout?: number
  /** How long connecting to a remote shard may take (ms). @default 3000 */
  connectTimeout?: number
  /** Token presented to shard servers. @default the config's `token` */
  token?: string
  /** Most requests sent to one shard in one batch; a tick that issues more sends several. @default 1024 */
  maxBatch?: number
  /** How many times an operation follows MOVED (fetching a newer map) before it gives up. @default 3 */
  maxRetries?: number
  /** Where a newer map comes from when a shard answers MOVED (what `Pyshard.connect` sets). */
  mapSource?: () => Promise<ClusterConfig>
  /** Further settings for transports. */
  transportOptions?: Record<string, unknown>
}

/** Options of `write`. */
export interface WriteOptions {
  /** Write only if the key is absent; when it is present nothing changes and `size` is 0. @default false */
  ifAbsent?: boolean
  /** Time to live in ms (a positive integer); the entry reads as absent afterwards. @default no expiry */
  ttl?: number
}

/** Options of `createIndex`. */
export interface CreateIndexOptions {
  /** Succeed (doing nothing) when the index exists instead of rejecting INDEX_EXISTS. @default false */
  ifNotExists?: boolean
}

/** Options of `entries` and `keys`. */
export interface ScanOptions {
  /** Entries fetched per page from a shard; memory use is bounded by about two pages. @default 512 */
  pageSize?: number
}

/** What `write` answers. */
export interface WriteResult {
  /** The key's position in [0,1). */
  hash: number
  /** Bytes accounted for the entry; 0 when `ifAbsent` found the key. */
  size: number
}

/** Per-shard figures from `stat`. */
export interface ShardStats extends ShardStat {
  /** The transport that reaches the shard. */
  transport: string
}

interface Waiter {
  n: number
  done(responses: Response[], offset: number): void
  fail(err: Error): void
}

interface ShardState {
  spec: ShardSpec
  client: ShardClient
  queue: Request[]
  waiters: Waiter[]
  scheduled: boolean
}

const DEFAULTS = {
  shards: 4,
  transport: 'memory',
  requestTimeout: 5000,
  connectTimeout: 3000,
  maxBatch: 1024,
  maxRetries: 3,
  pageSize: 512,
}

function checkIndex(index: unknown): asserts index is string {
  if (typeof index !== 'string' || index === '') throw new BadRequestError('index must be a non-empty string')
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new BadRequestError(`key must be a string, got ${typeof key}`)
}

function asEntry(value: unknown, hash: number): Entry | null {
  return value === undefined ? null : { hash, record: value as Json }
}

function asWriteResult(size: unknown, hash: number): WriteResult {
  return { hash, size: size as number }
}

function asBoolean(value: unknown): boolean {
  return value as boolean
}

function failure(r: ErrorResponse): PyshardError {
  return errorFromCode(r.code, r.message, r.epoch)
}


/** Diagnostics: one message per batch sent to a shard (`{ shard, size }`), one per MOVED retry round (`{ epoch, requests }`). */
const batchChannel = diagnostics.channel('pyshard:router:batch')
const movedChannel = diagnostics.channel('pyshard:router:moved')

function flushState(state: ShardState): void {
  const batch = state.queue
  const waiters = state.waiters
  state.queue = []
  state.waiters = []
  state.scheduled = false
  if (batch.length === 0) return
  if (batchChannel.hasSubscribers) batchChannel.publish({ shard: state.spec.name, size: batch.length })
  const settle = (responses: Response[]): void => {
    if (!Array.isArray(responses) || responses.length !== batch.length) {
      const err = new ShardUnavailableError(`shard "${state.spec.name}" answered ${responses?.length} responses to ${batch.length} requests`)
      for (const w of waiters) w.fail(err)
      return
    }
    let offset = 0
    for (const w of waiters) {
      w.done(responses, offset)
      offset += w.n
    }
  }
  const fail = (err: unknown): void => {
    const e = err instanceof PyshardError ? err : new ShardUnavailableError(`shard "${state.spec.name}": ${(err as Error)?.message ?? err}`, { cause: err })
    for (const w of waiters) w.fail(e)
  }
  try {
    const client = state.client
    if (client.submit !== undefined) client.submit(batch, settle, fail)
    else client.send(batch).then(settle, fail)
  } catch (err) {
    fail(err)
  }
}

/**
 * A sharded key-value store. Open one with `Pyshard.open()` (shards in this
 * process, in workers, or from a config) or `Pyshard.connect()` (a cluster
 * behind a bootstrap server).
 */
export class Pyshard extends EventEmitter<PyshardEvents> {
  #map: ShardMap
  #states: ShardState[]
  #ctx: TransportContext
  #maxBatch: number
  #maxRetries: number
  #mapSource: (() => Promise<ClusterConfig>) | undefined
  #refreshing: Promise<void> | null = null
  #closed: Promise<void> | null = null

  private constructor(map: ShardMap, states: ShardState[], ctx: TransportContext, options: OpenOptions) {
    super()
    this.#map = map
    this.#states = states
    this.#ctx = ctx
    this.#maxBatch = options.maxBatch ?? DEFAULTS.maxBatch
    this.#maxRetries = options.maxRetries ?? DEFAULTS.maxRetries
    this.#mapSource = options.mapSource
  }

  /**
   * Opens a store. With no options: 4 in-process shards over [0,1).
   * Rejects BAD_CONFIG for a bad config, TypeError for bad options.
   */
  static async open(options: OpenOptions = {}): Promise<Pyshard> {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
    const shards = positiveInt('shards', options.shards)
    positiveInt('size', options.size)
    positiveInt('workers', options.workers)
    positiveInt('requestTimeout', options.requestTimeout)
    positiveInt('connectTimeout', options.connectTimeout)
    positiveInt('maxBatch', options.maxBatch)
    if (options.maxRetries !== undefined && !(Number.isSafeInteger(options.maxRetries) && options.maxRetries >= 0)) {
      throw new TypeError('options.maxRetries must be a non-negative integer')
    }
    if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('options.now must be a function')
    if (options.mapSource !== undefined && typeof options.mapSource !== 'function') throw new TypeError('options.mapSource must be a function')
    if (options.onFull !== undefined && options.onFull !== 'reject' && options.onFull !== 'evict') {
      throw new TypeError('options.onFull must be "reject" or "evict"')
    }
    if (options.config !== undefined && (shards !== undefined || options.transport !== undefined || options.size !== undefined || options.onFull !== undefined)) {
      throw new TypeError('options.config cannot be combined with options.shards, transport, size or onFull (the config sets them per shard)')
    }
    if (options.transport !== undefined && (typeof options.transport !== 'string' || options.transport === '')) throw new TypeError('options.transport must be a transport name')
    if (options.token !== undefined && typeof options.token !== 'string') throw new TypeError('options.token must be a string')
    if (options.transportOptions !== undefined && (options.transportOptions === null || typeof options.transportOptions !== 'object')) {
      throw new TypeError('options.transportOptions must be an object')
    }
    const known = transportNames()
    let map: ShardMap
    if (typeof options.config === 'string') map = ShardMap.load(options.config, known)
    else if (options.config !== undefined) map = ShardMap.parse(options.config, known)
    else {
      const n = shards ?? DEFAULTS.shards
      const transport = options.transport ?? DEFAULTS.transport
      map = ShardMap.parse({
        transport,
        shards: Array.from({ length: n }, (_, i) => ({
          name: `shard${i}`, size: options.size ?? DEFAULT_SHARD_SIZE, onFull: options.onFull ?? 'reject',
        })),
      }, known)
    }
    let store: Pyshard | undefined
    const ctx: TransportContext = {
      processors: options.processors === undefined ? undefined : processorsHref(options.processors),
      now: options.now,
      requestTimeout: options.requestTimeout ?? DEFAULTS.requestTimeout,
      connectTimeout: options.connectTimeout ?? DEFAULTS.connectTimeout,
      workers: options.workers,
      token: options.token ?? map.config.token,
      options: options.transportOptions ?? {},
      // Events leave the data path: delivered in a microtask, so a listener never
      // runs inside a shard operation, and a listener that throws is reported
      // as 'error' (or a process warning) instead of failing the operation.
      emit: (event, ...args) => {
        queueMicrotask(() => {
          if (store === undefined) return
          if (event === 'error' && store.listenerCount('error') === 0) return
          try {
            ;(store.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args)
          } catch (err) {
            if (event !== 'error' && store.listenerCount('error') > 0) store.emit('error', err as Error)
            else process.emitWarning(err as Error)
          }
        })
      },
    }
    const states = await connectStates(map.shards, ctx, [])
    store = new Pyshard(map, states, ctx, options)
    return store
  }

  /**
   * Connects to a cluster through its bootstrap server (`'host:port'`, or `{ bootstrap, ...options }`):
   * fetches the map, then talks to the shard servers directly, and fetches the map again when a
   * shard answers MOVED. Rejects SHARD_UNAVAILABLE/TIMEOUT when the bootstrap server cannot be
   * reached, AUTH_FAILED for a wrong `token`.
   */
  static async connect(target: string | ({ bootstrap: string } & OpenOptions)): Promise<Pyshard> {
    const options: { bootstrap: string } & OpenOptions = typeof target === 'string' ? { bootstrap: target } : target
    if (options === null || typeof options !== 'object' || typeof options.bootstrap !== 'string') {
      throw new TypeError('Pyshard.connect takes "host:port" or { bootstrap: "host:port", ...options }')
    }
    const { bootstrap, ...rest } = options
    if (rest.config !== undefined) throw new TypeError('options.config cannot be combined with options.bootstrap (the bootstrap server serves the map)')
    // The router needs the bootstrap client only here.
    const { fetchMap, parseAddress } = await import('./bootstrap.js')
    parseAddress(bootstrap)
    const tls = rest.transportOptions?.tls as BootstrapClientOptions['tls']
    const source = (): Promise<ClusterConfig> => fetchMap(bootstrap, {
      token: rest.token, connectTimeout: rest.connectTimeout, requestTimeout: rest.requestTimeout, tls,
    })
    const config = await source()
    return Pyshard.open({ ...rest, config, mapSource: rest.mapSource ?? source })
  }

  /** The shard map in use. */
  get map(): ShardMap { return this.#map }

  /** Creates an index on every shard. Rejects INDEX_EXISTS when it exists, unless `ifNotExists`. */
  async createIndex(index: string, options: CreateIndexOptions = {}): Promise<void> {
    checkIndex(index)
    const responses = await this.#all({ op: 'createIndex', index })
    let created = 0
    for (const r of responses) {
      if (r.ok) created++
      else if (r.code !== 'INDEX_EXISTS') throw failure(r)
    }
    // A shard that restarted empty lacks the index: creating it there repairs it.
    if (created === 0 && options.ifNotExists !== true) throw new IndexExistsError(`index "${index}" already exists`)
  }

  /** Drops an index and all its entries on every shard. Rejects INDEX_NOT_FOUND when it does not exist. */
  async dropIndex(index: string): Promise<void> {
    checkIndex(index)
    const responses = await this.#all({ op: 'dropIndex', index })
    let dropped = 0
    for (const r of responses) {
      if (r.ok) dropped++
      else if (r.code !== 'INDEX_NOT_FOUND') throw failure(r)
    }
    if (dropped === 0) throw new IndexNotFoundError(`index "${index}" does not exist`)
  }

  /** Names of the indexes, sorted. */
  async indexes(): Promise<string[]> {
    const names = new Set<string>()
    for (const r of await this.#all({ op: 'indexes' })) {
      if (!r.ok) throw failure(r)
      for (const name of r.value as string[]) names.add(name)
    }
    return [...names].sort()
  }

  /** Upserts `doc` (any JSON value) under `key`. */
  write(index: string, key: string, doc: Json, options?: WriteOptions): Promise<WriteResult> {
    try {
      checkIndex(index)
      checkKey(key)
      const hash = hashKey(index, key)
      const req: Request = { op: 'write', index, key, hash, doc }
      if (options !== undefined) {
        if (options.ifAbsent) req.ifAbsent = true
        if (options.ttl !== undefined) req.ttl = options.ttl
      }
      return this.#call(req, hash, asWriteResult)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** The entry of `key`, or null. */
  read(index: string, key: string): Promise<Entry | null> {
    return this.#keyed('read', index, key, asEntry)
  }

  /** Whether `key` holds a live entry. */
  has(index: string, key: string): Promise<boolean> {
    return this.#keyed('has', index, key, asBoolean)
  }

  /** Reads and removes `key` in one step; null when absent. */
  pop(index: string, key: string): Promise<Entry | null> {
    return this.#keyed('pop', index, key, asEntry)
  }

  /** Removes `key`; true when it was there. */
  remove(index: string, key: string): Promise<boolean> {
    return this.#keyed('remove', index, key, asBoolean)
  }

  /** Reads many keys: one batch per shard, shards in parallel; answers in the keys' order. */
  async readMany(index: string, keys: readonly string[]): Promise<(Entry | null)[]> {
    checkIndex(index)
    if (!Array.isArray(keys)) throw new BadRequestError('keys must be an array of strings')
    const reqs = keys.map((key): Request => {
      checkKey(key)
      return { op: 'read', index, key, hash: hashKey(index, key) }
    })
    const responses = await this.#many(reqs)
    return responses.map((r, i) => {
      if (!r.ok) throw failure(r)
      return r.value === undefined ? null : { hash: (reqs[i] as { hash: number }).hash, record: r.value as Json }
    })
  }

  /**
   * Writes many `[key, doc]` pairs: one batch per shard, shards in parallel.
   * Not atomic: if any write fails the promise rejects with the first failure,
   * and the others may have been applied.
   */
  async writeMany(index: string, pairs: Iterable<readonly [string, Json]>, options?: WriteOptions): Promise<WriteResult[]> {
    checkIndex(index)
    const reqs: Request[] = []
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new BadRequestError('writeMany takes [key, doc] pairs')
      const key = pair[0] as string
      checkKey(key)
      const req: Request = { op: 'write', index, key, hash: hashKey(index, key), doc: pair[1] }
      if (options?.ifAbsent) req.ifAbsent = true
      if (options?.ttl !== undefined) req.ttl = options.ttl
      reqs.push(req)
    }
    const responses = await this.#many(reqs)
    const failed = responses.filter((r): r is ErrorResponse => !r.ok)
    if (failed.length > 0) {
      const first = failure(failed[0] as ErrorResponse)
      first.message = `${failed.length} of ${reqs.length} writes failed; first: ${first.message}`
      throw first
    }
    return responses.map((r, i) => ({ hash: (reqs[i] as { hash: number }).hash, size: (r as { value: number }).value }))
  }

  /** Every live entry of an index as `[key, { hash, record }]`, shard by shard, a page at a time. */
  async *entries(index: string, options: ScanOptions = {}): AsyncGenerator<[string, Entry]> {
    checkIndex(index)
    for await (const page of this.#scan(index, true, options)) {
      const records = page.records as Json[]
      for (let i = 0; i < page.keys.length; i++) {
        const key = page.keys[i] as string
        yield [key, { hash: hashKey(index, key), record: records[i] as Json }]
      }
    }
  }

  /** Every live key of an index, shard by shard, a page at a time. */
  async *keys(index: string, options: ScanOptions = {}): AsyncGenerator<string> {
    checkIndex(index)
    for await (const page of this.#scan(index, false, options)) yield* page.keys
  }

  /** Runs processor `name` on every shard's entries of `index`, in parallel; one result per shard, in shard order. */
  async run(index: string, name: string, args?: Json): Promise<unknown[]> {
    checkIndex(index)
    if (typeof name !== 'string' || name === '') throw new BadRequestError('processor name must be a non-empty string')
    const responses = await this.#all({ op: 'run', index, name, args })
    return responses.map((r) => {
      if (!r.ok) throw failure(r)
      return r.value
    })
  }

  /** Figures of every shard, in shard order. */
  async stat(): Promise<ShardStats[]> {
    const responses = await this.#all({ op: 'stat' })
    return responses.map((r, i) => {
      if (!r.ok) throw failure(r)
      const spec = (this.#states[i] as ShardState).spec
      return { ...(r.value as ShardStat), name: spec.name, start: spec.start, end: spec.end, transport: spec.transport }
    })
  }

  /** Finishes what is in flight, then closes every shard client (workers end, sockets close). Idempotent. */
  close(): Promise<void> {
    if (this.#closed === null) {
      const states = this.#states
      for (const s of states) flushState(s)
      this.#closed = Promise.allSettled(states.map((s) => s.client.close())).then(() => undefined)
    }
    return this.#closed
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // ---- routing ----

  #checkOpen(): void {
    if (this.#closed !== null) throw new ShardUnavailableError('the store is closed')
  }

  /** Queues requests for the shard's next batch, splitting them so no batch exceeds `maxBatch`. */
  #enqueue(state: ShardState, reqs: Request[]): Promise<Response[]> {
    const room = this.#maxBatch - state.queue.length
    if (reqs.length <= room) return this.#enqueueChunk(state, reqs)
    const parts = [this.#enqueueChunk(state, reqs.slice(0, room))]
    for (let i = room; i < reqs.length; i += this.#maxBatch) parts.push(this.#enqueueChunk(state, reqs.slice(i, i + this.#maxBatch)))
    return Promise.all(parts).then((chunks) => chunks.flat())
  }

  #enqueueChunk(state: ShardState, reqs: Request[]): Promise<Response[]> {
    return new Promise((resolve, reject) => {
      const n = reqs.length
      for (let i = 0; i < n; i++) state.queue.push(reqs[i] as Request)
      state.waiters.push({ n, done: (r, off) => resolve(off === 0 && r.length === n ? r : r.slice(off, off + n)), fail: reject })
      this.#schedule(state)
    })
  }

  #enqueueOne(state: ShardState, req: Request): Promise<Response> {
    return new Promise((resolve, reject) => {
      state.queue.push(req)
      state.waiters.push({ n: 1, done: (r, off) => resolve(r[off] as Response), fail: reject })
      this.#schedule(state)
    })
  }

  #schedule(state: ShardState): void {
    if (state.queue.length >= this.#maxBatch) flushState(state)
    else if (!state.scheduled) {
      state.scheduled = true
      process.nextTick(flushState, state)
    }
  }

  #keyed<T>(op: 'read' | 'has' | 'pop' | 'remove', index: string, key: string, finish: (value: unknown, hash: number) => T): Promise<T> {
    try {
      checkIndex(index)
      checkKey(key)
      const hash = hashKey(index, key)
      return this.#call({ op, index, key, hash }, hash, finish)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Sends one keyed request and maps its value. In-process shards answer
   * synchronously: one resolved promise, no batching, no extra tick.
   */
  #call<T>(req: Request, hash: number, finish: (value: unknown, hash: number) => T): Promise<T> {
    this.#checkOpen()
    const state = this.#states[this.#map.lookup(hash)] as ShardState
    const client = state.client
    if (client.execute !== undefined) {
      const r = client.execute(req)
      return r.ok ? Promise.resolve(finish(r.value, hash)) : this.#retry(req, r).then((v) => finish(v, hash))
    }
    // One promise per request: the waiter settles it with the finished value.
    return new Promise<T>((resolve, reject) => {
      state.queue.push(req)
      state.waiters.push({
        n: 1,
        done: (responses, offset) => {
          const r = responses[offset] as Response
          if (r.ok) resolve(finish(r.value, hash))
          else this.#retry(req, r).then((v) => resolve(finish(v, hash)), reject)
        },
        fail: reject,
      })
      this.#schedule(state)
    })
  }

  /** Follows MOVED (with a newer map) for one request, or throws its error. */
  async #retry(req: Request, r: ErrorResponse): Promise<unknown> {
    const [out] = await this.#resolveMoved([req], [r], 0)
    const last = out as Response
    if (!last.ok) throw failure(last)
    return last.value
  }

  /** Sends keyed requests grouped per shard, shards in parallel; responses in request order. */
  async #many(reqs: Request[], attempt = 0): Promise<Response[]> {
    this.#checkOpen()
    const out = new Array<Response>(reqs.length)
    const groups = new Map<ShardState, number[]>()
    for (let i = 0; i < reqs.length; i++) {
      const state = this.#states[this.#map.lookup((reqs[i] as { hash: number }).hash)] as ShardState
      if (state.client.execute !== undefined) {
        out[i] = state.client.execute(reqs[i] as Request)
        continue
      }
      let group = groups.get(state)
      if (group === undefined) groups.set(state, (group = []))
      group.push(i)
    }
    await Promise.all(
      [...groups].map(async ([state, idx]) => {
        const responses = await this.#enqueue(state, idx.map((i) => reqs[i] as Request))
        for (let j = 0; j < idx.length; j++) out[idx[j] as number] = responses[j] as Response
      }),
    )
    return this.#resolveMoved(reqs, out, attempt)
  }

  /** Resends the requests that got MOVED after fetching a newer map, up to `maxRetries` times. */
  async #resolveMoved(reqs: Request[], out: Response[], attempt: number): Promise<Response[]> {
    const moved: number[] = []
    for (let i = 0; i < out.length; i++) {
      const r = out[i] as Response
      if (!r.ok && r.code === 'MOVED') moved.push(i)
    }
    if (moved.length === 0 || attempt >= this.#maxRetries || this.#mapSource === undefined) return out
    if (movedChannel.hasSubscribers) movedChannel.publish({ epoch: this.#map.epoch, requests: moved.length })
    await this.#refresh()
    const again = await this.#many(moved.map((i) => reqs[i] as Request), attempt + 1)
    moved.forEach((i, j) => (out[i] = again[j] as Response))
    return out
  }

  /** Fetches the map again (one fetch at a time) and reconnects the shards that changed. */
  #refresh(): Promise<void> {
    if (this.#refreshing === null) {
      this.#refreshing = (async () => {
        try {
          const source = this.#mapSource as () => Promise<ClusterConfig>
          const next = ShardMap.parse(await source(), transportNames())
          if (next.epoch <= this.#map.epoch) return
          const previous = this.#map.epoch
          const old = this.#states
          const states = await connectStates(next.shards, this.#ctx, old)
          if (this.#closed !== null) {
            // Closed while connecting: the new clients are nobody's; close them, keep nothing.
            await Promise.allSettled(states.filter((st) => !old.includes(st)).map((st) => st.client.close()))
            return
          }
          this.#map = next
          this.#states = states
          for (const s of old) {
            if (!states.includes(s)) {
              flushState(s)
              s.client.close().catch(() => {})
            }
          }
          this.emit('mapChanged', { epoch: next.epoch, previous })
        } finally {
          this.#refreshing = null
        }
      })()
    }
    return this.#refreshing
  }

  /** Sends one request to every shard, in parallel; responses in shard order. */
  async #all(req: Request): Promise<Response[]> {
    this.#checkOpen()
    return Promise.all(this.#states.map((s) => this.#direct(s, req)))
  }

  #direct(state: ShardState, req: Request): Promise<Response> {
    const client = state.client
    if (client.execute !== undefined) {
      try {
        return Promise.resolve(client.execute(req))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return this.#enqueueOne(state, req)
  }

  async #page(state: ShardState, req: Request): Promise<ScanPage> {
    const r = await this.#direct(state, req)
    if (!r.ok) throw failure(r)
    return r.value as ScanPage
  }

  /** Pages of an index, shard by shard, fetching the next page while the caller reads the current one. */
  async *#scan(index: string, values: boolean, options: ScanOptions): AsyncGenerator<ScanPage> {
    this.#checkOpen()
    const count = positiveInt('pageSize', options.pageSize, DEFAULTS.pageSize)
    for (const state of this.#states) {
      let cursor = 0
      let next: Promise<ScanPage> | null = this.#page(state, { op: 'scan', index, cursor: 0, count, values })
      try {
        while (next !== null) {
          const page: ScanPage = await next
          cursor = page.cursor
          next = cursor === 0 ? null : this.#page(state, { op: 'scan', index, cursor, count, values })
          // Keep the prefetch from surfacing as an unhandled rejection if the caller stops here.
          next?.catch(() => {})
          yield page
        }
      } finally {
        if (next !== null) {
          next.then((p) => {
            if (p.cursor !== 0) this.#direct(state, { op: 'scanClose', cursor: p.cursor }).catch(() => {})
          }, () => {})
        } else if (cursor !== 0) {
          this.#direct(state, { op: 'scanClose', cursor }).catch(() => {})
        }
      }
    }
  }
}

/** Opens a client per shard, reusing the client of any shard in `reuse` with the same endpoint. */
async function connectStates(specs: readonly ShardSpec[], ctx: TransportContext, reuse: ShardState[]): Promise<ShardState[]> {
  const states = new Array<ShardState>(specs.length)
  const byTransport = new Map<string, number[]>()
  specs.forEach((spec, i) => {
    const same = reuse.find((s) => sameEndpoint(s.spec, spec))
    if (same !== undefined) {
      same.spec = spec
      states[i] = same
      return
    }
    let list = byTransport.get(spec.transport)
    if (list === undefined) byTransport.set(spec.transport, (list = []))
    list.push(i)
  })
  const opened: ShardClient[] = []
  try {
    for (const [name, idx] of byTransport) {
      const transport = await loadTransport(name)
      const clients = await transport.connect(idx.map((i) => specs[i] as ShardSpec), ctx)
      opened.push(...clients)
      idx.forEach((i, j) => {
        states[i] = { spec: specs[i] as ShardSpec, client: clients[j] as ShardClient, queue: [], waiters: [], scheduled: false }
      })
    }
  } catch (err) {
    await Promise.allSettled(opened.map((c) => c.close()))
    throw err
  }
  return states
}

function sameEndpoint(a: ShardSpec, b: ShardSpec): boolean {
  return a.name === b.name && a.transport === b.transport && a.transport !== 'memory' && a.transport !== 'worker' &&
    a.host === b.host && a.port === b.port && a.url === b.url && JSON.stringify(a.cluster) === JSON.stringify(b.cluster)
}
