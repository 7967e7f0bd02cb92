// The codec's fast path for small request and answer frames writes exactly the bytes msgpackr
// writes and reads back exactly what msgpackr reads, for everything it takes; anything else
// (other shapes, non-ASCII strings, object documents, bad bytes) falls back to msgpackr with the
// same result or the same error. And the frame decoder copies what it keeps of a borrowed chunk.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  FrameDecoder, FrameKind, decodeBatch, decodeBody, decodeResults, encodeBatchFrame, encodeFrame, encodeResultFrame,
} from '../transports/tcp/codec.js'

const test = suite('tcp codec fast path')

// A small deterministic generator, so a failure reproduces.
let seed = 12345
function rand(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x80000000
}
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T

const STRINGS = ['', 'a', 'read', 'key-000000000001', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(255), 'w'.repeat(256), 'é', 'aé'.repeat(20), '\ud800', 'v'.repeat(100), 'q'.repeat(70_000)]
const NUMBERS = [0, -0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, Math.PI, Number.NaN, Infinity, -Infinity, 1e300, 0.38755105808377266]
const VALUES: unknown[] = [...STRINGS, ...NUMBERS, null, true, false, undefined, { a: 1 }, [1], new Date(0), Buffer.from([1, 2])]

function request(): unknown {
  const r = rand()
  if (r < 0.45) return { op: pick(STRINGS), index: pick(STRINGS), key: pick(STRINGS), hash: pick(NUMBERS) }
  if (r < 0.9) return { op: pick(STRINGS), index: pick(STRINGS), key: pick(STRINGS), hash: pick(NUMBERS), doc: pick(VALUES) }
  return { op: 'read', key: 'k', index: 'i', hash: 1 }
}

function response(): unknown {
  const r = rand()
  if (r < 0.3) return { ok: true }
  if (r < 0.9) return { ok: true, value: pick(VALUES) }
  return { ok: false, code: 'BAD_REQUEST', message: 'no' }
}

/** Value or error class name, whichever `fn` ends with. */
function outcome(fn: () => unknown): unknown {
  try {
    return { value: fn() }
  } catch (err) {
    return { error: (err as Error).constructor.name }
  }
}

const CASES = [
  { name: 'requests', kind: FrameKind.BATCH, make: request, encode: encodeBatchFrame, decode: decodeBatch },
  { name: 'answers', kind: FrameKind.RESULT, make: response, encode: encodeResultFrame, decode: decodeResults },
] as const

for (const c of CASES) {
  test(`${c.name}: same bytes and same values as msgpackr, same outcome for cut or extended bodies`, () => {
    for (let i = 0; i < 3000; i++) {
      const items = Array.from({ length: pick([0, 1, 2, 15, 16, 17, 100]) }, c.make)
      const reference = outcome(() => encodeFrame(c.kind, 7, items).toString('hex'))
      assert.equal(outcome(() => c.encode(7, items).toString('hex')), reference)
      if (!('value' in (reference as object))) continue
      const body = c.encode(7, items).subarray(9)
      assert.equal(c.decode(body), decodeBody(body))
      for (const bad of [body.subarray(0, Math.floor(rand() * body.length)), Buffer.concat([body, Buffer.from([0xc0])])]) {
        assert.equal(outcome(() => c.decode(bad)), outcome(() => decodeBody(bad)))
      }
    }
  })

  test(`${c.name}: random bytes decode as msgpackr decodes them (or fail as it does)`, () => {
    for (let i = 0; i < 50_000; i++) {
      const bytes = Array.from({ length: 1 + Math.floor(rand() * 12) }, (_, j) =>
        j === 0 ? pick([0x90, 0x91, 0x92, 0xdc]) : j === 1 ? pick([0x00, 0x40, 0x41, 0x46, 0x47]) : Math.floor(rand() * 256))
      const body = Buffer.from(bytes)
      assert.equal(outcome(() => c.decode(body)), outcome(() => decodeBody(body)), body.toString('hex'))
    }
  })
}

test('a borrowed chunk: the decoder keeps copies, not views of memory the caller reuses', () => {
  const frames = [0, 1, 2].map((i) => encodeFrame(FrameKind.RESULT, i + 1, [{ ok: true, value: `answer ${i}`.repeat(10) }]))
  const stream = Buffer.concat(frames)
  const decoder = new FrameDecoder()
  const shared = Buffer.alloc(stream.length)
  const got: unknown[] = []
  // Cut the stream at every 7th byte, reading each piece into the same buffer.
  for (let off = 0; off < stream.length; off += 7) {
    const n = stream.copy(shared, 0, off, Math.min(off + 7, stream.length))
    decoder.push(shared.subarray(0, n), (kind, id, body) => {
      got.push({ kind, id, body: decodeResults(body) })
    }, true)
    shared.fill(0xff)
  }
  assert.equal(got, [0, 1, 2].map((i) => ({ kind: FrameKind.RESULT, id: i + 1, body: [{ ok: true, value: `answer ${i}`.repeat(10) }] })))
  assert.is(decoder.buffered, 0)
})

test('the frame decoder stops after a frame when told to, keeps the rest, and resumes where it stopped', () => {
  const frames = Array.from({ length: 5 }, (_, i) => encodeFrame(FrameKind.RESULT, i + 1, [{ ok: true, value: i }]))
  const stream = Buffer.concat(frames)
  const decoder = new FrameDecoder()
  const ids: number[] = []
  const stopAtEven = (_kind: number, id: number): boolean => {
    ids.push(id)
    return id % 2 === 1
  }
  // The last frame arrives in two pieces: the first while the decoder is stopped.
  const cut = stream.length - 3
  decoder.push(stream.subarray(0, cut), stopAtEven)
  assert.equal(ids, [1, 2])
  decoder.hold(stream.subarray(cut))
  assert.is(decoder.buffered, stream.length - frames[0]!.length - frames[1]!.length)
  decoder.resume(stopAtEven)
  assert.equal(ids, [1, 2, 3, 4])
  decoder.resume(stopAtEven)
  assert.equal(ids, [1, 2, 3, 4, 5])
  assert.is(decoder.buffered, 0)
  // An oversized length kept while stopped is refused on resume, not waited for.
  const small = new FrameDecoder(64)
  const big = Buffer.from([0xff, 0xff, 0xff, 0xff])
  small.push(Buffer.concat([frames[0] as Buffer, big]), () => false)
  assert.throws(() => small.resume(() => true), /maxFrameSize/)
})

test.run()
