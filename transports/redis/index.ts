/**
 * Shards in Redis (`"url"`) or in a Redis Cluster (`"cluster": [urls]`),
 * through ioredis. See docs/redis.md for the key layout, how `size`/`onFull`
 * map onto Redis, and the fault behaviour.
 */
import type { Redis, Cluster, RedisOptions, ClusterOptions } from 'ioredis'
import { BadConfigError, ShardUnavailableError, positiveInt } from '../../src/internal.js'
import type { ShardClient, ShardSpec, Transport, TransportContext } from '../../src/internal.js'
import { CLUSTER_BUCKETS, Layout } from './layout.js'
import { SCRIPTS } from './scripts.js'
import { RedisShardClient } from './client.js'
import type { RedisClientLimits } from './client.js'
import type { RedisTransportOptions } from '../../src/internal.js'
export type { RedisTransportOptions }


interface Ioredis { Redis: typeof Redis; Cluster: typeof Cluster }
let ioredis: Promise<Ioredis> | undefined

/**
 * ioredis is an optional peer dependency: loaded on the first redis shard, so a store without
 * redis shards never needs it. Without it, opening a redis shard rejects BAD_CONFIG saying how to add it.
 */
function loadIoredis(): Promise<Ioredis> {
  const loading = ioredis ?? import('ioredis').then((m): Ioredis => ({ Redis: m.Redis, Cluster: m.Cluster }), (err: unknown) => {
    ioredis = undefined
    throw new BadConfigError('transport "redis" needs the ioredis package, which is not installed: npm install ioredis', { cause: err })
  })
  ioredis = loading
  return loading
}

/** Default prefix of every key a store writes (set `"prefix"` per shard so several stores can share one Redis). */
export const DEFAULT_PREFIX = 'pyshard'

const DEFAULTS = { maxInFlight: 65_536, redisMaxPending: 65_536, redisMaxCursors: 1024, redisCursorIdleMs: 60_000, redisMaxReconnectDelay: 1000 }

function positive(options: Record<string, unknown>, name: keyof typeof DEFAULTS): number {
  return positiveInt(`transportOptions.${name}`, options[name], DEFAULTS[name])
}

const warned = new Set<string>()

/** Tells the operator, once per server and policy, when maxmemory-policy does not fit the shard's `onFull`. Never changes server config. */
async function checkPolicy(redis: Redis, spec: ShardSpec, where: string): Promise<void> {
  let policy: string | undefined
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as unknown
    policy = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined
  } catch {
    return // CONFIG is often disabled on managed Redis: nothing to check
  }
  if (policy === undefined) return
  const lru = policy.startsWith('allkeys-')
  let problem: string | undefined
  if (spec.onFull === 'evict' && !lru) {
    problem = `shard "${spec.name}" has "onFull": "evict" but ${where} runs maxmemory-policy ${policy}: Redis will answer OOM (SHARD_FULL) instead of evicting; set maxmemory-policy allkeys-lru (or allkeys-lfu) and a maxmemory`
  } else if (spec.onFull === 'reject' && policy !== 'noeviction') {
    problem = `shard "${spec.name}" has "onFull": "reject" but ${where} runs maxmemory-policy ${policy}: Redis may evict entries instead of answering SHARD_FULL; set maxmemory-policy noeviction, or "onFull": "evict"`
  }
  const key = `${where} ${spec.onFull} ${policy}`
  if (problem !== undefined && !warned.has(key)) {
    warned.add(key)
    process.emitWarning(problem, { code: 'PYSHARD_REDIS_POLICY' })
  }
}

function defineScripts(redis: Redis | Cluster): void {
  for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def)
}

/** Waits for `ready` at most `ms`; on failure drops the client and rejects SHARD_UNAVAILABLE naming the endpoint. */
async function ready(redis: Redis | Cluster, isCluster: boolean, ms: number, spec: ShardSpec, where: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  // Until the shard client takes over, ioredis' errors are ours: listening keeps ioredis from
  // printing "Unhandled error event", and the first one is the real cause (ECONNREFUSED, say),
  // where connect() itself only rejects "Connection is closed."
  let cause: Error | undefined
  const onError = (err: Error): void => { cause ??= err }
  redis.on('error', onError)
  if (isCluster) redis.on('node error', onError)
  try {
    await Promise.race([
      redis.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (options.connectTimeout)`)), ms)
      }),
    ])
  } catch (err) {
    redis.disconnect()
    const real = cause ?? (err as Error)
    throw new ShardUnavailableError(`redis shard "${spec.name}": cannot connect to ${where}: ${real.message}`, { cause: real })
  } finally {
    clearTimeout(timer)
    redis.off('error', onError)
    if (isCluster) redis.off('node error', onError)
  }
}

async function connectOne(spec: ShardSpec, ctx: TransportContext, limits: RedisClientLimits, maxDelay: number): Promise<ShardClient> {
  const prefix = spec.prefix ?? DEFAULT_PREFIX
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw new BadConfigError(`shard "${spec.name}": "prefix" must be a string without "{" or "}" (they would break the hash tags)`)
  }
  // No offline queue and no resending: while Redis is away requests fail at once
  // (SHARD_UNAVAILABLE) instead of piling up, and a request cut off by a lost
  // connection is never applied twice (pop is not idempotent).
  const common = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: ctx.connectTimeout,
  }
  const retry = (times: number): number => Math.min(100 * times, maxDelay)
  const { Redis, Cluster } = await loadIoredis()
  let redis: Redis | Cluster
  let where: string
  if (Array.isArray(spec.cluster) && spec.cluster.length > 0) {
    where = `the Redis Cluster at ${spec.cluster.join(', ')}`
    const options: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: retry,
      slotsRefreshTimeout: ctx.connectTimeout,
      redisOptions: { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, connectTimeout: ctx.connectTimeout },
    }
    redis = new Cluster(spec.cluster, options)
  } else {
    const url = spec.url as string
    where = `Redis at ${url.replace(/\/\/[^@/]*@/, '//***@')}`
    const Ctor = (ctx.options.redisClient as (new (url: string, options: RedisOptions) => Redis) | undefined) ?? Redis
    redis = new Ctor(url, { ...common, retryStrategy: retry })
  }
  defineScripts(redis)
  await ready(redis, redis instanceof Cluster, ctx.connectTimeout, spec, where)
  const client = new RedisShardClient(spec, ctx, redis, redis instanceof Cluster, new Layout(prefix, spec.name, redis instanceof Cluster ? CLUSTER_BUCKETS : 1), limits)
  const probe = redis instanceof Cluster ? redis.nodes('master')[0] : redis
  if (probe !== undefined) await checkPolicy(probe, spec, where)
  return client
}

/** Checks a redis shard's fields: a `url`, or a `cluster` list of seed URLs, and an optional `prefix`. */
function checkRedisSpec(spec: ShardSpec): ShardSpec {
  const where = `shard "${spec.name}"`
  const okUrl = typeof spec.url === 'string' && spec.url !== ''
  const okCluster = Array.isArray(spec.cluster) && spec.cluster.length > 0 && spec.cluster.every((u) => typeof u === 'string' && u !== '')
  if (!okUrl && !okCluster) throw new BadConfigError(`${where}: transport "redis" needs a "url" or a non-empty "cluster" list of URLs`)
  if (spec.prefix !== undefined && (typeof spec.prefix !== 'string' || /[{}]/.test(spec.prefix))) {
    throw new BadConfigError(`${where}: "prefix" must be a string without "{" or "}" (they would break the hash tags)`)
  }
  return spec
}

/** The redis transport. */
export const transport: Transport = {
  check: checkRedisSpec,
  endpoint: (spec) => JSON.stringify([spec.url, spec.cluster, spec.prefix ?? DEFAULT_PREFIX]),
  async connect(specs: readonly ShardSpec[], ctx: TransportContext): Promise<ShardClient[]> {
    const o = ctx.options
    if (o.redisClient !== undefined && typeof o.redisClient !== 'function') throw new TypeError('options.transportOptions.redisClient must be a constructor')
    const limits: RedisClientLimits = {
      maxPending: o.maxInFlight !== undefined || o.redisMaxPending === undefined ? positive(o, 'maxInFlight') : positive(o, 'redisMaxPending'),
      maxCursors: positive(o, 'redisMaxCursors'),
      cursorIdleMs: positive(o, 'redisCursorIdleMs'),
    }
    const maxDelay = positive(o, 'redisMaxReconnectDelay')
    const settled = await Promise.allSettled(specs.map((spec) => connectOne(spec, ctx, limits, maxDelay)))
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed !== undefined) {
      await Promise.allSettled(settled.map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)))
      throw failed.reason
    }
    return settled.map((s) => (s as PromiseFulfilledResult<ShardClient>).value)
  },
}
