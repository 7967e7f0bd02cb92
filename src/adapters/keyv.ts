/**
 * `pyshard/keyv`: a keyv (version 5) store backed by any pyshard store, so that
 * keyv and cacheable users can keep their cache in pyshard shards (in this
 * process, in workers, behind shard servers or in Redis).
 *
 * ```js
 * import Keyv from 'keyv'
 * import { Pyshard } from 'pyshard'
 * import { KeyvPyshard } from 'pyshard/keyv'
 * const keyv = new Keyv({ store: new KeyvPyshard(await Pyshard.open()) })
 * ```
 *
 * It needs nothing from keyv at run time: keyv calls it through the store
 * interface (get, set, delete, clear, has, getMany, setMany, deleteMany,
 * hasMany, iterator, disconnect).
 */
import { EventEmitter } from 'node:events'
import type { Pyshard } from '../pyshard.js'

/** Options of `KeyvPyshard`. */
export interface KeyvPyshardOptions {
  /** The pyshard index the entries live in; created on first use when missing. @default 'keyv' */
  index?: string
  /** Close the pyshard store when keyv disconnects (`keyv.disconnect()`). @default false (the store may be shared) */
  closeOnDisconnect?: boolean
}

/** What keyv reads from `store.opts`. */
export interface KeyvPyshardOpts {
  /**
   * keyv 5 turns on `keyv.iterator()` only for stores whose `opts.dialect` is in its own list of
   * iterable stores (sqlite, postgres, mysql, mongo, redis, valkey, etcd), and pyshard is not in
   * it. The store iterates as keyv's Redis store does (namespaced keys, serialized values), so it
   * names that dialect: nothing else in keyv reads it.
   */
  dialect: 'redis'
  /** Where the entries are: `pyshard://<index>`. */
  url: string
  index: string
  closeOnDisconnect: boolean
}

type Stored = string | number | boolean | null | object

/**
 * A keyv store over a pyshard store. Values are what keyv hands over (its serialized
 * string by default) and are kept as they are; keyv's TTL becomes the entry's pyshard
 * TTL too, so expired entries also leave the shards. Namespaces are keyv's key
 * prefixes (`namespace:key`): `clear()` removes only the current namespace's keys.
 */
export class KeyvPyshard extends EventEmitter {
  /** What keyv reads; see `KeyvPyshardOpts`. */
  readonly opts: KeyvPyshardOpts
  /** Set by keyv: the namespace of the keys it sends (keys arrive as `namespace:key`). */
  namespace?: string | undefined
  readonly #db: Pyshard
  readonly #index: string
  #ready: Promise<void> | undefined

  constructor(store: Pyshard, options: KeyvPyshardOptions = {}) {
    super()
    if (store === null || typeof store !== 'object' || typeof (store as { read?: unknown }).read !== 'function') {
      throw new TypeError('KeyvPyshard takes a pyshard store (from Pyshard.open or Pyshard.connect)')
    }
    const index = options.index ?? 'keyv'
    if (typeof index !== 'string' || index === '') throw new TypeError('options.index must be a non-empty string')
    this.#db = store
    this.#index = index
    this.opts = { dialect: 'redis', url: `pyshard://${index}`, index, closeOnDisconnect: options.closeOnDisconnect === true }
  }

  /** Creates the index once (it may exist already: another store or process made it). */
  #ensure(): Promise<void> {
    this.#ready ??= this.#db.createIndex(this.#index, { ifNotExists: true }).catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    await this.#ensure()
    const entry = await this.#db.read<Stored>(this.#index, key)
    return entry === null ? undefined : (entry.record as Value)
  }

  async getMany<Value>(keys: string[]): Promise<(Value | undefined)[]> {
    await this.#ensure()
    const entries = await this.#db.readMany<Stored>(this.#index, keys)
    return entries.map((e) => (e === null ? undefined : (e.record as Value)))
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    await this.#ensure()
    await this.#db.write(this.#index, key, value as Stored, ttlOption(ttl))
    return true
  }

  async setMany(entries: { key: string; value: unknown; ttl?: number }[]): Promise<boolean[]> {
    await this.#ensure()
    // Writes issued in one tick travel to each shard as one batch.
    const results = await Promise.allSettled(entries.map((e) => this.#db.write(this.#index, e.key, e.value as Stored, ttlOption(e.ttl))))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) this.emit('error', failed.reason)
    return results.map((r) => r.status === 'fulfilled')
  }

  async delete(key: string): Promise<boolean> {
    await this.#ensure()
    return this.#db.remove(this.#index, key)
  }

  /** True when every key was there (as keyv's own `delete([...])` answers). */
  async deleteMany(keys: string[]): Promise<boolean> {
    await this.#ensure()
    const removed = await Promise.all(keys.map((key) => this.#db.remove(this.#index, key)))
    return removed.length > 0 && removed.every(Boolean)
  }

  async has(key: string): Promise<boolean> {
    await this.#ensure()
    return this.#db.has(this.#index, key)
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    await this.#ensure()
    return Promise.all(keys.map((key) => this.#db.has(this.#index, key)))
  }

  /** Removes the current namespace's keys (every key of the index when there is no namespace). */
  async clear(): Promise<void> {
    await this.#ensure()
    const prefix = this.namespace === undefined || this.namespace === '' ? '' : `${this.namespace}:`
    // Keys are collected first, then removed: the scan does not run over a changing index.
    const doomed: string[] = []
    for await (const key of this.#db.keys(this.#index)) if (key.startsWith(prefix)) doomed.push(key)
    const CHUNK = 1024
    for (let i = 0; i < doomed.length; i += CHUNK) {
      await Promise.all(doomed.slice(i, i + CHUNK).map((key) => this.#db.remove(this.#index, key)))
    }
  }

  /** Every `[key, value]` of `namespace` (of the whole index without one), shard by shard, a page at a time. */
  async *iterator<Value>(namespace?: string): AsyncGenerator<[string, Value], void> {
    await this.#ensure()
    const prefix = namespace === undefined || namespace === '' ? '' : `${namespace}:`
    for await (const [key, entry] of this.#db.entries<Stored>(this.#index)) {
      if (key.startsWith(prefix)) yield [key, entry.record as Value]
    }
  }

  /** Closes the pyshard store only when `closeOnDisconnect` was set. */
  async disconnect(): Promise<void> {
    if (this.opts.closeOnDisconnect) await this.#db.close()
  }
}

/** keyv's TTL (ms, possibly fractional; 0 or undefined = none) as pyshard's write options. */
function ttlOption(ttl: number | undefined): { ttl: number } | undefined {
  return typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0 ? { ttl: Math.ceil(ttl) } : undefined
}
