/**
 * What a transport gives the router: one `ShardClient` per shard. Transports
 * carry requests; they never interpret them.
 */
import type { Request, Response } from './protocol.js'
import type { ClusterConfig, ShardSpec } from './shard-map.js'
import { ShardMap } from './shard-map.js'
import type { PyshardEvents } from './events.js'
import { BadConfigError } from './errors.js'
import { BUILTIN_TRANSPORTS } from './shard-map.js'

/** The router's handle on one shard. */
export interface ShardClient {
  /** Sends a batch; resolves to one response per request, in order. Never rejects for a failed request: that is an error response. */
  send(batch: Request[]): Promise<Response[]>
  /** A synchronous path for shards in this thread (the memory transport): no batching, no promise per request. */
  execute?(req: Request): Response
  /**
   * `execute` as a value: what a success response would carry, or the failure thrown. The
   * router prefers it for keyed requests: no response object per request. Present only
   * where `execute` is.
   */
  perform?(req: Request): unknown
  /**
   * Optional callback form of `send`, which the router prefers when present: the
   * transport calls exactly one of `done` (one response per request, in order) or
   * `fail`, saving a promise and a hop per batch on latency-bound paths.
   */
  submit?(batch: Request[], done: (responses: Response[]) => void, fail: (err: unknown) => void): void
  /**
   * How many times the connection to the shard came up. A change while a reshard copies to it
   * means it may have restarted (and dropped the copies): the move rolls back. Absent for shards
   * in this thread, which cannot restart.
   */
  opens?(): number
  /** Finishes what is in flight, then releases the shard. */
  close(): Promise<void>
}

/** What the router hands a transport along with the shard's spec. */
export interface TransportContext {
  /** Processors module (a file URL or specifier) the store was opened with. */
  processors: string | undefined
  /** Clock for TTL. */
  now: (() => number) | undefined
  /** The same clock as shared memory (one float64, ms), when the caller gave a `ManualClock`: what worker shards read. */
  clock?: SharedArrayBuffer | undefined
  /** Per-request timeout for remote transports, ms. */
  requestTimeout: number
  /** Connect timeout for remote transports, ms. */
  connectTimeout: number
  /** Workers to spread worker shards over. */
  workers: number | undefined
  /** Token to present to shard servers. */
  token: string | undefined
  /** Where shards this store runs keep their data (a subfolder per shard name), when set. */
  dataDir?: string | undefined
  /** The fsync policy for `dataDir`. */
  fsync?: 'always' | 'everysec' | 'no' | undefined
  /**
   * Set only while a store finishes a reshard it recorded before a crash: the shards take the
   * ranges they are given whatever their data dirs hold (`assignment: 'adopt'`).
   */
  adopt?: boolean | undefined
  /** Anything else the caller passed in `transportOptions`. */
  options: Record<string, unknown>
  /** Emits a store event. */
  emit<K extends keyof PyshardEvents>(event: K, ...args: PyshardEvents[K]): void
}

/** A way to reach shards. */
export interface Transport {
  /** Opens clients for every shard of this transport in one go (so a transport can group shards, as the worker one does). */
  connect(specs: readonly ShardSpec[], ctx: TransportContext): Promise<ShardClient[]>
  /**
   * Checks this transport's own fields of a shard (`host`/`port`, `url`, ...) and returns the spec
   * with them normalised. Throws BAD_CONFIG naming the shard and the field. The core knows no
   * transport's fields: this is where they are checked.
   */
  check?(spec: ShardSpec): ShardSpec
  /**
   * A key naming the place a shard lives (`host:port`, a Redis URL); a client whose shard keeps
   * its endpoint across a new map is reused. Shards that live inside the store (no endpoint) are
   * never reused.
   */
  endpoint?(spec: ShardSpec): string | undefined
  /**
   * Where a map comes from for `Pyshard.connect(address)`: a function fetching it from a
   * bootstrap server at `address`. Only the transport that serves maps has it.
   */
  mapSource?(address: string, options: MapSourceOptions): () => Promise<ClusterConfig>
}

/** What `Pyshard.connect` passes to `Transport.mapSource`. */
export interface MapSourceOptions {
  token?: string | undefined
  connectTimeout?: number | undefined
  requestTimeout?: number | undefined
  /** The caller's `transportOptions`. */
  options: Record<string, unknown>
}

type Loader = () => Promise<Transport>

/**
 * The registry: the only place in the core that names a transport module, and it
 * only loads one when a shard of it is opened. Importing `pyshard` loads none.
 */
const loaders = new Map<string, Loader>([
  ['memory', async () => (await import('../transports/memory/index.js')).transport],
  ['redis', async () => (await import('../transports/redis/index.js')).transport],
  ['worker', async () => (await import('../transports/worker/index.js')).transport],
  ['tcp', async () => (await import('../transports/tcp/index.js')).transport],
])

/** Registers a transport under a name usable in configs (`"transport": name`). */
export function registerTransport(name: string, transport: Transport | Loader): void {
  if (typeof name !== 'string' || name === '') throw new TypeError('transport name must be a non-empty string')
  loaders.set(name, typeof transport === 'function' ? transport : async () => transport)
  cache.delete(name)
}

/** Names a config may use. */
export function transportNames(): string[] {
  return [...new Set<string>([...BUILTIN_TRANSPORTS, ...loaders.keys()])]
}

export async function loadTransport(name: string): Promise<Transport> {
  const load = loaders.get(name)
  if (load === undefined) throw new BadConfigError(`transport "${name}" is not available in this build`)
  return load()
}

/** The transport whose servers hand out maps (`Pyshard.connect`). */
export const BOOTSTRAP_TRANSPORT = 'tcp'

const cache = new Map<string, Promise<Transport>>()

/** Loads a transport once (later calls share the first load). */
export function loadTransportOnce(name: string): Promise<Transport> {
  let p = cache.get(name)
  if (p === undefined) {
    p = loadTransport(name)
    cache.set(name, p)
    p.catch(() => cache.delete(name))
  }
  return p
}

/**
 * Lets each transport check and normalise its own fields of every shard in the map.
 * Resolves to the same map when nothing changed.
 */
export async function checkMap(map: ShardMap): Promise<ShardMap> {
  let changed = false
  const shards: ShardSpec[] = []
  for (const spec of map.shards) {
    const t = await loadTransportOnce(spec.transport)
    const checked = t.check === undefined ? spec : t.check(spec)
    if (checked !== spec) changed = true
    shards.push(checked)
  }
  if (!changed) return map
  return ShardMap.parse({ ...map.config, shards }, transportNames())
}
