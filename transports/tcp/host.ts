/**
 * The server side of the wire, shared by the shard server and the bootstrap
 * server: listen (plain or TLS), refuse a non-loopback address without a token,
 * the HELLO handshake with token check, frames in and out, one write per burst
 * of input, backpressure per connection, and close (drain) versus destroy.
 * What a batch means is the handler's business.
 */
import net from 'node:net'
import tls from 'node:tls'
import { createHash, timingSafeEqual } from 'node:crypto'
import {
  FrameDecoder, FrameKind, PROTOCOL_VERSION, DEFAULT_MAX_FRAME_SIZE, decodeBatch, decodeBody, encodeBody, encodeFrame, encodeResultFrame,
} from './codec.js'
import type { ErrorBody, HelloBody, HelloOkBody } from './codec.js'
import { AuthFailedError, BadRequestError, FrameTooLargeError, PyshardError, ShardUnavailableError, errorResponse } from '../../src/internal.js'
import type { Response } from '../../src/internal.js'

/** Options every pyshard server takes. */
export interface HostOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string
  /** Port to bind; 0 picks a free one. @default 0 */
  port?: number
  /** Token every connection must present in its HELLO. @default none (loopback only, unless `insecure`) */
  token?: string
  /**
   * Token that makes a connection an admin one (it may also be presented instead of `token`). When
   * set, only admin connections may assign the shard or move its data. @default none (any connection may)
   */
  adminToken?: string
  /** Allow a non-loopback `host` without a `token`. @default false */
  insecure?: boolean
  /** Serve TLS with these `node:tls` options (key, cert, ...). @default plain TCP */
  tls?: tls.TlsOptions
  /** Largest frame accepted (bytes, prefix included); a bigger one gets FRAME_TOO_LARGE and its connection is closed. @default 67108864 (64 MiB) */
  maxFrameSize?: number
  /** How long a new connection has to send its HELLO before it is closed (ms). @default 10000 */
  handshakeTimeout?: number
  /** How long `close()` waits for connections to finish before it drops them (ms). @default 5000 */
  closeTimeout?: number
  /**
   * Bytes of answers queued for one connection beyond which the server stops reading
   * that connection until they drain: a client that does not read cannot make the
   * server buffer without bound, nor slow anyone else. (Reading pauses only once the socket's
   * own 16 KiB buffer is full too, so a smaller value acts as 16 KiB.) @default 1048576 (1 MiB)
   */
  maxWriteBuffer?: number
  /** Most client connections open at once; more are closed as they come (`net.Server.maxConnections`). @default 10000 */
  maxConnections?: number
  /**
   * Bytes the server holds for frames that have not fully arrived, across all connections
   * together. A connection whose input would pass it gets an ERROR frame (SHARD_UNAVAILABLE)
   * and is closed, so peers that send most of a big frame and stop cannot grow the server
   * past it (each may otherwise hold up to `maxFrameSize`). At least `maxFrameSize`.
   * @default 4 × maxFrameSize (256 MiB with the default maxFrameSize)
   */
  maxIncompleteBytes?: number
}

/**
 * Largest frame a connection may send before its HELLO is accepted: a HELLO is a few bytes,
 * so an unauthenticated peer cannot make the server hold `maxFrameSize` for it.
 */
export const HANDSHAKE_MAX_FRAME = 4096

/** What a host does with frames. */
export interface HostHandler {
  /**
   * Answers one decoded batch (an array); returns one answer per element. Must not throw.
   * `admin`: the connection presented the admin token, or the host has none.
   */
  batch(requests: unknown[], admin: boolean): Response[]
  /** Told of a connection closed for a protocol error (bad frame, wrong token, ...). */
  clientError?(error: PyshardError, remote: string): void
  /** Told when a handled burst changed something the owner watches (called after each burst). */
  afterBurst?(): void
  /**
   * A promise the answers queued so far must wait for before they are sent (a data dir with
   * `fsync: 'always'`: the commit holding their writes on disk), or null to send now. A
   * rejection fails the connection: writes that may not be on disk are never acknowledged.
   */
  durable?(): Promise<void> | null
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1'])

/** Whether `host` is a loopback address (only this machine can reach it). */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host)
}

function int(name: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback
  if (!(Number.isSafeInteger(v) && (v as number) >= min)) throw new TypeError(`options.${name} must be an integer >= ${min}, got ${String(v)}`)
  return v as number
}

/** Options resolved and checked once. */
export interface ResolvedHostOptions {
  host: string
  port: number
  token: string | undefined
  adminToken: string | undefined
  tls: tls.TlsOptions | undefined
  maxFrameSize: number
  handshakeTimeout: number
  closeTimeout: number
  maxWriteBuffer: number
  maxConnections: number
  maxIncompleteBytes: number
}

/** Checks host options; throws TypeError naming the bad one. */
export function resolveHostOptions(options: HostOptions): ResolvedHostOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const host = options.host ?? '127.0.0.1'
  if (typeof host !== 'string' || host === '') throw new TypeError('options.host must be a non-empty string')
  const port = int('port', options.port, 0, 0)
  if (port > 65535) throw new TypeError(`options.port must be from 0 to 65535, got ${port}`)
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token === '')) {
    throw new TypeError('options.token must be a non-empty string')
  }
  if (options.adminToken !== undefined && (typeof options.adminToken !== 'string' || options.adminToken === '')) {
    throw new TypeError('options.adminToken must be a non-empty string')
  }
  if (options.insecure !== undefined && typeof options.insecure !== 'boolean') throw new TypeError('options.insecure must be a boolean')
  if (options.token === undefined && options.insecure !== true && !isLoopback(host)) {
    throw new TypeError(`options.token is required to listen on the non-loopback address "${host}" (or set options.insecure: true to serve it without one)`)
  }
  if (options.tls !== undefined && (options.tls === null || typeof options.tls !== 'object')) throw new TypeError('options.tls must be an object of node:tls options')
  const maxFrameSize = int('maxFrameSize', options.maxFrameSize, DEFAULT_MAX_FRAME_SIZE, 64)
  const maxIncompleteBytes = int('maxIncompleteBytes', options.maxIncompleteBytes, 4 * maxFrameSize, 1)
  if (maxIncompleteBytes < maxFrameSize) {
    throw new TypeError(`options.maxIncompleteBytes must be at least options.maxFrameSize (${maxFrameSize}), got ${maxIncompleteBytes}`)
  }
  return {
    host,
    port,
    token: options.token,
    adminToken: options.adminToken,
    tls: options.tls,
    maxFrameSize,
    maxIncompleteBytes,
    handshakeTimeout: int('handshakeTimeout', options.handshakeTimeout, 10_000, 1),
    closeTimeout: int('closeTimeout', options.closeTimeout, 5000, 0),
    maxWriteBuffer: int('maxWriteBuffer', options.maxWriteBuffer, 1024 * 1024, 1),
    maxConnections: int('maxConnections', options.maxConnections, 10_000, 1),
  }
}

/** Answers up to this many bytes queued together are copied into one buffer before writing. */
const COALESCE_LIMIT = 64 * 1024

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

/** Room kept in a frame besides the answers themselves (frame header, array header). */
const FRAME_SLACK = 32

/**
 * Frames the answers to batch `id` in frames of at most `maxFrameSize` bytes. Usually one RESULT
 * frame. An answer that cannot be encoded (a processor's cyclic result, ...) becomes BAD_REQUEST
 * alone; one that is bigger than a frame becomes FRAME_TOO_LARGE alone. When all of them together
 * are too big, `split` sends them in RESULT_PART frames ending with a RESULT frame; without it
 * (a client that did not say it takes parts) the ones that do not fit become FRAME_TOO_LARGE.
 */
export function encodeAnswers(id: number, answers: Response[], maxFrameSize = DEFAULT_MAX_FRAME_SIZE, split = false, shapes = false): Buffer[] {
  let whole: Buffer | null = null
  try {
    whole = encodeResultFrame(id, answers, shapes)
  } catch {
    // Some answer cannot be encoded: found below, one by one.
  }
  if (whole !== null && whole.length <= maxFrameSize) return [whole]
  const budget = maxFrameSize - FRAME_SLACK
  const groups: Response[][] = [[]]
  let used = 0
  for (const a of answers) {
    let answer = a
    let size: number
    try {
      size = encodeBody(a, shapes).length
    } catch (err) {
      answer = errorResponse(new BadRequestError(`the answer cannot be sent: ${(err as Error).message}`))
      size = encodeBody(answer).length
    }
    if (size > budget) {
      answer = errorResponse(new FrameTooLargeError(`the answer is ${size} bytes, more than the maximum frame size of ${maxFrameSize} bytes (option maxFrameSize)`))
      size = encodeBody(answer).length
    }
    if (used + size > budget && used > 0) {
      if (split) {
        groups.push([])
        used = 0
      } else {
        answer = errorResponse(new FrameTooLargeError(`the answers to this batch exceed the maximum frame size of ${maxFrameSize} bytes (option maxFrameSize); ask for fewer at once`))
        size = encodeBody(answer).length
      }
    }
    ;(groups[groups.length - 1] as Response[]).push(answer)
    used += size
  }
  return groups.map((g, i) => encodeFrame(i === groups.length - 1 ? FrameKind.RESULT : FrameKind.RESULT_PART, id, g, shapes))
}

class HostConnection {
  readonly socket: net.Socket
  readonly remote: string
  #host: FrameHost
  #decoder: FrameDecoder
  #authed = false
  #dead = false
  /** Largest answer frame: this server's maxFrameSize, or less if the client said so in its HELLO. */
  #answerMax: number
  /** The client takes answers split into RESULT_PART frames. */
  #split = false
  /** The client asked for the shapes extension in its HELLO. */
  #shapes = false
  /** Bytes of incomplete frames this connection holds, as counted in `FrameHost.incompleteBytes`. */
  #held = 0
  #out: Buffer[] = []
  #outBytes = 0
  #paused = false
  /** Answers are held for a durable promise (see HostHandler.durable). */
  #holding = false
  /** Presented the admin token (or the host has none). */
  #admin = false
  #handshakeTimer: NodeJS.Timeout | null

  constructor(host: FrameHost, socket: net.Socket) {
    this.#host = host
    this.socket = socket
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`
    this.#decoder = new FrameDecoder(Math.min(HANDSHAKE_MAX_FRAME, host.options.maxFrameSize))
    this.#decoder.limitName = `the limit before a HELLO is accepted; maxFrameSize applies after it`
    this.#answerMax = host.options.maxFrameSize
    socket.setNoDelay(true)
    this.#handshakeTimer = setTimeout(() => {
      this.fail(new BadRequestError(`no HELLO within ${host.options.handshakeTimeout} ms (option handshakeTimeout)`))
    }, host.options.handshakeTimeout)
    this.#handshakeTimer.unref()
    socket.on('data', this.#onData)
    socket.on('drain', this.#onDrain)
    // Socket errors (reset by peer, ...) end in 'close'; nothing else to do.
    socket.on('error', () => {})
    socket.on('close', () => {
      if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer)
      this.#dead = true
      this.#release()
      host.forget(this)
    })
  }

  #onData = (chunk: Buffer): void => {
    if (this.#dead) return
    try {
      // A chunk that was already on its way when reading paused waits with the rest.
      if (this.#paused) this.#decoder.hold(chunk)
      else this.#decoder.push(chunk, this.#onFrame)
      this.#count()
    } catch (err) {
      this.#failWith(err)
      return
    }
    this.#flush()
    this.#host.handler.afterBurst?.()
  }

  /** Updates the server-wide count of incomplete-frame bytes; over `maxIncompleteBytes`, this connection is refused. */
  #count(): void {
    const held = this.#decoder.buffered
    const total = this.#host.addIncomplete(held - this.#held)
    this.#held = held
    if (held > 0 && total > this.#host.options.maxIncompleteBytes) {
      throw new ShardUnavailableError(`the server holds ${total} bytes of frames that have not fully arrived, across all connections, more than ${this.#host.options.maxIncompleteBytes} (option maxIncompleteBytes); this connection is closed`)
    }
  }

  /** Gives back this connection's share of the incomplete-frame bytes (it holds none any more). */
  #release(): void {
    if (this.#held !== 0) this.#host.addIncomplete(-this.#held)
    this.#held = 0
  }

  /** Answers one frame; returns false (stop cutting frames) once the answers waiting for this peer exceed maxWriteBuffer. */
  #onFrame = (kind: number, id: number, body: Buffer): boolean => {
    if (this.#dead) return false
    if (!this.#authed) {
      this.#hello(kind, body)
      return true
    }
    if (kind !== FrameKind.BATCH) throw new BadRequestError(`unexpected frame kind ${kind}`)
    const batch = decodeBatch(body, this.#shapes)
    if (!Array.isArray(batch)) throw new BadRequestError('a BATCH frame must carry an array of requests')
    const answers = this.#host.handler.batch(batch, this.#admin)
    let whole: Buffer | null = null
    try {
      whole = encodeResultFrame(id, answers, this.#shapes)
    } catch {
      // An answer that cannot be encoded: encodeAnswers finds it.
    }
    if (whole !== null && whole.length <= this.#answerMax) {
      this.#out.push(whole)
      this.#outBytes += whole.length
    } else {
      for (const out of encodeAnswers(id, answers, this.#answerMax, this.#split, this.#shapes)) {
        this.#out.push(out)
        this.#outBytes += out.length
      }
    }
    // Checked per frame, not per chunk: one chunk of tiny frames can ask for huge answers.
    if (this.#outBytes + this.socket.writableLength <= this.#host.options.maxWriteBuffer) return true
    this.#flush()
    return !this.#paused
  }

  #hello(kind: number, body: Buffer): void {
    if (kind !== FrameKind.HELLO) throw new BadRequestError(`the first frame must be HELLO, got kind ${kind}`)
    const hello = decodeBody(body) as HelloBody
    if (hello === null || typeof hello !== 'object' || hello.v !== PROTOCOL_VERSION) {
      throw new BadRequestError(`unsupported protocol version ${JSON.stringify((hello as HelloBody | null)?.v)} (this server speaks ${PROTOCOL_VERSION})`)
    }
    const expected = this.#host.tokenDigest
    const admin = this.#host.adminDigest
    const given = typeof hello.token === 'string' ? digest(hello.token) : null
    const isAdmin = admin !== null && given !== null && timingSafeEqual(given, admin)
    if (expected !== null && !isAdmin) {
      if (given === null || !timingSafeEqual(given, expected)) {
        throw new AuthFailedError(given === null ? 'this server requires a token' : 'wrong token')
      }
    }
    this.#admin = admin === null || isAdmin
    if (hello.maxFrameSize !== undefined) {
      if (!(Number.isSafeInteger(hello.maxFrameSize) && hello.maxFrameSize >= 64)) {
        throw new BadRequestError(`HELLO maxFrameSize must be an integer >= 64, got ${String(hello.maxFrameSize)}`)
      }
      this.#answerMax = Math.min(this.#answerMax, hello.maxFrameSize)
      this.#split = true
    }
    this.#shapes = hello.shapes === true
    this.#authed = true
    this.#decoder.maxFrameSize = this.#host.options.maxFrameSize
    this.#decoder.limitName = 'option maxFrameSize'
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer)
    this.#handshakeTimer = null
    const ok: HelloOkBody = { v: PROTOCOL_VERSION, role: this.#host.role, maxFrameSize: this.#host.options.maxFrameSize, shapes: this.#shapes }
    const out = encodeFrame(FrameKind.HELLO_OK, 0, ok)
    this.#out.push(out)
    this.#outBytes += out.length
  }

  /** Writes the queued answers; pauses reading once more than maxWriteBuffer waits to go out. */
  #flush(): void {
    if (this.#out.length === 0 || this.#dead || this.#holding) return
    const hold = this.#host.handler.durable?.()
    if (hold !== null && hold !== undefined) {
      // Only what is queued now waits for this promise: later answers wait for a later one, so a
      // steady stream of writes never starves the first of them.
      this.#holding = true
      const n = this.#out.length
      hold.then(() => {
        this.#holding = false
        this.#send(n)
        this.#flush()
      }, (err: unknown) => {
        this.#holding = false
        this.#out = []
        this.#outBytes = 0
        this.fail(new ShardUnavailableError(`the shard could not make writes durable: ${(err as Error)?.message ?? String(err)}`))
      })
      return
    }
    this.#send(this.#out.length)
  }

  /** Writes the first `n` queued answers. */
  #send(n: number): void {
    if (this.#dead || n === 0) return
    let out = this.#out
    let bytes = this.#outBytes
    if (n >= out.length) {
      this.#out = []
      this.#outBytes = 0
    } else {
      this.#out = out.slice(n)
      out = out.slice(0, n)
      bytes = 0
      for (const b of out) bytes += b.length
      this.#outBytes -= bytes
    }
    try {
      // One write per burst of input: the answers to every frame that arrived together leave together.
      // Small bursts are copied into one buffer; big ones are corked instead (one writev, no copy).
      if (out.length === 1) this.socket.write(out[0] as Buffer)
      else if (bytes <= COALESCE_LIMIT) this.socket.write(Buffer.concat(out, bytes))
      else {
        this.socket.cork()
        for (const b of out) this.socket.write(b)
        this.socket.uncork()
      }
    } catch (err) {
      this.#failWith(err)
      return
    }
    // Only pause when a 'drain' is due (the socket's own buffer limit is reached too), or nothing would resume it.
    if (!this.#paused && this.socket.writableLength > this.#host.options.maxWriteBuffer && this.socket.writableNeedDrain) {
      this.#paused = true
      this.socket.pause()
    }
  }

  #onDrain = (): void => {
    if (!this.#paused || this.#dead) return
    this.#paused = false
    try {
      this.#decoder.resume(this.#onFrame)
      this.#count()
    } catch (err) {
      this.#failWith(err)
      return
    }
    this.#flush()
    this.#host.handler.afterBurst?.()
    if (!this.#paused) this.socket.resume()
  }

  /** Sends what was answered so far, then fails the connection with `err`. */
  #failWith(err: unknown): void {
    this.#flush()
    this.fail(err instanceof PyshardError ? err : new BadRequestError(String(err)))
  }

  /** Sends an ERROR frame and closes this connection only. */
  fail(error: PyshardError): void {
    if (this.#dead) return
    this.#dead = true
    this.#release()
    // Drops what it held at once, not when the socket is finally gone.
    this.#decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME)
    this.#host.handler.clientError?.(error, this.remote)
    const body: ErrorBody = { code: error.code, message: error.message }
    const socket = this.socket
    // Nothing more is read from it: what it still sends is neither held nor read.
    socket.pause()
    if (!socket.destroyed && socket.writable) socket.end(encodeFrame(FrameKind.ERROR, 0, body))
    else socket.destroy()
    // A client that does not read must not keep the connection half-open.
    setTimeout(() => socket.destroy(), 1000).unref()
  }

  /**
   * Graceful shutdown: tells an authenticated client GOAWAY and keeps answering until it
   * ends the connection (it does so once its answers are in); others are ended now.
   */
  goaway(): void {
    if (this.#dead) return
    if (!this.#authed) {
      this.end()
      return
    }
    this.socket.write(encodeFrame(FrameKind.GOAWAY, 0, null))
  }

  /** Stops reading; ends once written answers are out. */
  end(): void {
    this.#dead = true
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer)
    this.socket.end()
  }
}

/** A listening socket that speaks pyshard frames. */
export class FrameHost {
  readonly options: ResolvedHostOptions
  readonly handler: HostHandler
  readonly role: HelloOkBody['role']
  readonly tokenDigest: Buffer | null
  readonly adminDigest: Buffer | null
  #server: net.Server | null = null
  #connections = new Set<HostConnection>()
  #address: { host: string; port: number } | null = null
  #closing: Promise<void> | null = null
  #incomplete = 0

  constructor(options: ResolvedHostOptions, role: HelloOkBody['role'], handler: HostHandler) {
    this.options = options
    this.role = role
    this.handler = handler
    this.tokenDigest = options.token === undefined ? null : digest(options.token)
    this.adminDigest = options.adminToken === undefined ? null : digest(options.adminToken)
  }

  get address(): { host: string; port: number } | null { return this.#address }

  /** Connections open now. */
  get connections(): number { return this.#connections.size }

  /** Bytes held now for frames that have not fully arrived, across all connections (capped by `maxIncompleteBytes`). */
  get incompleteBytes(): number { return this.#incomplete }

  /** Adds `delta` to `incompleteBytes`; returns the new total. */
  addIncomplete(delta: number): number {
    this.#incomplete += delta
    return this.#incomplete
  }

  listen(): Promise<{ host: string; port: number }> {
    if (this.#server !== null) return Promise.reject(new Error('already listening'))
    const onSocket = (socket: net.Socket): void => {
      if (this.#closing !== null) {
        socket.destroy()
        return
      }
      this.#connections.add(new HostConnection(this, socket))
    }
    const server = this.options.tls ? tls.createServer(this.options.tls, onSocket) : net.createServer(onSocket)
    server.maxConnections = this.options.maxConnections
    this.#server = server
    // A failed TLS handshake is that client's problem.
    server.on('tlsClientError', () => {})
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject)
        const a = server.address() as net.AddressInfo
        this.#address = { host: this.options.host, port: a.port }
        resolve(this.#address)
      })
    })
  }

  forget(conn: HostConnection): void {
    this.#connections.delete(conn)
  }

  /**
   * Stops accepting, says GOAWAY to every client and answers what they still send until they
   * end their connections; drops the ones left after `closeTimeout`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(false)
    return this.#closing
  }

  /** Closes every connection now. */
  destroy(): Promise<void> {
    const closing = this.#shutdown(true)
    this.#closing ??= closing
    return closing
  }

  async #shutdown(now: boolean): Promise<void> {
    const server = this.#server
    if (server === null) return
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    const conns = [...this.#connections]
    if (now) for (const c of conns) c.socket.destroy()
    else {
      for (const c of conns) c.goaway()
      await new Promise<void>((resolve) => {
        let left = conns.filter((c) => !c.socket.destroyed).length
        if (left === 0) return resolve()
        const timer = setTimeout(() => {
          for (const c of conns) c.socket.destroy()
          resolve()
        }, this.options.closeTimeout)
        for (const c of conns) {
          c.socket.once('close', () => {
            if (--left === 0) {
              clearTimeout(timer)
              resolve()
            }
          })
        }
      })
    }
    await closed
    this.#address = null
  }
}
