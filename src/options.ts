/**
 * Options: the store's option types and defaults, and the checks shared by the
 * store, the servers and the transports (one message shape everywhere:
 * `options.<name> must be ...`). Options are checked once, here.
 */
import type { ReshardProgress } from './reshard.js'
import type { ClusterConfig, TransportName } from './shard-map.js'
import type { OnFull } from './shard.js'
import { ManualClock } from './clock.js'
// Types only (erased from the build): each transport's own settings, for `transportOptions`.
import type { WorkerTransportOptions, TcpClientOptions, RedisTransportOptions } from './transport-options.js'


/**
 * `value` when it is a positive safe integer, `fallback` when it is undefined;
 * otherwise a TypeError naming the option (`options.<name> must be ...`).
 */
export function positiveInt(name: string, value: unknown, fallback: number): number
export function positiveInt(name: string, value: unknown, fallback?: number): number | undefined
export function positiveInt(name: string, value: unknown, fallback?: number): number | undefined {
  if (value === undefined) return fallback
  if (!(Number.isSafeInteger(value) && (value as number) > 0)) throw new TypeError(`options.${name} must be a positive integer, got ${String(value)}`)
  return value as number
}

/** `value` when it is a non-negative safe integer, `fallback` when undefined; else a TypeError naming the option. */
export function nonNegativeInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (!(Number.isSafeInteger(value) && (value as number) >= 0)) throw new TypeError(`options.${name} must be a non-negative integer, got ${String(value)}`)
  return value as number
}

/** The memory transport takes no settings. */
export type MemoryTransportOptions = Record<string, never>

/**
 * Every transport name with the type of its `transportOptions`. A transport added with
 * `registerTransport` joins it by declaration merging, which makes its name (and settings)
 * type-check:
 *
 * ```ts
 * declare module 'pyshard' {
 *   interface TransportRegistry { mine: { depth?: number } }
 * }
 * ```
 */
export interface TransportRegistry {
  memory: MemoryTransportOptions
  worker: WorkerTransportOptions
  tcp: TcpClientOptions
  redis: RedisTransportOptions
}

/** `transportOptions` for shards of transport `T` (for several transports: the settings of any of them). */
export type TransportOptions<T extends TransportName = TransportName> = TransportRegistry[T]

/** Options every operation takes as its last argument. */
export interface CallOptions {
  /**
   * Aborting it rejects the call with ABORTED (`AbortedError`, the signal's reason as `cause`).
   * A request already sent may still be applied. @default none
   */
  signal?: AbortSignal
  /**
   * Rejects the call with TIMEOUT after this many ms (a positive integer). A request already
   * sent may still be applied; remote shards also keep `requestTimeout`. @default none
   */
  timeout?: number
}

/** Options of `db.reshard`. */
export interface ReshardOptions {
  /** Told of each phase of the move and of every page copied. @default none */
  onProgress?: (progress: ReshardProgress) => void
}

/** Options of `Pyshard.open`; `T` is the transport of the shards it makes. */
export interface OpenOptions<T extends TransportName = TransportName> {
  /** A bootstrap config: a path to its JSON file, or the parsed object. Without it the store makes `shards` shards of `transport`. */
  config?: string | ClusterConfig
  /** Number of shards when no `config` is given, splitting [0,1) evenly. @default 4 */
  shards?: number
  /** Transport of those shards (`memory`, `worker`, ...). @default 'memory' */
  transport?: T
  /** Byte limit of each of those shards. @default 67108864 (64 MiB) */
  size?: number
  /** What those shards do when full. @default 'reject' */
  onFull?: OnFull
  /** Processors module (path or URL) whose exported functions `run` can call where each shard lives. */
  processors?: string | URL
  /** Worker threads to spread worker shards over. @default one per shard, at most the number of cores */
  workers?: number
  /**
   * Clock in ms for TTL; inject a fake one in tests. A function drives in-process shards; a
   * `ManualClock` drives worker shards too (they read it from shared memory). Shard servers and
   * Redis keep their own clocks. @default Date.now
   */
  now?: (() => number) | ManualClock
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
  /** Settings of the transport (`TransportRegistry` lists each transport's), e.g. `{ codec: 'msgpack' }` for `worker`. */
  transportOptions?: TransportOptions<T>
  /**
   * Directory where in-process shards (memory, worker) keep their data, one subfolder per shard
   * name (an lmdb database each, created if missing), and the store its map (`%store`): a store
   * opened again on it, even after the process was killed, serves what was committed, and opened
   * with no `shards` or `config` takes the recorded map, its transport, sizes and policies included
   * (a reshard a crash cut short is rolled back or finished first). A dir that cannot be used makes `open` reject with DATA_DIR naming it. See
   * docs/durability.md and docs/scaling.md. @default none (memory only)
   */
  dataDir?: string
  /**
   * With `dataDir`: when a write's commit must reach the disk. `'always'`: a write resolves only
   * once it is on disk (one commit serves every write of an event-loop turn). `'everysec'`: each
   * commit is flushed right after it, off the event loop, at most one per 10 ms (a crash loses the
   * last tens of milliseconds at most and never damages the dir). `'no'`: the OS decides (an OS crash can damage the dir). @default 'everysec'
   */
  fsync?: 'always' | 'everysec' | 'no'
}

/** Options of `write`. */
export interface WriteOptions extends CallOptions {
  /** Write only if the key is absent; when it is present nothing changes and `size` is 0. @default false */
  ifAbsent?: boolean
  /** Time to live in ms (a positive integer); the entry reads as absent afterwards. @default no expiry */
  ttl?: number
}

/** Options of `createIndex`. */
export interface CreateIndexOptions extends CallOptions {
  /** Succeed (doing nothing) when the index exists instead of rejecting INDEX_EXISTS. @default false */
  ifNotExists?: boolean
}

/** Options of `entries` and `keys`. */
export interface ScanOptions extends CallOptions {
  /** Entries fetched per page from a shard; memory use is bounded by about two pages. @default 512 */
  pageSize?: number
}

/** Defaults of the store's options. */
export const DEFAULTS = {
  shards: 4,
  transport: 'memory',
  requestTimeout: 5000,
  connectTimeout: 3000,
  maxBatch: 1024,
  maxRetries: 3,
  pageSize: 512,
} as const

/** Every key `Pyshard.open` takes: anything else is a typo, refused naming the key. */
const OPEN_KEYS = new Set([
  'config', 'shards', 'transport', 'size', 'onFull', 'processors', 'workers', 'now', 'requestTimeout', 'connectTimeout',
  'token', 'maxBatch', 'maxRetries', 'mapSource', 'transportOptions', 'bootstrap', 'dataDir', 'fsync',
])

/** Checks the options of `Pyshard.open` once; throws TypeError naming the first bad one. */
export function checkOpenOptions(options: OpenOptions<TransportName>): void {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  for (const key of Object.keys(options)) {
    if (!OPEN_KEYS.has(key)) throw new TypeError(`options.${key} is not an option of Pyshard.open (known: ${[...OPEN_KEYS].join(', ')})`)
  }
  positiveInt('shards', options.shards)
  positiveInt('size', options.size)
  positiveInt('workers', options.workers)
  positiveInt('requestTimeout', options.requestTimeout)
  positiveInt('connectTimeout', options.connectTimeout)
  positiveInt('maxBatch', options.maxBatch)
  nonNegativeInt('maxRetries', options.maxRetries, 0)
  if (options.now !== undefined && typeof options.now !== 'function' && !(options.now instanceof ManualClock)) {
    throw new TypeError('options.now must be a function returning ms, or a ManualClock')
  }
  if (options.mapSource !== undefined && typeof options.mapSource !== 'function') throw new TypeError('options.mapSource must be a function')
  if (options.onFull !== undefined && options.onFull !== 'reject' && options.onFull !== 'evict') {
    throw new TypeError('options.onFull must be "reject" or "evict"')
  }
  if (options.config !== undefined && (options.shards !== undefined || options.transport !== undefined || options.size !== undefined || options.onFull !== undefined)) {
    throw new TypeError('options.config cannot be combined with options.shards, transport, size or onFull (the config sets them per shard)')
  }
  if (options.transport !== undefined && (typeof options.transport !== 'string' || (options.transport as string) === '')) throw new TypeError('options.transport must be a transport name')
  if (options.token !== undefined && typeof options.token !== 'string') throw new TypeError('options.token must be a string')
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir === '')) {
    throw new TypeError('options.dataDir must be a non-empty string (a directory path)')
  }
  if (options.fsync !== undefined && options.fsync !== 'always' && options.fsync !== 'everysec' && options.fsync !== 'no') {
    throw new TypeError(`options.fsync must be 'always', 'everysec' or 'no', got ${String(options.fsync)}`)
  }
  if (options.fsync !== undefined && options.dataDir === undefined) throw new TypeError('options.fsync needs options.dataDir')
  if (options.transportOptions !== undefined && (options.transportOptions === null || typeof options.transportOptions !== 'object')) {
    throw new TypeError('options.transportOptions must be an object')
  }
}
