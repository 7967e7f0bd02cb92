import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseLine, parseValue } from '../cli/line-parser.js'
import { LineSplitter } from '../cli/line-splitter.js'

const test = suite('cli: key|value line parser and line splitter')

test('values follow the seed: object, array, integer, float, else the string as written', () => {
  assert.equal(parseValue('{"test": "test"}'), { test: 'test' })
  assert.equal(parseValue('[1, "a", null]'), [1, 'a', null])
  assert.is(parseValue('42'), 42)
  assert.is(parseValue('-7'), -7)
  assert.is(parseValue('+5'), 5)
  assert.is(parseValue('0.9'), 0.9)
  assert.is(parseValue('.5'), 0.5)
  assert.is(parseValue('1e3'), 1000)
  assert.is(parseValue('-2.5E-2'), -0.025)
  assert.is(parseValue('test'), 'test')
  assert.is(parseValue(''), '')
  assert.is(parseValue(' 42'), ' 42', 'spaces keep it a string, as written')
  assert.is(parseValue('true'), 'true', 'only { and [ start JSON')
  assert.is(parseValue('null'), 'null')
  assert.is(parseValue('"quoted"'), '"quoted"')
  assert.is(parseValue('1.2.3'), '1.2.3')
  assert.is(parseValue('0x10'), '0x10')
  assert.is(parseValue('inf'), 'inf')
})

test('numbers that a double would change stay strings', () => {
  assert.is(parseValue('12345678901234567890'), '12345678901234567890')
  assert.is(parseValue('9007199254740991'), 9007199254740991)
  assert.is(parseValue('1e999'), '1e999')
})

test('the first | splits, so values may hold |', () => {
  assert.equal(parseLine('k|a|b'), { ok: true, key: 'k', value: 'a|b' })
  assert.equal(parseLine('k|{"x":"|"}'), { ok: true, key: 'k', value: { x: '|' } })
  assert.equal(parseLine('k|'), { ok: true, key: 'k', value: '' })
  assert.equal(parseLine(' k |1'), { ok: true, key: ' k ', value: 1 })
})

test('bad lines: no |, empty key, { or [ that is not JSON', () => {
  const noBar = parseLine('just text')
  assert.is(noBar.ok, false)
  assert.match((noBar as { reason: string }).reason, /no "\|"/)
  const empty = parseLine('|value')
  assert.is(empty.ok, false)
  assert.match((empty as { reason: string }).reason, /empty key/)
  const obj = parseLine('k|{not json')
  assert.is(obj.ok, false)
  assert.match((obj as { reason: string }).reason, /object but is not valid JSON/)
  const arr = parseLine('k|[1,')
  assert.match((arr as { reason: string }).reason, /array but is not valid JSON/)
})

function split(chunks: (string | Buffer)[], maxLine = 100): { lines: [string, number][]; tooLong: number[] } {
  const lines: [string, number][] = []
  const tooLong: number[] = []
  const s = new LineSplitter(maxLine, { line: (t, n) => lines.push([t, n]), tooLong: (n) => tooLong.push(n) })
  for (const c of chunks) s.push(c)
  s.end()
  return { lines, tooLong }
}

test('splitter: lines across chunks, CRLF, a last line without a break, numbering', () => {
  const r = split(['a|1\nb|', '2\r\nc', '|3'])
  assert.equal(r.lines, [['a|1', 1], ['b|2', 2], ['c|3', 3]])
  assert.equal(r.tooLong, [])
  assert.equal(split(['x\n\ny\n']).lines, [['x', 1], ['', 2], ['y', 3]])
})

test('splitter: a UTF-8 character split between chunks', () => {
  const bytes = Buffer.from('k|ключ 😀\n')
  const r = split([bytes.subarray(0, 4), bytes.subarray(4, 11), bytes.subarray(11)])
  assert.equal(r.lines, [['k|ключ 😀', 1]])
})

test('splitter: a line over the limit is dropped and numbered, memory bounded, later lines kept', () => {
  const long = 'k|' + 'x'.repeat(50)
  const r = split(['a|1\n', long.slice(0, 20), long.slice(20), long, '\nb|2\n', long + '\n', 'c|3'], 30)
  assert.equal(r.lines, [['a|1', 1], ['b|2', 3], ['c|3', 5]])
  assert.equal(r.tooLong, [2, 4])
  assert.equal(split(['ok\n', long], 30).tooLong, [2], 'an over-long last line without a break')
})

test.run()
