import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hashKey, murmur3 } from '../src/index.js'

const test = suite('hash')

// Published MurmurHash3 x86_32 (seed 0) values.
test('murmur3 matches the published vectors', () => {
  assert.is(murmur3(''), 0)
  assert.is(murmur3('hello'), 0x248bfa47)
  assert.is(murmur3('The quick brown fox jumps over the lazy dog'), 0x2e4ff723)
  assert.is(murmur3('', 1), 0x514e28b7)
})

// Pinned positions: changing any of these moves every key to another shard.
const VECTORS: [string, string, number][] = [
  ['test_index', 'test', 1664519120],
  ['test_index', '1', 631307823],
  ['users', 'ada', 2418549987],
  ['idx', '', 2448861661],
  ['', '', 723937430],
  ['ключи', 'значение', 3343224728],
  ['emoji', '😀🎉', 3609528436],
  ['mixed', 'aé中😀', 2815472320],
]

test('hashKey is murmur3(utf8(index:key)) / 2^32, pinned by vectors (ASCII, non-ASCII, emoji, empty)', () => {
  for (const [index, key, h] of VECTORS) {
    assert.is(murmur3(`${index}:${key}`), h, `${index}:${key}`)
    assert.is(hashKey(index, key), h / 2 ** 32, `${index}:${key}`)
  }
})

// A plain reference implementation over Buffer's UTF-8, to check the streaming encoder.
function reference(s: string): number {
  const b = Buffer.from(s, 'utf8')
  let h = 0
  const blocks = b.length >> 2
  for (let i = 0; i < blocks; i++) {
    let k = b.readUInt32LE(i * 4)
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593)
    h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  const tail = blocks * 4
  const rest = b.length & 3
  if (rest === 3) k ^= (b[tail + 2] as number) << 16
  if (rest >= 2) k ^= (b[tail + 1] as number) << 8
  if (rest >= 1) {
    k ^= b[tail] as number
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593); h ^= k
  }
  h ^= b.length
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16
  return h >>> 0
}

test('the streaming UTF-8 encoder agrees with Buffer on every kind of code point', () => {
  const samples = ['a', 'ab', 'abc', 'abcd', 'é', '中文', '😀', 'x\ud800y', '\udc00', 'mixé中😀z', '\u07ff\u0800\uffff']
  for (let i = 0; i < 300; i++) {
    let s = ''
    for (let j = 0; j < i % 17; j++) s += String.fromCodePoint([0x41, 0xe9, 0x4e2d, 0x1f600, 0x7ff][(i * 7 + j) % 5] as number)
    samples.push(s)
  }
  for (const s of samples) assert.is(murmur3(s), reference(s), JSON.stringify(s))
})

test('long keys and indexes (past the scratch buffer) hash like their concatenation', () => {
  for (const len of [85, 86, 255, 256, 257, 1000, 5000]) {
    const index = 'é'.repeat(len)
    const key = '中'.repeat(len)
    assert.is(hashKey(index, key), reference(`${index}:${key}`) / 2 ** 32, `length ${len}`)
    assert.is(hashKey('i', key), reference(`i:${key}`) / 2 ** 32, `key length ${len}`)
  }
})

test('ASCII keys and indexes of every length and alignment hash like their UTF-8 bytes', () => {
  for (let il = 0; il < 9; il++) {
    for (let kl = 0; kl < 23; kl++) {
      const index = 'abcdefghi'.slice(0, il)
      const key = 'KLMNOPQRSTUVWXYZ0123456'.slice(0, kl)
      assert.is(hashKey(index, key), reference(`${index}:${key}`) / 2 ** 32, `${index}:${key}`)
      // A non-ASCII unit at any position takes the UTF-8 path and still agrees.
      if (kl > 0) {
        const odd = `${key.slice(0, kl - 1)}é`
        assert.is(hashKey(index, odd), reference(`${index}:${odd}`) / 2 ** 32, `${index}:${odd}`)
      }
    }
  }
})

test('the remembered index prefix never leaks into another index: alternating, equal-content, non-ASCII and empty indexes', () => {
  const indexes = ['users', 'orders', 'users', 'ключи', 'users', '', 'users', 'a', 'ab', 'abc', 'abcd', 'abc', 'é', 'x'.repeat(300), 'users']
  for (let round = 0; round < 3; round++) {
    for (const index of indexes) {
      // A copy with the same content but another string object must hash the same.
      const same = [...index].join('')
      for (const key of ['', 'k', 'key-000000000042', 'é', '😀', 'ab']) {
        const want = reference(`${index}:${key}`) / 2 ** 32
        assert.is(hashKey(index, key), want, `${index}:${key}`)
        assert.is(hashKey(same, key), want, `${index}:${key} (copy of the index)`)
      }
    }
  }
})

test('positions are in [0,1) and spread over the range', () => {
  const buckets = new Array(10).fill(0)
  for (let i = 0; i < 10_000; i++) {
    const h = hashKey('spread', `key${i}`)
    assert.ok(h >= 0 && h < 1)
    buckets[Math.floor(h * 10)]++
  }
  for (const b of buckets) assert.ok(b > 800 && b < 1200, `bucket count ${b} within 20% of 1000`)
})

test.run()
