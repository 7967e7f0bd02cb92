/**
 * The key hash: MurmurHash3 (x86, 32-bit, seed 0) of the UTF-8 bytes of
 * `index + ':' + key`, divided by 2^32, so a key's position is a number in
 * [0, 1). MurmurHash3 is public, well specified and has implementations in
 * every language (Python's `mmh3.hash(s, signed=False) / 2**32` gives the same
 * value), so the position of a key is the same on every platform, process and
 * version. Changing this function is a breaking change: test vectors pin it.
 *
 * The bytes are fed straight from the strings' UTF-16 code units (encoding
 * UTF-8 on the fly), so hashing allocates nothing.
 */

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

// Streaming state of one hash computation (the function is synchronous and
// not re-entrant, so module state is safe and avoids allocation).
let h1 = 0
let k1 = 0
let n = 0

function pushByte(b: number): void {
  k1 |= b << ((n & 3) << 3)
  n++
  if ((n & 3) === 0) {
    k1 = Math.imul(k1, C1)
    k1 = (k1 << 15) | (k1 >>> 17)
    k1 = Math.imul(k1, C2)
    h1 ^= k1
    h1 = (h1 << 13) | (h1 >>> 19)
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0
    k1 = 0
  }
}

function pushString(s: string): void {
  const len = s.length
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      pushByte(c)
    } else if (c < 0x800) {
      pushByte(0xc0 | (c >> 6))
      pushByte(0x80 | (c & 0x3f))
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
        const d = s.charCodeAt(i + 1)
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
          i++
          pushByte(0xf0 | (c >> 18))
          pushByte(0x80 | ((c >> 12) & 0x3f))
          pushByte(0x80 | ((c >> 6) & 0x3f))
          pushByte(0x80 | (c & 0x3f))
          continue
        }
      }
      // A lone surrogate encodes as U+FFFD, as TextEncoder and Buffer do.
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd
      pushByte(0xe0 | (c >> 12))
      pushByte(0x80 | ((c >> 6) & 0x3f))
      pushByte(0x80 | (c & 0x3f))
    }
  }
}

function finish(): number {
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

/** MurmurHash3 x86 32-bit of the UTF-8 bytes of `s`, as an unsigned 32-bit integer. */
export function murmur3(s: string, seed = 0): number {
  h1 = seed | 0
  k1 = 0
  n = 0
  pushString(s)
  return finish()
}

/**
 * The position of `key` of `index` in [0, 1):
 * `murmur3(utf8(index + ':' + key)) / 2^32`.
 */
export function hashKey(index: string, key: string): number {
  h1 = 0
  k1 = 0
  n = 0
  pushString(index)
  pushByte(0x3a) // ':'
  pushString(key)
  return finish() / 4294967296
}
