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
 * Bodies are standard MessagePack plus the two extensions of `msgpack.ts`
 * (strings that are not well-formed Unicode; object shapes, only on a connection
 * whose HELLO asked for them). docs/wire.md is the whole specification.
 */
import { BadRequestError, FrameTooLargeError } from '../../src/errors.js'
import { decodeValue, encodeValue } from './msgpack.js'
import type { ErrorCode } from '../../src/errors.js'

/** Bytes before the body: length (4), kind (1), id (4). */
export const FRAME_HEADER = 9

/** Version spoken in HELLO; a server refuses another one. Bump it whenever the wire changes incompatibly (`SHAPES` included). */
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
  /** `true`: both ends may use the shapes extension on BATCH, RESULT and RESULT_PART frames. @default false */
  shapes?: boolean
}

/** The server's answer to HELLO. */
export interface HelloOkBody {
  v: number
  /** What answered: a shard server or a bootstrap server. */
  role: 'shard' | 'bootstrap'
  /** Largest frame the server accepts (bytes, length prefix included): a client sends no bigger one. */
  maxFrameSize: number
  /** Whether shapes are on for this connection (only when the HELLO asked for them). */
  shapes: boolean
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

/** Encodes a value as a frame body (standard MessagePack). Throws BAD_REQUEST for what is not JSON. */
export function encodeBody(value: unknown, shapes = false): Buffer {
  return encodeValue(value, shapes)
}

/** Decodes a frame body; BAD_REQUEST when it is not MessagePack the wire allows. */
export function decodeBody(body: Buffer, shapes = false): unknown {
  return decodeValue(body, shapes)
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

/**
 * Encodes `value` straight into a frame (room is left for the header: no copy). Throws BAD_REQUEST for what is not JSON.
 * @param shapes use the shapes extension (only towards a peer that asked for it in HELLO)
 */
export function encodeFrame(kind: FrameKind, id: number, value: unknown, shapes = false): Buffer {
  const out = encodeValue(value, shapes, FRAME_HEADER)
  out.writeUInt32BE(out.length - 4, 0)
  out[4] = kind
  out.writeUInt32BE(id, 5)
  return out
}

/** A BATCH frame of requests. */
export function encodeBatchFrame(id: number, batch: readonly unknown[], shapes = false): Buffer {
  return encodeFrame(FrameKind.BATCH, id, batch, shapes)
}

/** A RESULT frame of responses. */
export function encodeResultFrame(id: number, responses: readonly unknown[], shapes = false): Buffer {
  return encodeFrame(FrameKind.RESULT, id, responses, shapes)
}

/** Decodes the body of a BATCH frame. BAD_REQUEST when it is not MessagePack the wire allows. */
export function decodeBatch(body: Buffer, shapes = false): unknown {
  return decodeValue(body, shapes)
}

/** Decodes the body of a RESULT or RESULT_PART frame. */
export function decodeResults(body: Buffer, shapes = false): unknown {
  return decodeValue(body, shapes)
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

