/**
 * The key hash: MurmurHash3 (x86, 32-bit, seed 0) of the UTF-8 bytes of
 * `index + ':' + key`, divided by 2^32, so a key's position is a number in
 * [0, 1). MurmurHash3 is public, well specified and has implementations in
 * every language (Python's `mmh3.hash(s, signed=False) / 2**32` gives the same
 * value), so the position of a key is the same on every platform, process and
 * version. Changing this function is a breaking change: test vectors pin it.
 *
 * ASCII keys are hashed straight from the strings' code units; others are
 * encoded to UTF-8 into one reused buffer first. Hashing allocates nothing.
 */

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

// Scratch space for the UTF-8 bytes of one key (grown on demand). Hashing is
// synchronous and not re-entrant, so one module-level buffer is safe.
let scratch = new Uint8Array(256)

/** Writes the UTF-8 encoding of `s` into `scratch` at `at`; returns the end offset. */
function encode(s: string, at: number): number {
  const len = s.length
  // Worst case 3 bytes per UTF-16 unit, plus one spare byte for the ':' that may follow.
  if (at + len * 3 + 1 > scratch.length) {
    const bigger = new Uint8Array(Math.max(scratch.length * 2, at + len * 3 + 1))
    bigger.set(scratch.subarray(0, at))
    scratch = bigger
  }
  const buf = scratch
  let p = at
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      buf[p++] = c
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6)
      buf[p++] = 0x80 | (c & 0x3f)
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
        const d = s.charCodeAt(i + 1)
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
          i++
          buf[p++] = 0xf0 | (c >> 18)
          buf[p++] = 0x80 | ((c >> 12) & 0x3f)
          buf[p++] = 0x80 | ((c >> 6) & 0x3f)
          buf[p++] = 0x80 | (c & 0x3f)
          continue
        }
      }
      // A lone surrogate encodes as U+FFFD, as TextEncoder and Buffer do.
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd
      buf[p++] = 0xe0 | (c >> 12)
      buf[p++] = 0x80 | ((c >> 6) & 0x3f)
      buf[p++] = 0x80 | (c & 0x3f)
    }
  }
  return p
}

/** One MurmurHash3 block step: mixes the 4-byte word `k1` into `h1`. */
function mix(h1: number, k1: number): number {
  k1 = Math.imul(k1, C1)
  k1 = (k1 << 15) | (k1 >>> 17)
  k1 = Math.imul(k1, C2)
  h1 ^= k1
  h1 = (h1 << 13) | (h1 >>> 19)
  return (Math.imul(h1, 5) + 0xe6546b64) | 0
}

/** Mixes the tail word `k1` (the last n % 4 bytes), the length `n`, and avalanches: the hash as an unsigned 32-bit integer. */
function finish(h1: number, k1: number, n: number): number {
  if ((n & 3) !== 0) {
    k1 = Math.imul(k1, C1)
    k1 = (k1 << 15) | (k1 >>> 17)
    k1 = Math.imul(k1, C2)
    h1 ^= k1
  }
  h1 ^= n
  h1 ^= h1 >>> 16
  h1 = Math.imul(h1, 0x85ebca6b)
  h1 ^= h1 >>> 13
  h1 = Math.imul(h1, 0xc2b2ae35)
  h1 ^= h1 >>> 16
  return h1 >>> 0
}

/** MurmurHash3 x86_32 of `scratch[0, n)`. */
function murmurScratch(n: number, seed: number): number {
  const buf = scratch
  let h1 = seed | 0
  const blocks = n & ~3
  for (let i = 0; i < blocks; i += 4) {
    h1 = mix(h1, (buf[i] as number) | ((buf[i + 1] as number) << 8) | ((buf[i + 2] as number) << 16) | ((buf[i + 3] as number) << 24))
  }
  const rest = n & 3
  let k1 = 0
  if (rest === 3) k1 ^= (buf[blocks + 2] as number) << 16
  if (rest >= 2) k1 ^= (buf[blocks + 1] as number) << 8
  if (rest >= 1) k1 ^= buf[blocks] as number
  return finish(h1, k1, n)
}

/** MurmurHash3 x86 32-bit of the UTF-8 bytes of `s`, as an unsigned 32-bit integer. */
export function murmur3(s: string, seed = 0): number {
  return murmurScratch(encode(s, 0), seed)
}

/** The UTF-8 path: encode `index:key` into the scratch buffer, then hash it. */
function hashKeyUtf8(index: string, key: string): number {
  let n = encode(index, 0)
  scratch[n++] = 0x3a // ':'
  n = encode(key, n)
  return murmurScratch(n, 0) / 4294967296
}

// The murmur state after hashing `lastIndex + ':'` (an ASCII index): block hash, pending tail
// word and byte count. Hashing is synchronous, so one module-level cache is safe.
let lastIndex: string | null = null
let lastH1 = 0
let lastK1 = 0
let lastN = 0

/**
 * The position of `key` of `index` in [0, 1):
 * `murmur3(utf8(index + ':' + key)) / 2^32`.
 */
export function hashKey(index: string, key: string): number {
  // Fast path for ASCII (the usual key): the code units are the bytes, hashed
  // straight from the strings, the key a whole 4-byte word at a time once
  // aligned. The first non-ASCII unit sends the whole key to the UTF-8 path.
  // The state after `index:` is kept for the last ASCII index: a store mostly
  // hashes keys of one index after another, so only the key is hashed then.
  let h1: number
  let k1: number
  let n: number
  if (index === lastIndex) {
    h1 = lastH1
    k1 = lastK1
    n = lastN
  } else {
    h1 = 0
    k1 = 0
    n = 0
    const a = index.length
    for (let i = 0; i < a; i++) {
      const c = index.charCodeAt(i)
      if (c >= 0x80) return hashKeyUtf8(index, key)
      k1 |= c << ((n & 3) << 3)
      if ((++n & 3) === 0) {
        h1 = mix(h1, k1)
        k1 = 0
      }
    }
    k1 |= 0x3a << ((n & 3) << 3)
    if ((++n & 3) === 0) {
      h1 = mix(h1, k1)
      k1 = 0
    }
    lastIndex = index
    lastH1 = h1
    lastK1 = k1
    lastN = n
  }
  const b = key.length
  let i = 0
  for (; i < b && (n & 3) !== 0; i++) {
    const c = key.charCodeAt(i)
    if (c >= 0x80) return hashKeyUtf8(index, key)
    k1 |= c << ((n & 3) << 3)
    if ((++n & 3) === 0) {
      h1 = mix(h1, k1)
      k1 = 0
    }
  }
  for (; i + 4 <= b; i += 4) {
    const c0 = key.charCodeAt(i)
    const c1 = key.charCodeAt(i + 1)
    const c2 = key.charCodeAt(i + 2)
    const c3 = key.charCodeAt(i + 3)
    if ((c0 | c1 | c2 | c3) >= 0x80) return hashKeyUtf8(index, key)
    h1 = mix(h1, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24))
    n += 4
  }
  for (; i < b; i++) {
    const c = key.charCodeAt(i)
    if (c >= 0x80) return hashKeyUtf8(index, key)
    k1 |= c << ((n & 3) << 3)
    n++
  }
  return finish(h1, k1, n) / 4294967296
}
