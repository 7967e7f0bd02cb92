/**
 * `ShardServer`: one Shard behind a TCP (or TLS) port. It decodes batches and
 * hands each request to `execute`; it never looks at operations itself. The
 * bootstrap server assigns its name, range, size and policy with the
 * `configure` request (which needs the token when the server has one, as every
 * request does).
 */
import { EventEmitter } from 'node:events'
import { loadSnapshot, saveSnapshot } from './snapshot.js'
import { ADMIN_OPS, AuthFailedError, ShardHost, deliver, errorResponse, loadProcessors, processorsHref } from '../../src/internal.js'
import type { PyshardError, Request, Response, ShardSettings, OnFull } from '../../src/internal.js'
import { FrameHost, resolveHostOptions } from './host.js'
import type { HostOptions } from './host.js'

/** Options of `ShardServer`. */
export interface ShardServerOptions extends HostOptions {
  /** The only processors module (path or URL) whose functions `run` may call on this server. @default none */
  processors?: string | URL
  /** Name until the bootstrap server assigns one. @default 'shard' */
  name?: string
  /** Hash range start until assigned. @default 0 */
  start?: number
  /** Hash range end until assigned. @default 1 */
  end?: number
  /** Byte limit until assigned. @default 67108864 (64 MiB) */
  size?: number
  /** Policy when full, until assigned. @default 'reject' */
  onFull?: OnFull
  /** How often expired entries are reclaimed in the background (ms). @default 1000 */
  sweepInterval?: number
  /** Clock in ms for TTL. @default Date.now */
  now?: () => number
  /**
   * Directory for this shard's snapshot (created if missing). `listen()` loads the snapshot
   * there, if any, before it binds; the shard is saved every `snapshotInterval` and by `close()`
   * once connections have drained. A graceful restart keeps the data; a crash (or `destroy()`)
   * loses what was written since the last save. @default none (memory only)
   */
  dataDir?: string
  /** How often the shard is saved to `dataDir` (ms); one save at a time. @default 60000 */
  snapshotInterval?: number
}

/** A connection the server closed for breaking the protocol. */
export interface ClientErrorEvent { remote: string; error: PyshardError }

/** Events of `ShardServer`. */
export interface ShardServerEvents {
  /** The bootstrap server (or an admin) assigned new settings. */
  configured: [settings: ShardSettings]
  /** An entry was evicted for the byte limit. */
  evict: [event: { shard: string; index: string; key: string }]
  /** An entry's TTL ran out. */
  expire: [event: { shard: string; index: string; key: string }]
  /** A connection was closed for a bad frame, an oversized frame, a wrong token or a missing HELLO. */
  clientError: [event: ClientErrorEvent]
  /**
   * A listener of another event threw, or a snapshot could not be saved to `dataDir` (the server
   * goes on). Without an 'error' listener it becomes a process warning.
   */
  error: [error: Error]
  /** A snapshot was saved to `dataDir`. */
  saved: [event: { entries: number }]
}

const DEFAULT_SIZE = 64 * 1024 * 1024

const NOT_ADMIN = errorResponse(new AuthFailedError('assigning this shard server or moving its data needs its admin token (option adminToken); the data token cannot'))

/** A batch from a connection without the admin token: admin operations are refused, the rest answered. */
function answerData(host: ShardHost, requests: Request[]): Response[] {
  let admin = false
  for (const r of requests) if (ADMIN_OPS.has((r as { op?: string } | null)?.op as string)) admin = true
  if (!admin) return host.answer(requests)
  return requests.map((r) => ADMIN_OPS.has((r as { op?: string } | null)?.op as string) ? NOT_ADMIN : host.answer([r])[0] as Response)
}

/** Hosts one Shard over TCP. `listen()`, then point a bootstrap config (or `Pyshard.open({ config })`) at it. */
export class ShardServer extends EventEmitter<ShardServerEvents> {
  readonly #host: FrameHost
  readonly #shard: ShardHost
  readonly #processors: string | undefined
  readonly #dataDir: string | undefined
  readonly #snapshotInterval: number
  readonly #now: () => number
  #snapshotTimer: NodeJS.Timeout | null = null
  /** The save in progress, if any (one at a time). */
  #saving: Promise<void> | null = null

  constructor(options: ShardServerOptions = {}) {
    super()
    const resolved = resolveHostOptions(options)
    if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('options.now must be a function')
    if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir === '')) {
      throw new TypeError('options.dataDir must be a non-empty string (a directory path)')
    }
    if (options.snapshotInterval !== undefined && !(Number.isSafeInteger(options.snapshotInterval) && options.snapshotInterval > 0)) {
      throw new TypeError('options.snapshotInterval must be a positive integer of ms')
    }
    this.#dataDir = options.dataDir
    this.#snapshotInterval = options.snapshotInterval ?? 60_000
    this.#now = options.now ?? Date.now
    this.#processors = options.processors === undefined ? undefined : processorsHref(options.processors)
    let host: ShardHost
    try {
      host = new ShardHost({
        name: options.name ?? 'shard',
        start: options.start ?? 0,
        end: options.end ?? 1,
        size: options.size ?? DEFAULT_SIZE,
        onFull: options.onFull ?? 'reject',
        epoch: 0,
        ...(options.sweepInterval !== undefined ? { sweepInterval: options.sweepInterval } : {}),
        // A page of big documents must fit one answer: UTF-8 takes up to 3 bytes per accounted character.
        maxScanBytes: Math.floor(resolved.maxFrameSize / 4),
        ...(options.now ? { now: options.now } : {}),
        onEvent: (e) => {
          if (e.type === 'configured') this.#deliver('configured', e.settings)
          else if (this.listenerCount(e.type) > 0) this.#deliver(e.type, { shard: e.shard, index: e.index, key: e.key })
        },
      })
    } catch (err) {
      throw new TypeError(`options: ${(err as Error).message.replace(/^options\./, '')}`)
    }
    this.#shard = host
    this.#host = new FrameHost(resolved, 'shard', {
      batch: (requests: unknown[], admin: boolean): Response[] => admin ? host.answer(requests as Request[]) : answerData(host, requests as Request[]),
      clientError: (error, remote) => {
        if (this.listenerCount('clientError') > 0) this.#deliver('clientError', { remote, error })
      },
    })
  }

  /** Emits through the one choke point (off the data path; a throwing listener becomes 'error' or a warning). */
  #deliver<K extends keyof ShardServerEvents>(event: K, ...args: ShardServerEvents[K]): void {
    deliver(this, event, args, true)
  }

  /** Loads the processors module (if any), then binds. Resolves with the bound address. */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.#processors !== undefined) this.#shard.setProcessors(await loadProcessors(this.#processors))
    if (this.#dataDir !== undefined) {
      // BAD_CONFIG for a snapshot that cannot be read: serving an empty shard instead would lose it at the next save.
      await loadSnapshot(this.#shard.engine, this.#dataDir, this.#now)
    }
    const address = await this.#host.listen()
    this.#shard.start()
    if (this.#dataDir !== undefined) {
      this.#snapshotTimer = setInterval(() => void this.snapshot(), this.#snapshotInterval)
      this.#snapshotTimer.unref()
    }
    return address
  }

  /**
   * Saves the shard to `dataDir` now (after the save in progress, if one is). Never rejects:
   * a failed save is reported as 'error'. Resolves at once without a `dataDir`.
   */
  async snapshot(): Promise<void> {
    const dir = this.#dataDir
    if (dir === undefined) return
    while (this.#saving !== null) await this.#saving
    const saving = saveSnapshot(this.#shard.engine, dir, this.#now).then(
      (entries) => {
        if (this.listenerCount('saved') > 0) this.#deliver('saved', { entries })
      },
      (err: unknown) => {
        const error = new Error(`shard server: saving the snapshot to ${dir} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
        this.#deliver('error', error)
      },
    )
    this.#saving = saving
    try {
      await saving
    } finally {
      if (this.#saving === saving) this.#saving = null
    }
  }

  /** The bound address, or null before `listen()` / after close. */
  get address(): { host: string; port: number } | null { return this.#host.address }

  /** The shard's current name, range, size, policy and map epoch. */
  get settings(): Readonly<ShardSettings> { return this.#shard.settings }

  /** Client connections open now. */
  get connections(): number { return this.#host.connections }

  /**
   * Stops accepting connections, answers what has arrived, ends every connection, then (with a
   * `dataDir`) saves the shard, then resolves.
   */
  async close(): Promise<void> {
    const wasListening = this.#host.address !== null
    this.#stopTimers()
    await this.#host.close()
    if (wasListening) await this.snapshot()
  }

  /** Drops every connection now, answering nothing more; saves nothing (like a crash, for `dataDir`). */
  async destroy(): Promise<void> {
    this.#stopTimers()
    await this.#host.destroy()
  }

  #stopTimers(): void {
    this.#shard.close()
    if (this.#snapshotTimer !== null) clearInterval(this.#snapshotTimer)
    this.#snapshotTimer = null
  }
}
