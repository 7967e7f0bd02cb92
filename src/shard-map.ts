/**
 * The bootstrap config, parsed and validated: shards sorted by range, each with
 * its transport, plus an `epoch` that grows whenever the map changes.
 */
import { createRequire } from 'node:module'
import { BadConfigError } from './errors.js'
import type { OnFull } from './shard.js'
import type { TransportRegistry } from './options.js'

/** Default byte limit of a shard when the config gives none: 64 MiB. */
export const DEFAULT_SHARD_SIZE = 64 * 1024 * 1024

/** The built-in transports. */
export const BUILTIN_TRANSPORTS = ['memory', 'worker', 'tcp', 'redis'] as const

/** A built-in transport's name. */
export type BuiltinTransport = (typeof BUILTIN_TRANSPORTS)[number]

/**
 * A transport name: a built-in one, or one added with `registerTransport` and named in
 * `TransportRegistry` (declaration merging), so that a misspelt name fails to type-check.
 */
export type TransportName = keyof TransportRegistry & string

/** One shard of the config, as written in JSON. */
export interface ShardConfig {
  /** Unique name of the shard. */
  name: string
  /** Start of its hash range (inclusive). Give start/end on every shard or on none. */
  start?: number
  /** End of its hash range (exclusive). */
  end?: number
  /** Byte limit. @default 67108864 (64 MiB) */
  size?: number
  /** `reject` a write over the limit (`SHARD_FULL`), or `evict` least recently used entries. @default 'reject' */
  onFull?: OnFull
  /** Transport of this shard; each transport checks its own fields when the store opens. @default the config's `transport` */
  transport?: TransportName | (string & {})
  /** tcp: host of the shard server. */
  host?: string
  /** tcp: port of the shard server. */
  port?: number
  /** redis: URL of the Redis server, e.g. `redis://127.0.0.1:6379/0`. */
  url?: string
  /** redis: seed URLs of a Redis Cluster. */
  cluster?: string[]
  /** redis: key prefix, so several stores can share one Redis. */
  prefix?: string
  /** Any further transport-specific setting. */
  [setting: string]: unknown
}

/** The bootstrap config (the seed's format, extended). */
export interface ClusterConfig {
  /** Default transport of every shard. @default 'memory' (a shard with `host` and `port` and no transport: 'tcp') */
  transport?: TransportName | (string & {})
  /** Version of this map; shards report it with MOVED. @default 1 */
  epoch?: number
  /** tcp: token data clients present to the shard servers and the bootstrap server. */
  token?: string
  /**
   * tcp: token the bootstrap server presents to the shard servers to assign them and move data
   * (their `adminToken`), and requires for `reshard`. Never served to clients. @default the `token`
   */
  adminToken?: string
  shards: ShardConfig[]
}

/** One shard of a validated map: every field resolved. */
export interface ShardSpec extends ShardConfig {
  start: number
  end: number
  size: number
  onFull: OnFull
  transport: string
}

/**
 * `node:fs`, fetched only when a config file is read. A static ESM import of it would cost every
 * `import 'pyshard'` some 10 ms: Node builds fs's ESM namespace by reading every export, which
 * loads its stream classes.
 */
function readText(path: string): string {
  const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs')
  return fs.readFileSync(path, 'utf8')
}

function fail(message: string): never {
  throw new BadConfigError(message)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export class ShardMap {
  /** Shards sorted by range start. */
  readonly shards: readonly ShardSpec[]
  readonly epoch: number
  /** The config this map was made from (with resolved ranges), for serving to clients. */
  readonly config: ClusterConfig
  readonly #starts: Float64Array

  private constructor(shards: ShardSpec[], epoch: number, config: ClusterConfig) {
    this.shards = shards
    this.epoch = epoch
    this.config = config
    this.#starts = Float64Array.from(shards, (s) => s.start)
  }

  /**
   * Validates a config object (or the JSON text of one). Throws BAD_CONFIG naming
   * the shard and the rule it breaks.
   * @param knownTransports transport names accepted besides the built-ins
   */
  static parse(input: unknown, knownTransports: readonly string[] = BUILTIN_TRANSPORTS): ShardMap {
    if (typeof input === 'string') {
      try {
        input = JSON.parse(input)
      } catch (err) {
        fail(`config is not valid JSON: ${(err as Error).message}`)
      }
    }
    if (!isObject(input)) fail('config must be a JSON object with a "shards" array')
    const top = input
    const transport = top.transport ?? 'memory'
    if (typeof transport !== 'string' || !knownTransports.includes(transport)) {
      fail(`config: unknown transport ${JSON.stringify(transport)} (known: ${knownTransports.join(', ')})`)
    }
    const epoch = top.epoch ?? 1
    if (!(Number.isSafeInteger(epoch) && (epoch as number) >= 0)) fail('config: "epoch" must be a non-negative integer')
    if (top.token !== undefined && typeof top.token !== 'string') fail('config: "token" must be a string')
    if (top.adminToken !== undefined && (typeof top.adminToken !== 'string' || top.adminToken === '')) fail('config: "adminToken" must be a non-empty string')
    const list = top.shards
    if (!Array.isArray(list) || list.length === 0) fail('config: "shards" must be a non-empty array')

    const names = new Set<string>()
    let marked = 0
    const shards: ShardSpec[] = list.map((raw: unknown, i: number) => {
      if (!isObject(raw)) fail(`config: shards[${i}] must be an object`)
      const name = raw.name
      if (typeof name !== 'string' || name === '') fail(`config: shards[${i}] needs a non-empty string "name"`)
      const where = `shard "${name}"`
      if (names.has(name)) fail(`${where}: duplicate name (names must be unique)`)
      names.add(name)
      const hasStart = raw.start !== undefined
      const hasEnd = raw.end !== undefined
      if (hasStart !== hasEnd) fail(`${where}: gives ${hasStart ? 'start' : 'end'} without ${hasStart ? 'end' : 'start'}`)
      if (hasStart) {
        marked++
        const { start, end } = raw
        if (typeof start !== 'number' || !Number.isFinite(start) || typeof end !== 'number' || !Number.isFinite(end)) {
          fail(`${where}: start and end must be numbers`)
        }
        if (start < 0 || end > 1) fail(`${where}: range [${start}, ${end}) must lie within [0, 1]`)
        if (end <= start) fail(`${where}: end (${end}) must be greater than start (${start})`)
      }
      const size = raw.size ?? DEFAULT_SHARD_SIZE
      if (!(Number.isSafeInteger(size) && (size as number) > 0)) fail(`${where}: size must be a positive integer of bytes, got ${JSON.stringify(raw.size)}`)
      const onFull = raw.onFull ?? 'reject'
      if (onFull !== 'reject' && onFull !== 'evict') fail(`${where}: onFull must be "reject" or "evict", got ${JSON.stringify(onFull)}`)
      // The seed's format names no transport: a shard with an address is a shard server.
      const t = raw.transport ?? (top.transport === undefined && raw.host !== undefined && raw.port !== undefined ? 'tcp' : transport)
      if (typeof t !== 'string' || !knownTransports.includes(t)) {
        fail(`${where}: unknown transport ${JSON.stringify(t)} (known: ${knownTransports.join(', ')})`)
      }
      return { ...raw, name, start: raw.start as number, end: raw.end as number, size: size as number, onFull, transport: t } as ShardSpec
    })

    if (marked !== 0 && marked !== shards.length) {
      const unmarked = shards.find((s) => s.start === undefined) as ShardSpec
      fail(`shard "${unmarked.name}": has no start/end while other shards do (mark every shard or none)`)
    }
    if (marked === 0) {
      const n = shards.length
      shards.forEach((s, i) => {
        s.start = i / n
        s.end = i === n - 1 ? 1 : (i + 1) / n
      })
    } else {
      shards.sort((a, b) => a.start - b.start)
      const first = shards[0] as ShardSpec
      if (first.start !== 0) fail(`shard "${first.name}": the first range starts at ${first.start}; the ranges must cover [0, 1) from 0`)
      for (let i = 1; i < shards.length; i++) {
        const prev = shards[i - 1] as ShardSpec
        const cur = shards[i] as ShardSpec
        if (cur.start > prev.end) fail(`shard "${cur.name}": gap between ${prev.end} (end of "${prev.name}") and its start ${cur.start}`)
        if (cur.start < prev.end) fail(`shard "${cur.name}": its range [${cur.start}, ${cur.end}) overlaps "${prev.name}" [${prev.start}, ${prev.end})`)
      }
      const last = shards[shards.length - 1] as ShardSpec
      if (last.end !== 1) fail(`shard "${last.name}": the last range ends at ${last.end}; the ranges must cover [0, 1) up to 1`)
    }
    const config: ClusterConfig = { transport, epoch: epoch as number, shards }
    if (typeof top.token === 'string') config.token = top.token
    if (typeof top.adminToken === 'string') config.adminToken = top.adminToken
    return new ShardMap(shards, epoch as number, config)
  }

  /** Reads and validates a config file. */
  static load(path: string, knownTransports?: readonly string[]): ShardMap {
    let text: string
    try {
      text = readText(path)
    } catch (err) {
      fail(`cannot read config file ${path}: ${(err as Error).message}`)
    }
    try {
      return ShardMap.parse(text, knownTransports)
    } catch (err) {
      if (err instanceof BadConfigError) throw new BadConfigError(`${path}: ${err.message}`)
      throw err
    }
  }

  /** Index (in `shards`) of the shard whose range holds `hash`. */
  lookup(hash: number): number {
    const starts = this.#starts
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((starts[mid] as number) <= hash) lo = mid
      else hi = mid - 1
    }
    return lo
  }
}
