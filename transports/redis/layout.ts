/**
 * Where a redis shard keeps things: every key name is made here, so the
 * layout documented in docs/redis.md has one source.
 *
 * For shard S, index I, key K (S and I escaped, see `escapePart`), prefix P:
 *
 *   P:{S:I}:K          STRING  the document as JSON text (PX when written with a ttl)
 *   P:index:{S:I}      STRING  "1" while the index exists (checked by every script)
 *   P:keys:{S:I}       ZSET    the index's keys, scored by their 32-bit hash: what scans page through
 *   P:ttl:{S:I}        ZSET    keys written with a ttl, scored by expiry time (ms): swept by such writes
 *   P:indexes:{S}      SET     the shard's index names
 *
 * K is the key itself (`storedKey`), except a key holding a lone surrogate
 * (UTF-8 cannot carry it: Redis would see U+FFFD, so "x\uD800" and "x\uDBFF"
 * would be one key) or one starting with the marker "\0u:": those are stored
 * as the marker and four hex digits per UTF-16 code unit. Members of
 * P:keys/P:ttl are stored keys too; hash and bucket come from the original.
 * Index names in P:indexes are stored the same way.
 *
 * On a Redis Cluster the tag gains a bucket, `{S:I:b}` with b = the low 4 bits
 * of the key's 32-bit hash, so one index spreads over 16 slots (and so over up
 * to 16 masters) while the keys a script touches together always share a slot.
 */

/** Buckets per index on a Redis Cluster (a layout constant: changing it makes stored data unreachable). */
export const CLUSTER_BUCKETS = 16

/** Starts every escaped key; a key that itself starts with it is escaped too, so the mapping stays one-to-one. */
export const KEY_MARKER = '\u0000u:'

// A high surrogate not followed by a low one, or a low one not preceded by a high one (code units: no u flag).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * The name a key has in Redis: the key itself, unless it holds a lone
 * surrogate or starts with `KEY_MARKER`; then the marker plus 4 hex digits
 * per UTF-16 code unit. One-to-one, and the identity for every other key.
 */
export function storedKey(key: string): string {
  if (!(key.charCodeAt(0) === 0 && key.startsWith(KEY_MARKER)) && !LONE_SURROGATE.test(key)) return key
  let out = KEY_MARKER
  for (let i = 0; i < key.length; i++) out += key.charCodeAt(i).toString(16).padStart(4, '0')
  return out
}

/** The key a name read back from Redis (a members-set entry) stands for: `storedKey` undone. */
export function originalKey(stored: string): string {
  if (stored.charCodeAt(0) !== 0 || !stored.startsWith(KEY_MARKER)) return stored
  let out = ''
  for (let i = KEY_MARKER.length; i + 4 <= stored.length; i += 4) out += String.fromCharCode(parseInt(stored.slice(i, i + 4), 16))
  return out
}

const PART_SPECIAL = new RegExp(`[%{}:]|${LONE_SURROGATE.source}`, 'g')

/**
 * Escapes `%`, `{`, `}` and `:` (as `%XX`) so names cannot break a hash tag or
 * run into the next field, and lone surrogates (as `%uXXXX`) so UTF-8 keeps
 * distinct names distinct.
 */
export function escapePart(s: string): string {
  PART_SPECIAL.lastIndex = 0
  if (!PART_SPECIAL.test(s)) return s
  return s.replace(PART_SPECIAL, (c) => (c.charCodeAt(0) >= 0xd800
    ? `%u${c.charCodeAt(0).toString(16).toUpperCase()}`
    : `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
}

/** The keys of one (index, bucket): everything one script touches. */
export interface BucketKeys {
  marker: string
  members: string
  expiries: string
  /** Data keys are `dataPrefix + key`. */
  dataPrefix: string
  /** UTF-8 bytes of `dataPrefix` (a write's size counts the whole Redis key). */
  dataPrefixBytes: number
  /** Redis Cluster slot of all of them. */
  slot: number
}

export class Layout {
  readonly prefix: string
  readonly buckets: number
  readonly registry: string
  readonly #shard: string
  // Index names repeat on every request: cache their keys (bounded, since indexes are few).
  readonly #cache = new Map<string, BucketKeys[]>()

  constructor(prefix: string, shard: string, buckets: number) {
    this.prefix = prefix
    this.buckets = buckets
    this.#shard = escapePart(shard)
    this.registry = `${prefix}:indexes:{${this.#shard}}`
  }

  /** The bucket of a key from its hash in [0,1): the low bits of the 32-bit murmur3 value. */
  bucketOf(hash: number): number {
    return this.buckets === 1 ? 0 : (hash * 4294967296) & (this.buckets - 1)
  }

  /** Keys of every bucket of `index`. */
  index(index: string): BucketKeys[] {
    let keys = this.#cache.get(index)
    if (keys === undefined) {
      keys = []
      const base = `${this.#shard}:${escapePart(index)}`
      for (let b = 0; b < this.buckets; b++) {
        const tag = this.buckets === 1 ? `{${base}}` : `{${base}:${b.toString(16)}}`
        const dataPrefix = `${this.prefix}:${tag}:`
        keys.push({
          marker: `${this.prefix}:index:${tag}`,
          members: `${this.prefix}:keys:${tag}`,
          expiries: `${this.prefix}:ttl:${tag}`,
          dataPrefix,
          dataPrefixBytes: Buffer.byteLength(dataPrefix),
          slot: keySlot(tag),
        })
      }
      if (this.#cache.size >= 1024) this.#cache.clear()
      this.#cache.set(index, keys)
    }
    return keys
  }

  /** Keys of the bucket that holds `hash`. */
  bucket(index: string, hash: number): BucketKeys {
    return this.index(index)[this.bucketOf(hash)] as BucketKeys
  }
}

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, or of the whole key, mod 16384. */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key)
  let start = 0
  let end = bytes.length
  const open = bytes.indexOf(0x7b)
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1)
    if (close > open + 1) {
      start = open + 1
      end = close
    }
  }
  let crc = 0
  for (let i = start; i < end; i++) {
    crc ^= (bytes[i] as number) << 8
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc & 16383
}
