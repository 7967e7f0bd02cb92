/**
 * The wire format of the TCP transport and the bootstrap server: frames and the
 * encoding of what they carry. Pure Buffer code (no sockets), so it is tested
 * and benchmarked on its own.
 *
 * A frame is
 *
 * ```
 * u32 BE  length of what follows (kind + id + body)
 * u8      kind (see `FrameKind`)
 * u32 BE  id (a BATCH and its RESULT share one; 0 for connection-level frames)
 * ...     body: one MessagePack value
 * ```
 *
 * Bodies are MessagePack (msgpackr). It keeps what JSON loses: a missing
 * property (an absent read) stays missing, `null` stays `null`, and
 * `undefined`, NaN or a function inside a document survive the trip so the
 * shard refuses them with BAD_REQUEST instead of storing an altered document.
 * Objects of the shapes the router and `execute` produce (`SHAPES`) travel as
 * msgpackr records whose key lists both ends know in advance, so a frame holds
 * no key names and no record definitions for them; any other object is sent
 * with its definition inline. Nothing is shared between frames, so frames may
 * be encoded, dropped or reordered freely, and no frame (whatever record
 * definitions it carries) changes how the next one decodes. Measured on the benchmark workload
 * (docs/tcp.md): a one-request round trip of encode + decode on both ends
 * costs about 1.8 µs with these known shapes, 3.9 to 4.9 µs with inline records,
 * 2.9 µs as JSON; batches of 100 cost about half of JSON per item.
 */
import { Packr, RESERVE_START_SPACE } from 'msgpackr'
import { BadRequestError, FrameTooLargeError } from '../../src/errors.js'
import type { ErrorCode } from '../../src/errors.js'

/** Bytes before the body: length (4), kind (1), id (4). */
export const FRAME_HEADER = 9

/** Version spoken in HELLO; a server refuses another one. Bump it whenever `SHAPES` changes. */
export const PROTOCOL_VERSION = 1

/** Default hard limit on one frame (length field included): 64 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024

/** Largest id before ids wrap around to 1. */
export const MAX_FRAME_ID = 0xffffffff

/** What a frame is. */
export const FrameKind = {
  /** Client → server, first frame of a connection: `HelloBody`. */
  HELLO: 1,
  /** Server → client: `HelloOkBody`. */
  HELLO_OK: 2,
  /** Client → server: a batch of requests (`unknown[]`, one per request). */
  BATCH: 3,
  /** Server → client: one response per request of the BATCH with the same id. */
  RESULT: 4,
  /** Server → client: `ErrorBody`; the server closes the connection after it. */
  ERROR: 5,
  /**
   * Server → client: the server is closing. It still answers what arrives; the client
   * sends nothing new on this connection and ends it once its answers are in.
   */
  GOAWAY: 6,
  /**
   * Server → client: the first responses of the BATCH with this id, more follow; the last ones
   * come in a RESULT frame. Only to a client whose HELLO gave `maxFrameSize` (an answer bigger
   * than that travels in parts instead of tearing down the connection).
   */
  RESULT_PART: 7,
} as const

export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind]

/** First frame of every connection. */
export interface HelloBody {
  /** Protocol version (`PROTOCOL_VERSION`). */
  v: number
  /** The server's token, when it has one. */
  token?: string
  /** Largest frame this client accepts: answers bigger than it come split into RESULT_PART frames. */
  maxFrameSize?: number
}

/** The server's answer to HELLO. */
export interface HelloOkBody {
  v: number
  /** What answered: a shard server or a bootstrap server. */
  role: 'shard' | 'bootstrap'
}

/** A connection-level failure, sent just before the server closes the connection. */
export interface ErrorBody {
  code: ErrorCode
  message: string
}

/** One decoded frame. `body` is still encoded (see `decodeBody`); it may share memory with the chunk it came from. */
export interface Frame {
  kind: number
  id: number
  body: Buffer
}

/**
 * Key lists (in property order) of the objects that make up most traffic: the
 * requests the router builds and the responses `execute` returns. Part of the
 * wire format: both ends must agree, hence `PROTOCOL_VERSION`.
 */
const SHAPES: readonly (readonly string[])[] = [
  ['op', 'index', 'key', 'hash'],
  ['op', 'index', 'key', 'hash', 'doc'],
  ['op', 'index', 'key', 'hash', 'doc', 'ifAbsent'],
  ['op', 'index', 'key', 'hash', 'doc', 'ttl'],
  ['op', 'index', 'key', 'hash', 'doc', 'ifAbsent', 'ttl'],
  ['op', 'index', 'cursor', 'count', 'values'],
  ['ok', 'value'],
  ['ok'],
  ['ok', 'code', 'message'],
  ['ok', 'code', 'message', 'epoch'],
  ['cursor', 'keys', 'records'],
  ['cursor', 'keys'],
]

function makePackr(): Packr {
  // isShared: msgpackr puts back a shared structure that a frame redefined inline once that
  // frame is decoded (or fails). Without it, one frame holding its own record definitions
  // for ids 0x40.. would change how every later frame decodes, from every connection.
  const structures = SHAPES.map((keys) => Object.assign([...keys], { isShared: true }))
  // No room for more shared structures: any other shape is defined inside its own frame.
  // copyBuffers: a decoded binary value must not be a view of the chunk it came in, which a
  // client reading into one reused buffer (`onread`) overwrites with the next read.
  return new Packr({ structures, maxSharedStructures: structures.length, moreTypes: false, copyBuffers: true })
}

// One encoder and one decoder per process: msgpackr appends each value to its own
// growing buffer and hands back a view, so buffers it returned stay valid.
const packr = makePackr()
const unpackr = makePackr()

/** Encodes a value as a frame body. Throws what msgpackr throws (e.g. for a cyclic value). */
export function encodeBody(value: unknown): Buffer {
  return packr.pack(value)
}

/** Decodes a frame body; BAD_REQUEST when it is not MessagePack. */
export function decodeBody(body: Buffer): unknown {
  try {
    return unpackr.unpack(body)
  } catch (err) {
    throw new BadRequestError(`frame body is not valid MessagePack: ${(err as Error).message}`, { cause: err })
  }
}

/** A whole frame around an already encoded body (copies it). */
export function frame(kind: FrameKind, id: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + body.length)
  out.writeUInt32BE(body.length + 5, 0)
  out[4] = kind
  out.writeUInt32BE(id, 5)
  out.set(body, FRAME_HEADER)
  return out
}

/** Encodes `value` straight into a frame (msgpackr leaves room for the header: no copy). Throws what msgpackr throws. */
export function encodeFrame(kind: FrameKind, id: number, value: unknown): Buffer {
  const out = packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER)
  out.writeUInt32BE(out.length - 4, 0)
  out[4] = kind
  out.writeUInt32BE(id, 5)
  return out
}

/** Sets the id of an encoded frame (a client encodes a batch before it knows the id it will travel under). */
export function setFrameId(buf: Buffer, id: number): void {
  buf.writeUInt32BE(id, 5)
}

/**
 * What `FrameDecoder.push` calls for each complete frame. Returning `false` stops the cutting
 * after this frame: the rest of the input is kept until `resume` (a server whose answers
 * pile up stops reading until the peer has taken them).
 */
export type OnFrame = (kind: number, id: number, body: Buffer) => boolean | void

/**
 * Cuts a byte stream into frames. Checks the length of a frame as soon as its
 * prefix arrives, so an oversized frame is refused before any of it is buffered.
 */
export class FrameDecoder {
  /** Largest frame accepted, length prefix included; may be changed at any time, even by `onFrame` (raised after a handshake). */
  maxFrameSize: number
  /** What sets `maxFrameSize`, for the FRAME_TOO_LARGE message. */
  limitName = 'option maxFrameSize'
  #parts: Buffer[] = []
  #have = 0
  /** Bytes needed before the next frame can be cut (0 = unknown yet). */
  #need = 0
  /** Bytes of an oversized frame still to be thrown away as they arrive. */
  #skip = 0
  readonly #onOversized: ((kind: number, id: number, size: number) => void) | undefined

  /**
   * @param maxFrameSize largest frame accepted, length prefix included
   * @param onOversized when given, a bigger frame is not an error: this is told its header
   * (once 9 bytes are in) and its bytes are discarded as they arrive, nothing of it is buffered
   */
  constructor(maxFrameSize = DEFAULT_MAX_FRAME_SIZE, onOversized?: (kind: number, id: number, size: number) => void) {
    this.maxFrameSize = maxFrameSize
    this.#onOversized = onOversized
  }

  /** Bytes held: a frame that has not fully arrived, or input kept after `onFrame` stopped the cutting. */
  get buffered(): number { return this.#have }

  /**
   * Feeds a chunk and calls `onFrame` for every complete frame in order, until one returns `false`.
   * Throws FRAME_TOO_LARGE or BAD_REQUEST (the stream is then unusable).
   * @param borrowed the chunk's memory is reused after this call (a socket's `onread` buffer):
   * what is kept of it for a later frame is copied, and `onFrame` must be done with `body` when it returns
   */
  push(chunk: Buffer, onFrame: OnFrame, borrowed = false): void {
    if (this.#skip > 0) {
      if (chunk.length <= this.#skip) {
        this.#skip -= chunk.length
        return
      }
      chunk = chunk.subarray(this.#skip)
      this.#skip = 0
    }
    let buf = chunk
    if (this.#have > 0) {
      this.#have += chunk.length
      this.#parts.push(borrowed ? Buffer.from(chunk) : chunk)
      if (this.#have < this.#need) return
      buf = this.#parts.length === 2 ? Buffer.concat(this.#parts, this.#have) : Buffer.concat(this.#parts)
      this.#parts = []
      this.#have = 0
      this.#need = 0
    }
    this.#cut(buf, onFrame, borrowed && buf === chunk)
  }

  /**
   * Keeps a chunk without cutting frames from it (the caller has stopped reading but one more
   * chunk came); `resume` cuts it later. At most `maxFrameSize` bytes are held this way.
   */
  hold(chunk: Buffer, borrowed = false): void {
    if (this.#have + chunk.length > this.maxFrameSize + FRAME_HEADER) {
      throw new FrameTooLargeError(`more than ${this.maxFrameSize} bytes arrived while reading was paused (${this.limitName})`)
    }
    if (this.#have === 0) this.#need = 4
    this.#have += chunk.length
    this.#parts.push(borrowed ? Buffer.from(chunk) : chunk)
  }

  /** Cuts the frames kept after `onFrame` stopped the cutting (or `hold`), with the same contract as `push`. */
  resume(onFrame: OnFrame): void {
    if (this.#have === 0 || this.#have < this.#need) return
    const buf = this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, this.#have)
    this.#parts = []
    this.#have = 0
    this.#need = 0
    this.#cut(buf, onFrame, false)
  }

  /** @param borrowed `buf` is the caller's borrowed chunk: copy what is kept of it */
  #cut(buf: Buffer, onFrame: OnFrame, borrowed: boolean): void {
    let off = 0
    const end = buf.length
    while (end - off >= 4) {
      const len = buf.readUInt32BE(off)
      if (len + 4 > this.maxFrameSize) {
        if (this.#onOversized === undefined) {
          throw new FrameTooLargeError(`frame of ${len + 4} bytes exceeds the maximum frame size of ${this.maxFrameSize} bytes (${this.limitName})`)
        }
        if (end - off < FRAME_HEADER) break
        this.#onOversized(buf[off + 4] as number, buf.readUInt32BE(off + 5), len + 4)
        if (end - off >= len + 4) {
          off += len + 4
          continue
        }
        this.#skip = len + 4 - (end - off)
        return
      }
      if (len < 5) throw new BadRequestError(`frame length ${len} is shorter than a frame header`)
      if (end - off - 4 < len) break
      const more = onFrame(buf[off + 4] as number, buf.readUInt32BE(off + 5), buf.subarray(off + FRAME_HEADER, off + 4 + len))
      off += 4 + len
      if (more === false) break
    }
    if (off < end) {
      let rest = off === 0 ? buf : buf.subarray(off)
      if (borrowed) rest = Buffer.from(rest)
      this.#parts.push(rest)
      this.#have = rest.length
      // A length over the limit is not trusted here: 0 makes the next push cut (and refuse) it at once.
      const len = rest.length >= 4 ? rest.readUInt32BE(0) + 4 : 4
      this.#need = len > this.maxFrameSize ? 0 : len
    }
  }
}

// ---- Fast path for the hot frames ----
//
// A sequential request is dominated by fixed costs, and msgpackr's general encoder and
// decoder are most of the CPU a small frame costs on each end (measured in place: about
// 1 µs each way on the server, with caches cold after the wait for the network). The
// frames that matter for latency hold only router requests and `execute` answers with
// scalar values, so these functions write and read exactly those, byte for byte as msgpackr
// does (the wire format is unchanged; a test compares the bytes), and hand anything else
// (another shape, a non-ASCII string, an object document, ...) to msgpackr.

/** Not handled by the fast path: use msgpackr. */
const SKIP: unique symbol = Symbol('skip')
type Skip = typeof SKIP

/** Record ids (0x40 + index in `SHAPES`) of the shapes the fast path handles. */
const KEYED = 0x40
const KEYED_DOC = 0x41
const OK_VALUE = 0x46
const OK_EMPTY = 0x47
const KEYED_KEYS = SHAPES[0] as readonly string[]
const KEYED_DOC_KEYS = SHAPES[1] as readonly string[]
const OK_VALUE_KEYS = SHAPES[6] as readonly string[]
const OK_EMPTY_KEYS = SHAPES[7] as readonly string[]

/** Frames are written here, then copied out at their exact size; bigger ones go to msgpackr. */
const scratch = Buffer.allocUnsafeSlow(64 * 1024)
let w = 0

/** Whether the own enumerable keys of `o` are exactly `keys`, in that order (what selects a msgpackr record shape). */
function hasKeys(o: object, keys: readonly string[]): boolean {
  let i = 0
  for (const k in o) {
    if (k !== keys[i]) return false
    i++
  }
  return i === keys.length
}

function putStr(s: unknown): boolean {
  if (typeof s !== 'string') return false
  const n = s.length
  // Room for the header and the worst case of 3 UTF-8 bytes per UTF-16 unit, so `write` never truncates.
  if (n >= 0x10000 || w + 3 + 3 * n > scratch.length) return false
  let p = w
  if (n < 0x20) scratch[p++] = 0xa0 | n
  else if (n < 0x100) {
    scratch[p++] = 0xd9
    scratch[p++] = n
  } else {
    scratch[p++] = 0xda
    scratch[p++] = n >> 8
    scratch[p++] = n & 0xff
  }
  if (n < 16) {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) return false
      scratch[p++] = c
    }
  } else if (scratch.write(s, p, 'utf8') !== n) {
    // More bytes than units: not ASCII. msgpackr's own UTF-8 writer may differ (lone surrogates), so it decides.
    return false
  } else {
    p += n
  }
  w = p
  return true
}

/** Numbers exactly as msgpackr writes them with records on and float32 off. */
function putNum(v: unknown): boolean {
  if (typeof v !== 'number') return false
  const p = w
  if (v >>> 0 === v) {
    if (v < 0x40) {
      scratch[p] = v
      w = p + 1
    } else if (v < 0x100) {
      scratch[p] = 0xcc
      scratch[p + 1] = v
      w = p + 2
    } else if (v < 0x10000) {
      scratch[p] = 0xcd
      scratch.writeUInt16BE(v, p + 1)
      w = p + 3
    } else {
      scratch[p] = 0xce
      scratch.writeUInt32BE(v, p + 1)
      w = p + 5
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) {
      scratch[p] = 0x100 + v
      w = p + 1
    } else if (v >= -0x80) {
      scratch[p] = 0xd0
      scratch[p + 1] = v + 0x100
      w = p + 2
    } else if (v >= -0x8000) {
      scratch[p] = 0xd1
      scratch.writeInt16BE(v, p + 1)
      w = p + 3
    } else {
      scratch[p] = 0xd2
      scratch.writeInt32BE(v, p + 1)
      w = p + 5
    }
  } else {
    scratch[p] = 0xcb
    scratch.writeDoubleBE(v, p + 1)
    w = p + 9
  }
  return true
}

function putScalar(v: unknown): boolean {
  if (v === null) scratch[w++] = 0xc0
  else if (v === true) scratch[w++] = 0xc3
  else if (v === false) scratch[w++] = 0xc2
  else if (typeof v === 'string') return putStr(v)
  else return putNum(v)
  return true
}

/** A plain object (what msgpackr writes as a record). */
function isPlain(o: unknown): o is Record<string, unknown> {
  return o !== null && typeof o === 'object' && (o as object).constructor === Object
}

function putRequest(r: unknown): boolean {
  if (!isPlain(r)) return false
  let doc = false
  if (hasKeys(r, KEYED_KEYS)) scratch[w++] = KEYED
  else if (hasKeys(r, KEYED_DOC_KEYS)) {
    scratch[w++] = KEYED_DOC
    doc = true
  } else return false
  return putStr(r.op) && putStr(r.index) && putStr(r.key) && putNum(r.hash) && (!doc || putScalar(r.doc))
}

function putResponse(r: unknown): boolean {
  if (!isPlain(r) || r.ok !== true) return false
  if (hasKeys(r, OK_EMPTY_KEYS)) {
    scratch[w++] = OK_EMPTY
    scratch[w++] = 0xc3
    return true
  }
  if (!hasKeys(r, OK_VALUE_KEYS)) return false
  scratch[w++] = OK_VALUE
  scratch[w++] = 0xc3
  return putScalar(r.value)
}

/** The frame of `items` through the fast path, or null when some item is not for it. */
function fastFrame(kind: FrameKind, id: number, items: readonly unknown[], put: (item: unknown) => boolean): Buffer | null {
  const n = items.length
  if (n >= 0x10000) return null
  w = FRAME_HEADER
  if (n < 16) scratch[w++] = 0x90 | n
  else {
    scratch[w++] = 0xdc
    scratch[w++] = n >> 8
    scratch[w++] = n & 0xff
  }
  // 32 bytes: the most an item writes besides its strings, which check their own room.
  for (let i = 0; i < n; i++) if (w + 32 > scratch.length || !put(items[i])) return null
  const out = Buffer.allocUnsafe(w)
  scratch.copy(out, 0, 0, w)
  out.writeUInt32BE(w - 4, 0)
  out[4] = kind
  out.writeUInt32BE(id, 5)
  return out
}

/** A BATCH frame of requests; the same bytes as `encodeFrame(FrameKind.BATCH, id, batch)`. Throws what msgpackr throws. */
export function encodeBatchFrame(id: number, batch: readonly unknown[]): Buffer {
  return fastFrame(FrameKind.BATCH, id, batch, putRequest) ?? encodeFrame(FrameKind.BATCH, id, batch)
}

/** A RESULT frame of responses; the same bytes as `encodeFrame(FrameKind.RESULT, id, responses)`. Throws what msgpackr throws. */
export function encodeResultFrame(id: number, responses: readonly unknown[]): Buffer {
  return fastFrame(FrameKind.RESULT, id, responses, putResponse) ?? encodeFrame(FrameKind.RESULT, id, responses)
}

/** Buffer's own method, without `toString`'s argument handling (measured faster for short strings). */
interface Latin1 { latin1Slice(start: number, end: number): string }

// Reader state: the body being read, the read position, the end of the body.
let src: Buffer = scratch
let r = 0
let end = 0

function getStr(): string | Skip {
  const t = src[r] as number
  let p = r + 1
  let n: number
  if ((t & 0xe0) === 0xa0) n = t & 0x1f
  else if (t === 0xd9 && p < end) n = src[p++] as number
  else if (t === 0xda && p + 1 < end) {
    n = ((src[p] as number) << 8) | (src[p + 1] as number)
    p += 2
  } else return SKIP
  const stop = p + n
  if (stop > end) return SKIP
  // ASCII only: for other bytes msgpackr's UTF-8 reader decides (invalid sequences included).
  for (let i = p; i < stop; i++) if ((src[i] as number) > 0x7f) return SKIP
  r = stop
  return (src as unknown as Latin1).latin1Slice(p, stop)
}

function getNum(): number | Skip {
  const t = src[r] as number
  const p = r + 1
  if (t < 0x40) {
    r = p
    return t
  }
  if (t >= 0xe0) {
    r = p
    return t - 0x100
  }
  let size: number
  switch (t) {
    case 0xcb: size = 8; break
    case 0xcc: case 0xd0: size = 1; break
    case 0xcd: case 0xd1: size = 2; break
    case 0xce: case 0xd2: size = 4; break
    default: return SKIP
  }
  if (p + size > end) return SKIP
  r = p + size
  switch (t) {
    case 0xcb: return src.readDoubleBE(p)
    case 0xcc: return src[p] as number
    case 0xcd: return src.readUInt16BE(p)
    case 0xce: return src.readUInt32BE(p)
    case 0xd0: return src.readInt8(p)
    case 0xd1: return src.readInt16BE(p)
    default: return src.readInt32BE(p)
  }
}

function getScalar(): unknown {
  const t = src[r]
  if (t === 0xc0) {
    r++
    return null
  }
  if (t === 0xc3) {
    r++
    return true
  }
  if (t === 0xc2) {
    r++
    return false
  }
  if (t !== undefined && ((t & 0xe0) === 0xa0 || t === 0xd9 || t === 0xda)) return getStr()
  return getNum()
}

/** Reads an array header at the start of `body`; its length, or -1. Sets the reader state. */
function startArray(body: Buffer): number {
  src = body
  end = body.length
  const t = body[0]
  if (t === undefined) return -1
  if ((t & 0xf0) === 0x90) {
    r = 1
    return t & 0x0f
  }
  if (t === 0xdc && end >= 3) {
    r = 3
    return ((body[1] as number) << 8) | (body[2] as number)
  }
  return -1
}

// A read past the end of the body sees `undefined`, which no reader accepts.
function readRequests(body: Buffer): unknown[] | Skip {
  const n = startArray(body)
  if (n < 0) return SKIP
  const out = new Array<unknown>(n)
  for (let i = 0; i < n; i++) {
    const t = src[r++]
    if (t !== KEYED && t !== KEYED_DOC) return SKIP
    const op = getStr()
    if (op === SKIP) return SKIP
    const index = getStr()
    if (index === SKIP) return SKIP
    const key = getStr()
    if (key === SKIP) return SKIP
    const hash = getNum()
    if (hash === SKIP) return SKIP
    if (t === KEYED) out[i] = { op, index, key, hash }
    else {
      const doc = getScalar()
      if (doc === SKIP) return SKIP
      out[i] = { op, index, key, hash, doc }
    }
  }
  return r === end ? out : SKIP
}

function readResponses(body: Buffer): unknown[] | Skip {
  const n = startArray(body)
  if (n < 0) return SKIP
  const out = new Array<unknown>(n)
  for (let i = 0; i < n; i++) {
    const t = src[r++]
    if (src[r++] !== 0xc3) return SKIP
    if (t === OK_EMPTY) out[i] = { ok: true }
    else if (t === OK_VALUE) {
      const value = getScalar()
      if (value === SKIP) return SKIP
      out[i] = { ok: true, value }
    } else return SKIP
  }
  return r === end ? out : SKIP
}

/** Decodes the body of a BATCH frame; the same value as `decodeBody`. BAD_REQUEST when it is not MessagePack. */
export function decodeBatch(body: Buffer): unknown {
  const fast = readRequests(body)
  src = scratch // do not keep the chunk alive
  return fast === SKIP ? decodeBody(body) : fast
}

/** Decodes the body of a RESULT frame; the same value as `decodeBody`. BAD_REQUEST when it is not MessagePack. */
export function decodeResults(body: Buffer): unknown {
  const fast = readResponses(body)
  src = scratch // do not keep the chunk alive
  return fast === SKIP ? decodeBody(body) : fast
}
