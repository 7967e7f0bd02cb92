// The worker transport's wire codecs carry batches and answers exactly:
// order, shapes, "value missing" vs null vs undefined, errors, odd numbers.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { makeCodec } from '../transports/worker/codec.js'
import type { Codec, Part } from '../transports/worker/messages.js'
import type { Request, Response } from '../src/index.js'

const test = suite('worker codecs')

const parts: Part[] = [
  {
    shard: 2,
    reqs: [
      { op: 'read', index: 'i', key: 'a', hash: 0.1 },
      { op: 'write', index: 'i', key: 'b', hash: 0.2, doc: { nested: [1, null, 'x'] }, ttl: 5 },
      { op: 'read', index: 'i', key: 'c', hash: 0.3 },
      { op: 'write', index: 'i', key: 'd', hash: 0.4, doc: null },
      { op: 'run', index: 'i', name: 'p' },
      { op: 'write', index: 'i', key: 'e', hash: 0.5, doc: 'same' },
      { op: 'write', index: 'i', key: 'f', hash: 0.5, doc: 'same' },
    ] as Request[],
  },
  { shard: 0, reqs: [] },
  { shard: 1, reqs: [{ op: 'stat' }, { op: 'indexes' }] },
]
const answers: Response[][] = [
  [{ ok: true, value: 'doc' }, { ok: true, value: 12 }, { ok: true }, { ok: true, value: null },
    { ok: true }, { ok: false, code: 'SHARD_FULL', message: 'full' }, { ok: false, code: 'MOVED', message: 'm', epoch: 3 }],
  [],
  [{ ok: true, value: { count: 1 } }, { ok: true, value: ['i'] }],
]

for (const codec of ['clone', 'columns', 'msgpack'] as Codec[]) {
  test(`${codec}: batches and answers round-trip through structured clone`, () => {
    const a = makeCodec(codec)
    const b = makeCodec(codec)
    const batch = a.encodeBatch(parts)
    const got = b.decodeBatch(structuredClone(batch.body, batch.transfer ? { transfer: batch.transfer } : undefined))
    assert.equal(got, parts)
    const reply = b.encodeReply(answers)
    const back = a.decodeReply(structuredClone(reply.body, reply.transfer ? { transfer: reply.transfer } : undefined))
    assert.equal(back, answers)
    const absent = (back[0] as Response[])[2] as Response
    assert.not.ok('value' in absent, 'an absent value stays absent, not null or undefined')
  })

  test(`${codec}: numbers keep NaN, -0 and large values; one-part batches`, () => {
    const c = makeCodec(codec)
    const reqs = [0.25, -0, Number.MAX_VALUE, 5e-324].map((hash, i): Request => ({ op: 'has', index: 'n', key: `k${i}`, hash }))
    const part = c.decodeBatch(structuredClone(c.encodeBatch([{ shard: 0, reqs }]).body))[0] as Part
    assert.equal(part.reqs, reqs)
    // msgpack writes -0 as the integer 0, as JSON would; the clone codecs keep it.
    if (codec !== 'msgpack') assert.ok(Object.is((part.reqs[1] as { hash: number }).hash, -0))
    const res: Response[] = [{ ok: true, value: 1 }, { ok: true, value: Number.NaN }, { ok: true, value: 3 }]
    const out = c.decodeReply(structuredClone(c.encodeReply([res]).body))[0] as Response[]
    assert.ok(Number.isNaN((out[1] as { value: number }).value))
    assert.is((out[2] as { value: number }).value, 3)
  })
}

test.run()
