/**
 * The stores `pyshard bench` measures: pyshard itself (in-process shards, or a
 * cluster), and the peers a user would choose instead (`--compare`): an
 * in-process lru-cache, and ioredis against a Redis server. Peers are loaded
 * with a dynamic import of a name held in a variable, so neither is bundled
 * into nor required by the installed package; one that is missing is skipped.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Pyshard } from '../src/index.js'
import type { OpenOptions } from '../src/index.js'
import type { BenchClient, BenchTarget } from './bench-engine.js'

/** Writes the keyspace in chunks, a few chunks in flight. */
async function prefillChunks(keys: readonly string[], chunk: number, inFlight: number, write: (from: number, to: number) => Promise<unknown>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const from = next
      next = Math.min(keys.length, next + chunk)
      await write(from, next)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
}

function pyshardClient(db: Pyshard, index: string): BenchClient {
  return {
    read: (key) => db.read(index, key).then((e) => (e === null ? 0 : 1)),
    write: (key, value) => db.write(index, key, value),
    readMany: (keys) => db.readMany(index, keys).then((es) => {
      let n = 0
      for (const e of es) if (e !== null) n++
      return n
    }),
    writeMany: (pairs) => db.writeMany(index, pairs),
    pop: (key) => db.pop(index, key).then((e) => (e === null ? 0 : 1)),
  }
}

/**
 * pyshard with the bench's own index. `stores` share one cluster (remote) or are one
 * in-process store given to every client. The index is created here and dropped by `close`.
 */
export async function pyshardTarget(stores: Pyshard[], index: string, description: string): Promise<BenchTarget> {
  const first = stores[0] as Pyshard
  await first.createIndex(index)
  return {
    name: 'pyshard',
    description,
    clients: stores.map((db) => pyshardClient(db, index)),
    async prefill(keys, value) {
      await prefillChunks(keys, 1000, 4, (from, to) => first.writeMany(index, keys.slice(from, to).map((k) => [k, value] as const)))
    },
    async close() {
      try {
        await first.dropIndex(index)
      } finally {
        await Promise.allSettled(stores.map((db) => db.close()))
      }
    },
  }
}

/** Opens `n` stores on the same cluster (one connection set per bench client). */
export async function openStores(n: number, open: () => Promise<Pyshard>): Promise<Pyshard[]> {
  const first = await open()
  const rest = await Promise.allSettled(Array.from({ length: n - 1 }, open))
  const stores = [first]
  for (const r of rest) {
    if (r.status === 'fulfilled') stores.push(r.value)
  }
  const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) {
    await Promise.allSettled(stores.map((db) => db.close()))
    throw failed.reason
  }
  return stores
}

/** Open options for in-process shards sized so the keyspace fits with room to spare. */
export function inProcessOptions(transport: 'memory' | 'worker', shards: number, keyspace: number, valueSize: number): OpenOptions {
  const perEntry = valueSize + 2 + 64 + String(keyspace).length + 4 // JSON quotes, bookkeeping, key
  const need = Math.ceil((keyspace * perEntry * 2) / shards)
  return { transport, shards, size: Math.max(64 * 1024 * 1024, need) }
}

/** A peer that could not run, and the line that says why. */
export interface Skipped { name: string; reason: string }

/** The installed version of a peer package: its package.json, found above its entry file (exports may hide it). */
function peerVersion(name: string): string | null {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(name))
    for (let i = 0; i < 6; i++) {
      const file = join(dir, 'package.json')
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
        if (pkg.name === name && typeof pkg.version === 'string') return pkg.version
      }
      dir = dirname(dir)
    }
  } catch { /* the version is a nicety */ }
  return null
}

async function load<T>(name: string): Promise<T | null> {
  try {
    return (await import(name)) as T
  } catch {
    return null
  }
}

/** lru-cache in this process, each call behind a resolved promise as pyshard's are. */
export async function lruTarget(keyspace: number): Promise<BenchTarget | Skipped> {
  const mod = await load<typeof import('lru-cache')>('lru-cache')
  if (mod === null) return { name: 'lru-cache', reason: 'lru-cache peer skipped: not installed (add it with "npm install lru-cache")' }
  const cache = new mod.LRUCache<string, string>({ max: keyspace + 1 })
  const client: BenchClient = {
    read: async (key) => (cache.get(key) === undefined ? 0 : 1),
    write: async (key, value) => { cache.set(key, value) },
    readMany: async (keys) => {
      let n = 0
      for (const k of keys) if (cache.get(k) !== undefined) n++
      return n
    },
    writeMany: async (pairs) => { for (const [k, v] of pairs) cache.set(k, v) },
    pop: async (key) => {
      const v = cache.get(key)
      if (v === undefined) return 0
      cache.delete(key)
      return 1
    },
  }
  const version = peerVersion('lru-cache')
  return {
    name: 'lru-cache',
    description: `lru-cache${version === null ? '' : ` ${version}`} in this process (max ${keyspace + 1} entries)`,
    clients: [client],
    async prefill(keys, value) { for (const k of keys) cache.set(k, value) },
    async close() { cache.clear() },
  }
}

type RedisCtor = typeof import('ioredis').Redis
type RedisClient = InstanceType<RedisCtor>

/** ioredis against `url`, one connection per bench client, auto-pipelined (ioredis' fastest setting). Keys carry `prefix`. */
export async function ioredisTarget(url: string, clients: number, prefix: string, timeoutMs: number): Promise<BenchTarget | Skipped> {
  const mod = await load<{ Redis?: RedisCtor; default?: RedisCtor }>('ioredis')
  const Redis = mod?.Redis ?? mod?.default
  if (Redis === undefined) return { name: 'ioredis', reason: 'ioredis peer skipped: not installed (add it with "npm install ioredis")' }
  const open = async (): Promise<RedisClient> => {
    const r = new Redis(url, {
      lazyConnect: true, enableAutoPipelining: true, maxRetriesPerRequest: 1, connectTimeout: timeoutMs,
      commandTimeout: timeoutMs, retryStrategy: () => null, enableOfflineQueue: false,
    })
    r.on('error', () => {}) // reported through the failed connect or the failed commands
    try {
      await r.connect()
    } catch (err) {
      r.disconnect()
      throw err
    }
    return r
  }
  let conns: RedisClient[]
  try {
    const first = await open()
    const rest = await Promise.allSettled(Array.from({ length: clients - 1 }, open))
    conns = [first, ...rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))]
    if (conns.length < clients) {
      for (const c of conns) c.disconnect()
      throw (rest.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason
    }
  } catch (err) {
    return { name: 'ioredis', reason: `ioredis peer skipped: cannot reach ${url} (${(err as Error)?.message ?? String(err)})` }
  }
  const k = (key: string): string => `${prefix}:${key}`
  const client = (r: RedisClient): BenchClient => ({
    read: (key) => r.get(k(key)).then((v) => (v === null ? 0 : 1)),
    write: (key, value) => r.set(k(key), value),
    readMany: (keys) => r.mget(keys.map(k)).then((vs) => {
      let n = 0
      for (const v of vs) if (v !== null) n++
      return n
    }),
    writeMany: (pairs) => r.mset(pairs.flatMap(([key, v]) => [k(key), v])),
    pop: (key) => r.getdel(k(key)).then((v) => (v === null ? 0 : 1)),
  })
  const first = conns[0] as RedisClient
  const info = await first.info('server').catch(() => '')
  const ioVersion = peerVersion('ioredis')
  const version = /redis_version:([^\r\n]+)/.exec(info)?.[1]
  let written: readonly string[] = []
  return {
    name: 'ioredis',
    description: `ioredis${ioVersion === null ? '' : ` ${ioVersion}`} → ${url}${version === undefined ? '' : ` (Redis ${version})`}, ${clients} connection(s), auto-pipelined, keys "${prefix}:*"`,
    clients: conns.map(client),
    async prefill(keys, value) {
      written = keys
      await prefillChunks(keys, 1000, 4, (from, to) => first.mset(keys.slice(from, to).flatMap((key) => [k(key), value])))
    },
    async close() {
      try {
        await prefillChunks(written, 1000, 4, (from, to) => first.unlink(...written.slice(from, to).map(k)))
      } finally {
        for (const c of conns) c.disconnect()
      }
    },
  }
}
