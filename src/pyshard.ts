/**
 * `Pyshard`: the public facade. It checks arguments, builds requests and hands
 * them to the router (src/router.ts); events leave through one choke point
 * (`deliver`, src/events.ts).
 */
import { EventEmitter } from 'node:events'
import { BadRequestError, IndexExistsError, IndexNotFoundError } from './errors.js'
import { hashKey } from './hash.js'
import { ShardMap, DEFAULT_SHARD_SIZE } from './shard-map.js'
import type { ClusterConfig, ShardSpec } from './shard-map.js'
import { BOOTSTRAP_TRANSPORT, checkMap, loadTransportOnce, transportNames } from './transport.js'
import type { TransportContext } from './transport.js'
import { checkOpenOptions, DEFAULTS, positiveInt } from './options.js'
import type { CallOptions, OpenOptions, WriteOptions, CreateIndexOptions, ScanOptions, ReshardOptions } from './options.js'
import { evenSplit } from './reshard.js'
import type { ReshardResult } from './reshard.js'
import type { TransportName } from './shard-map.js'
import { guard, throwIfAborted } from './call.js'
import { OWNED, Router, connectStates, failure } from './router.js'
import type { ShardState } from './router.js'
import type { MapStore } from './persist/map-store.js'
import { DataDirError } from './errors.js'
import type { Doc, Entry, ErrorResponse, Json, Request, ScanPage } from './protocol.js'
import { processorsHref } from './processors.js'
import type { ShardStat } from './shard.js'
import { deliver } from './events.js'
import { ManualClock } from './clock.js'
import type { PyshardEvents } from './events.js'

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
  /** Whether the shard answered. A down shard's figures are zeros (`maxSize` and `onFull` from the map). */
  status: 'up' | 'down'
  /** Why the shard is down. */
  error?: string
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



/**
 * A sharded key-value store. Open one with `Pyshard.open()` (shards in this
 * process, in workers, or from a config) or `Pyshard.connect()` (a cluster
 * behind a bootstrap server).
 */
export class Pyshard extends EventEmitter<PyshardEvents> {
  #router!: Router

  private constructor() {
    super()
  }

  /**
   * Opens a store. With no options: 4 in-process shards over [0,1).
   * Rejects BAD_CONFIG for a bad config, TypeError for bad options.
   */
  static async open<T extends TransportName = TransportName>(options: OpenOptions<T> = {}): Promise<Pyshard> {
    checkOpenOptions(options)
    const known = transportNames()
    let map: ShardMap
    if (typeof options.config === 'string') map = ShardMap.load(options.config, known)
    else if (options.config !== undefined) map = ShardMap.parse(options.config, known)
    else {
      const n = options.shards ?? DEFAULTS.shards
      map = ShardMap.parse({
        transport: options.transport ?? DEFAULTS.transport,
        shards: Array.from({ length: n }, (_, i) => ({
          name: `shard${i}`, size: options.size ?? DEFAULT_SHARD_SIZE, onFull: options.onFull ?? 'reject',
        })),
      }, known)
    }
    // Each transport checks its own fields of every shard.
    map = await checkMap(map)
    // A store that owns its shards keeps its map beside their data dirs: reopened with only
    // `dataDir` it finds it, and a reshard a crash cut short is rolled back or finished here.
    let maps: MapStore | undefined
    let pending: { old: ShardMap; next: ShardMap; cutOver: boolean } | undefined
    if (options.dataDir !== undefined && map.shards.every((s) => OWNED.has(s.transport))) {
      const { MapStore, storeMapDir } = await import('./persist/map-store.js')
      maps = await MapStore.open(storeMapDir(options.dataDir), 'store')
      try {
        const explicit = options.config !== undefined || options.shards !== undefined
        ;({ map, pending } = await recordedMap(maps, map, explicit))
      } catch (err) {
        await maps.close()
        throw err
      }
    }
    const store = new Pyshard()
    const ctx: TransportContext = {
      processors: options.processors === undefined ? undefined : processorsHref(options.processors),
      now: options.now instanceof ManualClock ? options.now.now : options.now,
      clock: options.now instanceof ManualClock ? options.now.buffer : undefined,
      requestTimeout: options.requestTimeout ?? DEFAULTS.requestTimeout,
      connectTimeout: options.connectTimeout ?? DEFAULTS.connectTimeout,
      workers: options.workers,
      token: options.token ?? map.config.token,
      options: (options.transportOptions ?? {}) as Record<string, unknown>,
      dataDir: options.dataDir,
      fsync: options.fsync,
      emit: (event, ...args) => deliver(store, event, args),
    }
    let states: ShardState[]
    // Past a recorded cut-over the shards take their new ranges whatever their dirs hold.
    ctx.adopt = pending?.cutOver
    try {
      states = await connectStates(map.shards, ctx, [])
    } catch (err) {
      await maps?.close()
      throw err
    } finally {
      ctx.adopt = undefined
    }
    store.#router = new Router(map, states, ctx, {
      maxBatch: options.maxBatch ?? DEFAULTS.maxBatch,
      maxRetries: options.maxRetries ?? DEFAULTS.maxRetries,
      mapSource: options.mapSource,
      maps,
    })
    try {
      if (pending !== undefined) await store.#router.recover(pending)
      else await maps?.setMap({ ...map.config, epoch: map.epoch })
    } catch (err) {
      await store.close().catch(() => {})
      throw err
    }
    return store
  }

  /**
   * Connects to a cluster through its bootstrap server (`'host:port'`, or `{ bootstrap, ...options }`):
   * fetches the map, then talks to the shard servers directly, and fetches the map again when a
   * shard answers MOVED. Rejects SHARD_UNAVAILABLE/TIMEOUT when the bootstrap server cannot be
   * reached, AUTH_FAILED for a wrong `token`.
   */
  static async connect<T extends TransportName = TransportName>(target: string | ({ bootstrap: string } & OpenOptions<T>)): Promise<Pyshard> {
    const options: { bootstrap: string } & OpenOptions<TransportName> = typeof target === 'string' ? { bootstrap: target } : target
    if (options === null || typeof options !== 'object' || typeof options.bootstrap !== 'string') {
      throw new TypeError('Pyshard.connect takes "host:port" or { bootstrap: "host:port", ...options }')
    }
    const { bootstrap, ...rest } = options
    if (rest.config !== undefined) throw new TypeError('options.config cannot be combined with options.bootstrap (the bootstrap server serves the map)')
    checkOpenOptions(rest)
    // The bootstrap client is loaded only here, through the registry.
    const transport = await loadTransportOnce(BOOTSTRAP_TRANSPORT)
    if (transport.mapSource === undefined) throw new TypeError(`transport "${BOOTSTRAP_TRANSPORT}" cannot fetch maps`)
    const source = transport.mapSource(bootstrap, {
      token: rest.token, connectTimeout: rest.connectTimeout, requestTimeout: rest.requestTimeout, options: (rest.transportOptions ?? {}) as Record<string, unknown>,
    })
    const config = await source()
    return Pyshard.open({ ...rest, config, mapSource: rest.mapSource ?? source })
  }

  /** The shard map in use. */
  get map(): ShardMap { return this.#router.map }

  /** Creates an index on every shard. Rejects INDEX_EXISTS when it exists, unless `ifNotExists`. */
  async createIndex(index: string, options: CreateIndexOptions = {}): Promise<void> {
    checkIndex(index)
    const responses = await guard(this.#router.all({ op: 'createIndex', index }), options, 'createIndex')
    let created = 0
    for (const r of responses) {
      if (r.ok) created++
      else if (r.code !== 'INDEX_EXISTS') throw failure(r)
    }
    // A shard that restarted empty lacks the index: creating it there repairs it.
    if (created === 0 && options.ifNotExists !== true) throw new IndexExistsError(`index "${index}" already exists`)
  }

  /** Drops an index and all its entries on every shard. Rejects INDEX_NOT_FOUND when it does not exist. */
  async dropIndex(index: string, options?: CallOptions): Promise<void> {
    checkIndex(index)
    const responses = await guard(this.#router.all({ op: 'dropIndex', index }), options, 'dropIndex')
    let dropped = 0
    for (const r of responses) {
      if (r.ok) dropped++
      else if (r.code !== 'INDEX_NOT_FOUND') throw failure(r)
    }
    if (dropped === 0) throw new IndexNotFoundError(`index "${index}" does not exist`)
  }

  /** Names of the indexes, sorted. */
  async indexes(options?: CallOptions): Promise<string[]> {
    const names = new Set<string>()
    for (const r of await guard(this.#router.all({ op: 'indexes' }), options, 'indexes')) {
      if (!r.ok) throw failure(r)
      for (const name of r.value as string[]) names.add(name)
    }
    return [...names].sort()
  }

  /** Upserts `doc` (any JSON-shaped value, interfaces included) under `key`. */
  write<T>(index: string, key: string, doc: Doc<T>, options?: WriteOptions): Promise<WriteResult> {
    try {
      checkIndex(index)
      checkKey(key)
      const hash = hashKey(index, key)
      const req: Request = { op: 'write', index, key, hash, doc: doc as Json }
      if (options !== undefined) {
        if (options.ifAbsent) req.ifAbsent = true
        if (options.ttl !== undefined) req.ttl = options.ttl
        return guard(this.#router.call(req, hash, asWriteResult), options, 'write')
      }
      return this.#router.call(req, hash, asWriteResult)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** The entry of `key`, or null. `T` names the document type (not checked at run time). */
  read<T = Json>(index: string, key: string, options?: CallOptions): Promise<Entry<T> | null> {
    return this.#keyed('read', index, key, asEntry as (value: unknown, hash: number) => Entry<T> | null, options)
  }

  /** Whether `key` holds a live entry. */
  has(index: string, key: string, options?: CallOptions): Promise<boolean> {
    return this.#keyed('has', index, key, asBoolean, options)
  }

  /** Reads and removes `key` in one step; null when absent. `T` names the document type. */
  pop<T = Json>(index: string, key: string, options?: CallOptions): Promise<Entry<T> | null> {
    return this.#keyed('pop', index, key, asEntry as (value: unknown, hash: number) => Entry<T> | null, options)
  }

  /** Removes `key`; true when it was there. */
  remove(index: string, key: string, options?: CallOptions): Promise<boolean> {
    return this.#keyed('remove', index, key, asBoolean, options)
  }

  /** Reads many keys: one batch per shard, shards in parallel; answers in the keys' order. */
  async readMany<T = Json>(index: string, keys: readonly string[], options?: CallOptions): Promise<(Entry<T> | null)[]> {
    checkIndex(index)
    if (!Array.isArray(keys)) throw new BadRequestError('keys must be an array of strings')
    const reqs = keys.map((key): Request => {
      checkKey(key)
      return { op: 'read', index, key, hash: hashKey(index, key) }
    })
    const responses = await guard(this.#router.many(reqs), options, 'readMany')
    return responses.map((r, i) => {
      if (!r.ok) throw failure(r)
      return r.value === undefined ? null : { hash: (reqs[i] as { hash: number }).hash, record: r.value as T }
    })
  }

  /**
   * Writes many `[key, doc]` pairs: one batch per shard, shards in parallel.
   * Not atomic: if any write fails the promise rejects with the first failure,
   * and the others may have been applied.
   */
  async writeMany<T>(index: string, pairs: Iterable<readonly [string, Doc<T>]>, options?: WriteOptions): Promise<WriteResult[]> {
    checkIndex(index)
    const reqs: Request[] = []
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new BadRequestError('writeMany takes [key, doc] pairs')
      const key = pair[0] as string
      checkKey(key)
      const req: Request = { op: 'write', index, key, hash: hashKey(index, key), doc: pair[1] as Json }
      if (options?.ifAbsent) req.ifAbsent = true
      if (options?.ttl !== undefined) req.ttl = options.ttl
      reqs.push(req)
    }
    const responses = await guard(this.#router.many(reqs), options, 'writeMany')
    const failed = responses.filter((r): r is ErrorResponse => !r.ok)
    if (failed.length > 0) {
      const first = failure(failed[0] as ErrorResponse)
      first.message = `${failed.length} of ${reqs.length} writes failed; first: ${first.message}`
      throw first
    }
    return responses.map((r, i) => ({ hash: (reqs[i] as { hash: number }).hash, size: (r as { value: number }).value }))
  }

  /**
   * Every live entry of an index as `[key, { hash, record }]`, shard by shard, a page at a time.
   * `signal` and `timeout` bound each page's fetch (the signal is also checked between pages).
   */
  async *entries<T = Json>(index: string, options: ScanOptions = {}): AsyncGenerator<[string, Entry<T>]> {
    checkIndex(index)
    for await (const page of this.#pages(index, true, options)) {
      const records = page.records as T[]
      for (let i = 0; i < page.keys.length; i++) {
        const key = page.keys[i] as string
        yield [key, { hash: hashKey(index, key), record: records[i] as T }]
      }
    }
  }

  /** Every live key of an index, shard by shard, a page at a time. `signal` and `timeout` as for `entries`. */
  async *keys(index: string, options: ScanOptions = {}): AsyncGenerator<string> {
    checkIndex(index)
    for await (const page of this.#pages(index, false, options)) yield* page.keys
  }

  /** The router's pages, with the caller's signal and timeout applied to each fetch. */
  async *#pages(index: string, values: boolean, options: ScanOptions): AsyncGenerator<ScanPage> {
    const pages = this.#router.scan(index, values, positiveInt('pageSize', options.pageSize, DEFAULTS.pageSize))
    if (options.signal === undefined && options.timeout === undefined) {
      yield* pages
      return
    }
    try {
      for (;;) {
        throwIfAborted(options)
        const next = await guard(pages.next(), options, values ? 'entries' : 'keys')
        if (next.done === true) return
        yield next.value
      }
    } finally {
      await pages.return(undefined)
    }
  }

  /** Runs processor `name` on every shard's entries of `index`, in parallel; one result per shard, in shard order. */
  async run<R = unknown, A = Json>(index: string, name: string, args?: Doc<A>, options?: CallOptions): Promise<R[]> {
    checkIndex(index)
    if (typeof name !== 'string' || name === '') throw new BadRequestError('processor name must be a non-empty string')
    // No `args` key when there are none: a wire carries JSON, and undefined is not.
    const req: Request = args === undefined ? { op: 'run', index, name } : { op: 'run', index, name, args: args as Json }
    const responses = await guard(this.#router.all(req), options, 'run')
    return responses.map((r) => {
      if (!r.ok) throw failure(r)
      return r.value as R
    })
  }

  /** Figures of every shard, in shard order. */
  async stat(options?: CallOptions): Promise<ShardStats[]> {
    const specs = this.#router.specs
    // One shard down is not the store down: it is reported as such, the others answer.
    const settled = await guard(this.#router.allSettled({ op: 'stat' }), options, 'stat')
    return settled.map((s, i) => {
      const spec = specs[i] as ShardSpec
      const where = { name: spec.name, start: spec.start, end: spec.end, transport: spec.transport }
      if (s.status === 'fulfilled' && s.value.ok) return { ...(s.value.value as ShardStat), ...where, status: 'up' }
      const error = s.status === 'fulfilled' ? failure(s.value as ErrorResponse).message : (s.reason as Error)?.message ?? String(s.reason)
      return {
        ...where, count: 0, bytes: 0, maxSize: spec.size, onFull: spec.onFull, indexes: 0, distribution: [], status: 'down', error,
      }
    })
  }

  /**
   * Moves a store that owns its shards (memory, worker) to a new map while it serves: `{ shards: n }`
   * splits [0,1) evenly over n shards (the first keep their names, new ones are named `shard<i>`),
   * or a config (object or path) gives the map. Shards are matched by name. Every entry whose range
   * changes owner is copied, then writes to the moving ranges pause briefly (they are retried inside
   * the store), the new map takes over at a higher epoch and the copies' sources delete them. Nothing
   * acknowledged is lost; a failure before the cut-over leaves the old map in force. With a `dataDir`
   * the move and the new map are recorded: `Pyshard.open({ dataDir })` reopens on the map in force,
   * and a move a crash cut short is rolled back or finished there. One reshard at a time; a store
   * from `Pyshard.connect` is resharded by its bootstrap server instead.
   */
  async reshard(target: { shards: number } | ClusterConfig | string, options: ReshardOptions = {}): Promise<ReshardResult> {
    const known = transportNames()
    let next: ShardMap
    if (typeof target === 'string') next = ShardMap.load(target, known)
    else if (target !== null && typeof target === 'object' && !Array.isArray((target as ClusterConfig).shards)) {
      const n = positiveInt('shards', (target as { shards: number }).shards)
      if (n === undefined) throw new TypeError('reshard takes { shards: n }, a config object or the path of a config file')
      const current = this.#router.map
      next = ShardMap.parse({ ...current.config, shards: evenSplit(current.shards, n) }, known)
    } else next = ShardMap.parse(target, known)
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError('options.onProgress must be a function')
    return this.#router.reshard(await checkMap(next), options.onProgress)
  }

  /** Finishes what is in flight, then closes every shard client (workers end, sockets close). Idempotent. */
  close(): Promise<void> {
    return this.#router.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  #keyed<T>(op: 'read' | 'has' | 'pop' | 'remove', index: string, key: string, finish: (value: unknown, hash: number) => T, options: CallOptions | undefined): Promise<T> {
    try {
      checkIndex(index)
      checkKey(key)
      const hash = hashKey(index, key)
      const p = this.#router.call({ op, index, key, hash }, hash, finish)
      return options === undefined ? p : guard(p, options, op)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

/** The same shards (names, ranges, transports) in the same order. */
function sameLayout(a: ShardMap, b: ShardMap): boolean {
  return a.shards.length === b.shards.length &&
    a.shards.every((s, i) => {
      const t = b.shards[i] as ShardSpec
      return s.name === t.name && s.start === t.start && s.end === t.end && s.transport === t.transport
    })
}

/**
 * The map a store with a recorded map opens with: the recorded one when none was given (or the
 * given one has its layout: the recorded epoch stands), the one a recorded reshard ends on (the
 * new map past its cut-over, else the old one; a map given must be one of the two), or else the
 * given one (its shards' dirs decide whether they fit).
 */
async function recordedMap(maps: MapStore, given: ShardMap, explicit: boolean): Promise<{ map: ShardMap; pending?: { old: ShardMap; next: ShardMap; cutOver: boolean } }> {
  const parse = async (c: ClusterConfig): Promise<ShardMap> => checkMap(ShardMap.parse(c, transportNames()))
  const rec = maps.reshard
  if (rec !== undefined) {
    const old = await parse(rec.old)
    const next = await parse(rec.next)
    if (explicit && !sameLayout(given, old) && !sameLayout(given, next)) {
      throw new DataDirError(`store data dir ${maps.path} holds a reshard from epoch ${old.epoch} (${old.shards.length} shards) to epoch ${next.epoch} ` +
        `(${next.shards.length} shards) that a crash cut short: open the store with either map, or with no config, to finish or roll it back`)
    }
    return { map: rec.cutOver ? next : old, pending: { old, next, cutOver: rec.cutOver } }
  }
  const recorded = maps.map
  if (recorded === undefined) return { map: given }
  const map = await parse(recorded)
  if (!explicit) return { map }
  // The given settings (sizes, policies) stand; the epoch goes on from the recorded one.
  if (sameLayout(given, map)) return { map: await parse({ ...given.config, epoch: map.epoch }) }
  return { map: given }
}
