/**
 * Conformance concern: values. One rule for documents and keys on every transport:
 * what is accepted reads back equal (own `__proto__`/`constructor` keys, lone
 * surrogates, large and tiny numbers, -0 as JSON writes it); what is not JSON is
 * refused BAD_REQUEST and nothing is stored; two distinct keys never collide.
 * Regression: over tcp a lone surrogate became U+FFFD ("x\uD800" and "x\uDBFF" were one
 * key) and an own `__proto__` key was lost; a Set came back as an array.
 */
import * as assert from 'uvu/assert'
import type { Test } from 'uvu'
import type { Pyshard, Json } from '../../src/index.js'
import { rejectsWith } from '../helpers/assert.js'

let counter = 0
const fresh = (): string => `values${++counter}_${process.pid}`

function nested(levels: number): Json {
  let d: Json = 1
  for (let i = 0; i < levels; i++) d = [d]
  return d
}

class Point {
  x = 1
  y = 2
}

const ACCEPTED: [string, () => Json][] = [
  ['own __proto__ and constructor keys', () => JSON.parse('{"__proto__":{"polluted":true},"constructor":{"name":"x"},"a":1}') as Json],
  ['lone surrogates in a document', () => ({ high: 'x\uD800', low: '\uDC00y', both: ['\uDBFF', 'a\uDFFFb'], ['k\uD801']: 1 })],
  ['a lone surrogate string as the whole document', () => '\uD800'],
  ['large and tiny numbers', () => [Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 60, -(2 ** 40), 1e-300, 0.1 + 0.2]],
  ['-0 (read back as JSON writes it)', () => ({ z: -0, list: [-0] })],
  ['nesting of 64 levels', () => nested(64)],
]

const REFUSED: [string, () => unknown][] = [
  ['a Set', () => ({ s: new Set([1]) })],
  ['a Map', () => ({ m: new Map([['a', 1]]) })],
  ['a Date', () => ({ d: new Date(0) })],
  ['a RegExp', () => ({ r: /x/g })],
  ['a class instance', () => ({ p: new Point() })],
  ['a class instance as the document', () => new Point()],
  ['a BigInt', () => ({ n: 1n })],
  ['a function', () => ({ f: () => 1 })],
  ['undefined inside a document', () => ({ u: undefined })],
  ['undefined as the document', () => undefined],
  ['NaN', () => ({ n: NaN })],
  ['Infinity', () => [Infinity]],
  ['nesting over 64 levels', () => nested(65)],
]

/** Registers the values concern on `test` (a suite whose context holds the store as `db`). */
export function values(test: Test<{ db: Pyshard }>, _caps: unknown = {}): void {
  test('values: what is accepted reads back equal (own __proto__ keys, lone surrogates, extreme numbers, -0, 64 levels)', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    for (const [label, make] of ACCEPTED) {
      const doc = make()
      await db.write(index, label, doc)
      const back = (await db.read(index, label))?.record
      assert.is(JSON.stringify(back), JSON.stringify(doc), label)
      // uvu's deep equality compares `.constructor` first, which an own "constructor" key replaces.
      if (!(doc !== null && typeof doc === 'object' && Object.hasOwn(doc, 'constructor'))) assert.equal(back, doc, label)
      if (back !== null && typeof back === 'object' && !Array.isArray(back)) {
        assert.is(Object.getPrototypeOf(back), Object.prototype, `${label}: a plain object`)
        for (const k of Object.keys(doc as object)) assert.ok(Object.hasOwn(back, k), `${label}: own key ${k}`)
      }
    }
    const polluted = (await db.read(index, 'own __proto__ and constructor keys'))?.record as Record<string, unknown>
    assert.is(({} as Record<string, unknown>).polluted, undefined, 'no prototype was touched')
    assert.is(polluted.polluted, undefined, 'the __proto__ key did not become the prototype')
  })

  test('values: two distinct keys never collide (lone surrogates included)', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    const keys = ['x\uD800', 'x\uDBFF', 'x\uDC00', 'x\uFFFD', 'x', '\uD800x', '\uDC00\uD800']
    for (const [i, key] of keys.entries()) await db.write(index, key, i)
    for (const [i, key] of keys.entries()) assert.is((await db.read(index, key))?.record, i, JSON.stringify(key))
    const listed: string[] = []
    for await (const [key] of db.entries(index)) listed.push(key)
    assert.equal(listed.sort(), [...keys].sort())
  })

  test('values: what is not JSON is refused BAD_REQUEST and nothing is stored', async ({ db }) => {
    const index = fresh()
    await db.createIndex(index)
    for (const [label, make] of REFUSED) {
      await rejectsWith(db.write(index, label, make() as Json), 'BAD_REQUEST')
      assert.is(await db.read(index, label), null, `${label}: nothing stored`)
    }
    // The store still serves after every refusal.
    await db.write(index, 'after', { ok: true })
    assert.equal((await db.read(index, 'after'))?.record, { ok: true })
  })
}
