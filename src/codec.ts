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
 * be encoded, dropped or reordered freely. Measured on the benchmark workload
 * (docs/tcp.md): a one-request round trip of encode + decode on both ends
 * costs about 1.8 µs with these known shapes, 3.9 to 4.9 µs with inline records,
 * 2.9 µs as JSON; batches of 100 cost about half of JSON per item.
 */
import { Packr, RESERVE_START_SPACE } from 'msgpackr'
import { BadRequestError, FrameTooLargeError } from './errors.js'
import type { ErrorCode } from './errors.js'

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
} as const

export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind]

/** First frame of every connection. */
export interface HelloBody {
  /** Protocol version (`PROTOCOL_VERSION`). */
  v: number
  /** The server's token, when it has one. */
  token?: string
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
  const structures = SHAPES.map((keys) => [...keys])
  // No room for more shared structures: any other shape is defined inside its own frame.
  return new Packr({ structures, maxSharedStructures: structures.length, moreTypes: false })
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
 * Cuts a byte stream into frames. Checks the length of a frame as soon as its
 * prefix arrives, so an oversized frame is refused before any of it is buffered.
 */
export class FrameDecoder {
  readonly maxFrameSize: number
  #parts: Buffer[] = []
  #have = 0
  /** Bytes needed before the next frame can be cut (0 = unknown yet). */
  #need = 0

  /** @param maxFrameSize largest frame accepted, length prefix included */
  constructor(maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
    this.maxFrameSize = maxFrameSize
  }

  /** Bytes held for a frame that has not fully arrived. */
  get buffered(): number { return this.#have }

  /**
   * Feeds a chunk and calls `onFrame` for every complete frame in order.
   * Throws FRAME_TOO_LARGE or BAD_REQUEST (the stream is then unusable).
   */
  push(chunk: Buffer, onFrame: (kind: number, id: number, body: Buffer) => void): void {
    let buf = chunk
    if (this.#have > 0) {
      this.#have += chunk.length
      this.#parts.push(chunk)
      if (this.#have < this.#need) return
      buf = this.#parts.length === 2 ? Buffer.concat(this.#parts, this.#have) : Buffer.concat(this.#parts)
      this.#parts = []
      this.#have = 0
      this.#need = 0
    }
    const max = this.maxFrameSize
    let off = 0
    const end = buf.length
    while (end - off >= 4) {
      const len = buf.readUInt32BE(off)
      if (len + 4 > max) {
        throw new FrameTooLargeError(`frame of ${len + 4} bytes exceeds the maximum frame size of ${max} bytes (option maxFrameSize)`)
      }
      if (len < 5) throw new BadRequestError(`frame length ${len} is shorter than a frame header`)
      if (end - off - 4 < len) break
      onFrame(buf[off + 4] as number, buf.readUInt32BE(off + 5), buf.subarray(off + FRAME_HEADER, off + 4 + len))
      off += 4 + len
    }
    if (off < end) {
      const rest = off === 0 ? buf : buf.subarray(off)
      this.#parts.push(rest)
      this.#have = rest.length
      this.#need = rest.length >= 4 ? rest.readUInt32BE(0) + 4 : 4
    }
  }
}
