/**
 * The values the wire carries: standard MessagePack (any MessagePack library
 * reads and writes it), plus two extensions, both specified in docs/wire.md:
 *
 * - **UTF-16 strings** (ext type 1): a string that is not well-formed Unicode
 *   (it holds a lone surrogate, which UTF-8 cannot carry) travels as its UTF-16
 *   code units, so `"x\uD800"` and `"x\uDBFF"` stay two strings. Always on: a
 *   client that never sends such strings only receives them if data holds them.
 * - **Shapes** (only on a connection whose HELLO asked for them): an object whose
 *   keys are exactly one of `SHAPES`, in order, is written as the shape's id (one
 *   byte, 0x40 to 0x4b) followed by its values, with no key names. On such a
 *   connection the integers 0x40 to 0x4b are written as uint 8 instead of
 *   positive fixint.
 *
 * Written by hand rather than with a general library because the rules above are
 * the wire's own: maps decode to plain objects (an own `__proto__` key stays an
 * own key), `-0` travels as `0` (as JSON writes it), and what is not JSON
 * (`undefined` inside a document, `Map`, `Set`, `Date`, class instances,
 * `BigInt`, functions, binary) is refused BAD_REQUEST at the encoder instead of
 * being turned into something else.
 */
import { BadRequestError } from '../../src/errors.js'

/** Deepest nesting the codec reads or writes; documents are held to 64 by the shard, this leaves room for the envelope. */
export const MAX_WIRE_DEPTH = 100

/** Ext type of a string carried as UTF-16 code units (little-endian). */
export const EXT_UTF16 = 1

/** One object shape of the shapes extension: its id on the wire and its keys in order. */
export interface Shape {
  readonly name: string
  readonly id: number
  readonly keys: readonly string[]
}

function shape(name: string, id: number, keys: string[]): Shape {
  return Object.freeze({ name, id, keys: Object.freeze(keys) })
}

/**
 * The objects that make up most traffic: requests as the router builds them and
 * responses as `execute` returns them. Part of the wire format (docs/wire.md lists them).
 */
export const SHAPES = {
  keyed: shape('keyed', 0x40, ['op', 'index', 'key', 'hash']),
  write: shape('write', 0x41, ['op', 'index', 'key', 'hash', 'doc']),
  writeIfAbsent: shape('writeIfAbsent', 0x42, ['op', 'index', 'key', 'hash', 'doc', 'ifAbsent']),
  writeTtl: shape('writeTtl', 0x43, ['op', 'index', 'key', 'hash', 'doc', 'ttl']),
  writeIfAbsentTtl: shape('writeIfAbsentTtl', 0x44, ['op', 'index', 'key', 'hash', 'doc', 'ifAbsent', 'ttl']),
  scan: shape('scan', 0x45, ['op', 'index', 'cursor', 'count', 'values']),
  okValue: shape('okValue', 0x46, ['ok', 'value']),
  ok: shape('ok', 0x47, ['ok']),
  error: shape('error', 0x48, ['ok', 'code', 'message']),
  moved: shape('moved', 0x49, ['ok', 'code', 'message', 'epoch']),
  scanPage: shape('scanPage', 0x4a, ['cursor', 'keys', 'records']),
  scanPageKeys: shape('scanPageKeys', 0x4b, ['cursor', 'keys']),
} as const

const FIRST_SHAPE = 0x40
const BY_ID: Shape[] = Object.values(SHAPES).sort((a, b) => a.id - b.id)
const LAST_SHAPE = FIRST_SHAPE + BY_ID.length - 1
/** Shapes by their first key, longest first is irrelevant: a match is exact. */
const BY_FIRST = new Map<string, Shape[]>()
for (const s of BY_ID) {
  const k = s.keys[0] as string
  BY_FIRST.set(k, [...(BY_FIRST.get(k) ?? []), s])
}

// ---- Writer ----

/** Values are written here; a value bigger than it gets a buffer of its own. */
const SCRATCH = Buffer.allocUnsafeSlow(64 * 1024)
let out: Buffer = SCRATCH
let pos = 0
let useShapes = false

/** ES2024 (Node 20 has it; the project's lib setting is older). */
interface WellFormed { isWellFormed(): boolean }

interface Utf8 { utf8Write(s: string, offset: number, length?: number): number; utf8Slice(start: number, end: number): string; latin1Slice(start: number, end: number): string }

function room(n: number): void {
  if (pos + n <= out.length) return
  const bigger = Buffer.allocUnsafeSlow(Math.max(out.length * 2, pos + n + 1024))
  out.copy(bigger, 0, 0, pos)
  out = bigger
}

function notJson(what: string): never {
  throw new BadRequestError(`the value holds ${what}, which is not JSON`)
}

function isPlainObject(o: object): boolean {
  const proto = Object.getPrototypeOf(o)
  return proto === Object.prototype || proto === null
}

function writeString(s: string): void {
  const n = s.length
  if (n < 0x20) {
    room(1 + n)
    let p = pos + 1
    let i = 0
    for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) break
      out[p++] = c
    }
    if (i === n) {
      out[pos] = 0xa0 | n
      pos = p
      return
    }
  }
  if (!(s as unknown as WellFormed).isWellFormed()) return writeUtf16(s)
  const max = 3 * n
  const head = max < 0x20 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5
  room(head + max)
  const len = (out as unknown as Utf8).utf8Write(s, pos + head)
  if (head === 1) out[pos] = 0xa0 | len
  else if (head === 2) {
    out[pos] = 0xd9
    out[pos + 1] = len
  } else if (head === 3) {
    out[pos] = 0xda
    out.writeUInt16BE(len, pos + 1)
  } else {
    out[pos] = 0xdb
    out.writeUInt32BE(len, pos + 1)
  }
  pos += head + len
}

/** A string that is not well-formed Unicode: ext type 1, its UTF-16 code units little-endian. */
function writeUtf16(s: string): void {
  const len = 2 * s.length
  room(6 + len)
  if (len === 2 || len === 4 || len === 8 || len === 16) {
    out[pos++] = len === 2 ? 0xd5 : len === 4 ? 0xd6 : len === 8 ? 0xd7 : 0xd8
  } else if (len < 0x100) {
    out[pos++] = 0xc7
    out[pos++] = len
  } else if (len < 0x10000) {
    out[pos++] = 0xc8
    out.writeUInt16BE(len, pos)
    pos += 2
  } else {
    out[pos++] = 0xc9
    out.writeUInt32BE(len, pos)
    pos += 4
  }
  out[pos++] = EXT_UTF16
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    out[pos++] = c & 0xff
    out[pos++] = c >> 8
  }
}

function writeNumber(v: number): void {
  room(9)
  if (Number.isInteger(v)) {
    if (v >= 0) {
      // -0 is written as 0, as JSON writes it.
      if (v < 0x80 && !(useShapes && v >= FIRST_SHAPE && v <= LAST_SHAPE)) out[pos++] = v
      else if (v < 0x100) {
        out[pos++] = 0xcc
        out[pos++] = v
      } else if (v < 0x10000) {
        out[pos++] = 0xcd
        out.writeUInt16BE(v, pos)
        pos += 2
      } else if (v < 0x100000000) {
        out[pos++] = 0xce
        out.writeUInt32BE(v, pos)
        pos += 4
      } else if (v <= Number.MAX_SAFE_INTEGER) {
        out[pos++] = 0xcf
        out.writeUInt32BE(Math.floor(v / 0x100000000), pos)
        out.writeUInt32BE(v >>> 0, pos + 4)
        pos += 8
      } else writeDouble(v)
      return
    }
    if (v >= -0x20) out[pos++] = 0x100 + v
    else if (v >= -0x80) {
      out[pos++] = 0xd0
      out[pos++] = v + 0x100
    } else if (v >= -0x8000) {
      out[pos++] = 0xd1
      out.writeInt16BE(v, pos)
      pos += 2
    } else if (v >= -0x80000000) {
      out[pos++] = 0xd2
      out.writeInt32BE(v, pos)
      pos += 4
    } else if (v >= Number.MIN_SAFE_INTEGER) {
      out[pos++] = 0xd3
      out.writeBigInt64BE(BigInt(v), pos)
      pos += 8
    } else writeDouble(v)
    return
  }
  writeDouble(v)
}

function writeDouble(v: number): void {
  out[pos++] = 0xcb
  out.writeDoubleBE(v, pos)
  pos += 8
}

/** An array or map header: fix form under 16 entries, else the 16- or 32-bit form. */
function writeHead(n: number, fix: number, c16: number, c32: number): void {
  room(5)
  if (n < 0x10) out[pos++] = fix | n
  else if (n < 0x10000) {
    out[pos++] = c16
    out.writeUInt16BE(n, pos)
    pos += 2
  } else {
    out[pos++] = c32
    out.writeUInt32BE(n, pos)
    pos += 4
  }
}

function writeArrayHead(n: number): void {
  writeHead(n, 0x90, 0xdc, 0xdd)
}

function writeMapHead(n: number): void {
  writeHead(n, 0x80, 0xde, 0xdf)
}

/** The shape whose keys are exactly the own enumerable keys of `o`, in order. */
function shapeOf(o: object): Shape | undefined {
  let first: string | undefined
  for (first in o) break
  if (first === undefined) return undefined
  const candidates = BY_FIRST.get(first)
  if (candidates === undefined) return undefined
  for (const s of candidates) {
    let i = 0
    let same = true
    for (const k in o) {
      if (k !== s.keys[i++]) {
        same = false
        break
      }
    }
    if (same && i === s.keys.length) return s
  }
  return undefined
}

/**
 * @param depth 0 for the frame body itself. At depth 0 and 1 (the body and the
 * requests or responses in it) a property set to `undefined` is left out, as JSON
 * does; deeper (inside a document) it is refused.
 */
function writeValue(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'string': return writeString(v)
    case 'number': return writeNumber(v)
    case 'boolean':
      room(1)
      out[pos++] = v ? 0xc3 : 0xc2
      return
    case 'object': {
      if (v === null) {
        room(1)
        out[pos++] = 0xc0
        return
      }
      if (depth >= MAX_WIRE_DEPTH) throw new BadRequestError(`the value nests deeper than ${MAX_WIRE_DEPTH} levels (or is cyclic)`)
      if (Array.isArray(v)) {
        const n = v.length
        writeArrayHead(n)
        for (let i = 0; i < n; i++) writeValue(v[i], depth + 1)
        return
      }
      if (!isPlainObject(v)) notJson(`a ${(v as object).constructor?.name ?? 'non-plain'} object`)
      return writeObject(v as Record<string, unknown>, depth)
    }
    case 'undefined': return notJson('undefined')
    case 'bigint': return notJson('a BigInt')
    default: return notJson(`a ${typeof v}`)
  }
}

function writeObject(o: Record<string, unknown>, depth: number): void {
  if (useShapes) {
    const s = shapeOf(o)
    if (s !== undefined) {
      const start = pos
      room(1)
      out[pos++] = s.id
      let whole = true
      for (const k of s.keys) {
        const value = o[k]
        if (value === undefined) {
          whole = false
          break
        }
        writeValue(value, depth + 1)
      }
      if (whole) return
      pos = start // a field set to undefined: written as a map below, without it
    }
  }
  const keys = Object.keys(o)
  let n = keys.length
  const shallow = depth <= 1
  if (shallow) for (const k of keys) if (o[k] === undefined) n--
  writeMapHead(n)
  for (const k of keys) {
    const value = o[k]
    if (value === undefined) {
      if (shallow) continue
      notJson(`undefined (at key ${JSON.stringify(k)})`)
    }
    writeString(k)
    writeValue(value, depth + 1)
  }
}

/**
 * Encodes `value` after `reserve` bytes left for the caller (a frame header).
 * Throws BAD_REQUEST for what is not JSON (see the module comment).
 * @param shapes write objects of the known shapes in the shapes extension
 */
export function encodeValue(value: unknown, shapes = false, reserve = 0): Buffer {
  out = SCRATCH
  pos = reserve
  useShapes = shapes
  try {
    writeValue(value, 0)
  } catch (err) {
    out = SCRATCH
    if (err instanceof RangeError) throw new BadRequestError(`the value cannot be encoded: ${err.message}`, { cause: err })
    throw err
  }
  if (out !== SCRATCH) {
    const own = out.subarray(0, pos)
    out = SCRATCH
    return own
  }
  const copy = Buffer.allocUnsafe(pos)
  SCRATCH.copy(copy, 0, 0, pos)
  return copy
}

// ---- Reader ----

let src: Buffer = SCRATCH
let at = 0
let end = 0
let readShapes = false

function bad(message: string): never {
  throw new BadRequestError(`frame body is not valid MessagePack: ${message}`)
}

function need(n: number): void {
  if (at + n > end) bad(`a value runs past the end of the body (at byte ${at})`)
}

function readString(n: number): string {
  need(n)
  const start = at
  at += n
  if (n < 0x40) {
    let i = start
    while (i < at && (src[i] as number) < 0x80) i++
    if (i === at) return (src as unknown as Utf8).latin1Slice(start, at)
  }
  return (src as unknown as Utf8).utf8Slice(start, at)
}

function readExt(n: number): unknown {
  need(1 + n)
  const type = src[at] as number
  at++
  if (type !== EXT_UTF16) bad(`unknown extension type ${type > 127 ? type - 256 : type}`)
  if (n % 2 !== 0) bad('a UTF-16 string extension has an odd length')
  let s = ''
  for (let i = at; i < at + n; i += 2) s += String.fromCharCode((src[i] as number) | ((src[i + 1] as number) << 8))
  at += n
  return s
}

function readArray(n: number, depth: number): unknown[] {
  if (n > end - at) bad(`an array of ${n} items cannot fit in the body`)
  const a = new Array<unknown>(n)
  for (let i = 0; i < n; i++) a[i] = readValue(depth + 1)
  return a
}

function readMap(n: number, depth: number): Record<string, unknown> {
  if (2 * n > end - at) bad(`a map of ${n} entries cannot fit in the body`)
  const o: Record<string, unknown> = {}
  for (let i = 0; i < n; i++) {
    const key = readValue(depth + 1)
    if (typeof key !== 'string') bad('a map key is not a string')
    const value = readValue(depth + 1)
    // An own "__proto__" key stays an own key (an assignment would set the prototype).
    if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true })
    else o[key] = value
  }
  return o
}

function readShape(s: Shape, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (const k of s.keys) o[k] = readValue(depth + 1)
  return o
}

function readValue(depth: number): unknown {
  if (depth > MAX_WIRE_DEPTH) bad(`values nest deeper than ${MAX_WIRE_DEPTH} levels`)
  need(1)
  const t = src[at++] as number
  if (t < 0x80) {
    if (readShapes && t >= FIRST_SHAPE && t <= LAST_SHAPE) return readShape(BY_ID[t - FIRST_SHAPE] as Shape, depth)
    return t
  }
  if (t >= 0xe0) return t - 0x100
  if (t < 0x90) return readMap(t & 0x0f, depth)
  if (t < 0xa0) return readArray(t & 0x0f, depth)
  if (t < 0xc0) return readString(t & 0x1f)
  let v: unknown
  switch (t) {
    case 0xc0: return null
    case 0xc2: return false
    case 0xc3: return true
    case 0xc4: case 0xc5: case 0xc6: return bad('binary values are not JSON')
    case 0xc7: need(1); v = src[at]; at += 1; return readExt(v as number)
    case 0xc8: need(2); v = src.readUInt16BE(at); at += 2; return readExt(v as number)
    case 0xc9: need(4); v = src.readUInt32BE(at); at += 4; return readExt(v as number)
    case 0xca: need(4); v = src.readFloatBE(at); at += 4; return v
    case 0xcb: need(8); v = src.readDoubleBE(at); at += 8; return v
    case 0xcc: need(1); return src[at++]
    case 0xcd: need(2); v = src.readUInt16BE(at); at += 2; return v
    case 0xce: need(4); v = src.readUInt32BE(at); at += 4; return v
    case 0xcf: need(8); v = Number(src.readBigUInt64BE(at)); at += 8; return v
    case 0xd0: need(1); v = src.readInt8(at); at += 1; return v
    case 0xd1: need(2); v = src.readInt16BE(at); at += 2; return v
    case 0xd2: need(4); v = src.readInt32BE(at); at += 4; return v
    case 0xd3: need(8); v = Number(src.readBigInt64BE(at)); at += 8; return v
    case 0xd4: return readExt(1)
    case 0xd5: return readExt(2)
    case 0xd6: return readExt(4)
    case 0xd7: return readExt(8)
    case 0xd8: return readExt(16)
    case 0xd9: need(1); v = src[at]; at += 1; return readString(v as number)
    case 0xda: need(2); v = src.readUInt16BE(at); at += 2; return readString(v as number)
    case 0xdb: need(4); v = src.readUInt32BE(at); at += 4; return readString(v as number)
    case 0xdc: need(2); v = src.readUInt16BE(at); at += 2; return readArray(v as number, depth)
    case 0xdd: need(4); v = src.readUInt32BE(at); at += 4; return readArray(v as number, depth)
    case 0xde: need(2); v = src.readUInt16BE(at); at += 2; return readMap(v as number, depth)
    case 0xdf: need(4); v = src.readUInt32BE(at); at += 4; return readMap(v as number, depth)
    default: return bad(`byte 0x${t.toString(16)} starts no MessagePack value`)
  }
}

/**
 * Decodes one value that must fill `body` exactly; BAD_REQUEST when it is not
 * MessagePack of the kinds the wire allows. Strings are copied out, so the result
 * shares no memory with `body`.
 * @param shapes read the shapes extension (only on a connection that asked for it)
 */
export function decodeValue(body: Buffer, shapes = false): unknown {
  src = body
  at = 0
  end = body.length
  readShapes = shapes
  try {
    const v = readValue(0)
    if (at !== end) bad(`${end - at} bytes follow the value`)
    return v
  } finally {
    src = SCRATCH // do not keep the caller's chunk alive
  }
}
