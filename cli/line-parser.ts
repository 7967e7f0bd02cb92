/**
 * The `key|value` line format of `pyshard write`, with the seed's value rules:
 * a value starting with `{` or `[` is JSON (and a bad line when it does not
 * parse), an integer or a float becomes a number, anything else is the string
 * exactly as written. The first `|` separates key from value, so values may
 * hold `|` but keys cannot.
 */
import type { Json } from '../src/index.js'

/** A line that parsed: its key and document. */
export interface ParsedLine { ok: true; key: string; value: Json }
/** A line that did not: why, in words that name the rule it breaks. */
export interface BadLine { ok: false; reason: string }

const INTEGER = /^[+-]?\d+$/
// Python's float() also takes inf, nan and digit underscores; JSON has no place for the
// first two and the seed's inputs never used the last, so those stay strings.
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

const OPEN_BRACE = 0x7b // {
const OPEN_BRACKET = 0x5b // [

/**
 * The document a value stands for. Integers beyond 2^53 and floats beyond the
 * double range stay strings, so that no digit is silently changed.
 * Throws SyntaxError for a `{`/`[` value that is not JSON.
 */
export function parseValue(text: string): Json {
  const first = text.charCodeAt(0)
  if (first === OPEN_BRACE || first === OPEN_BRACKET) return JSON.parse(text) as Json
  if (INTEGER.test(text)) {
    const n = Number(text)
    return Number.isSafeInteger(n) ? n : text
  }
  if (FLOAT.test(text)) {
    const n = Number(text)
    return Number.isFinite(n) ? n : text
  }
  return text
}

/** Splits and parses one line (without its line break). */
export function parseLine(line: string): ParsedLine | BadLine {
  const bar = line.indexOf('|')
  if (bar === -1) return { ok: false, reason: 'no "|" between key and value' }
  if (bar === 0) return { ok: false, reason: 'empty key' }
  const raw = line.slice(bar + 1)
  try {
    return { ok: true, key: line.slice(0, bar), value: parseValue(raw) }
  } catch (err) {
    const kind = raw.charCodeAt(0) === OPEN_BRACE ? 'an object' : 'an array'
    return { ok: false, reason: `value starts like ${kind} but is not valid JSON (${(err as Error).message})` }
  }
}
