/**
 * `ShardServer`: one Shard behind a TCP (or TLS) port. It decodes batches and
 * hands each request to `execute`; it never looks at operations itself. The
 * bootstrap server assigns its name, range, size and policy with the
 * `configure` request (which needs the token when the server has one, as every
 * request does).
 */
import { EventEmitter } from 'node:events'
import { loadSnapshot } from './snapshot.js'
import { ADMIN_OPS, AuthFailedError, ShardHost, deliver, errorResponse, loadProcessors, processorsHref, FSYNC_POLICIES } from '../../src/internal.js'
import type { PyshardError, Request, Response, ShardSettings, OnFull, Fsync } from '../../src/internal.js'
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
   * Directory holding this shard on disk (an lmdb database; created if missing). Every change
   * (writes, removals, evictions, expiries, indexes, the assignment) is recorded there as it
   * happens, off the request's path; `listen()` loads the shard from it before it binds, with
   * the assignment it last had. A dir that cannot be used (damaged, another format, held by a
   * running process) makes `listen()` reject with DATA_DIR naming it. A dir holding an old
   * `shard.snapshot.jsonl` is imported once. See docs/durability.md. @default none (memory only)
   */
  dataDir?: string
  /**
   * When a write's commit must reach the disk. `'always'`: a batch is answered only once the
   * commit holding its writes is on disk (one commit serves every write of an event-loop turn);
   * nothing acknowledged is lost, even by a power cut. `'everysec'`: answered at once; each commit
   * is flushed right after it, off the event loop, at most one per 10 ms, so a crash of the process
   * or the machine loses the last tens of milliseconds at most and never damages the dir. `'no'`: one commit per turn that the
   * OS flushes when it likes (a process crash loses that turn at most; a power cut can lose more
   * and damage the dir). Only with `dataDir`. @default 'everysec'
   */
  fsync?: Fsync
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
   * A listener of another event threw, or a change could not be recorded in `dataDir` (disk
   * full, I/O error: DATA_DIR). Without an 'error' listener it becomes a process warning.
   */
  error: [error: Error]
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
  readonly #fsync: Fsync
  readonly #now: () => number

  constructor(options: ShardServerOptions = {}) {
    super()
    const resolved = resolveHostOptions(options)
    if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('options.now must be a function')
    if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir === '')) {
      throw new TypeError('options.dataDir must be a non-empty string (a directory path)')
    }
    if (options.fsync !== undefined && !FSYNC_POLICIES.includes(options.fsync)) {
      throw new TypeError(`options.fsync must be one of ${FSYNC_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${String(options.fsync)}`)
    }
    if ('snapshotInterval' in options) {
      throw new TypeError('options.snapshotInterval is gone: every change is recorded in dataDir as it happens (see options.fsync)')
    }
    this.#dataDir = options.dataDir
    this.#fsync = options.fsync ?? 'everysec'
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
      durable: () => host.durable(),
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
    if (this.#dataDir !== undefined && this.#shard.fsync === null) {
      // DATA_DIR for a dir that cannot be used: serving an empty shard over it would be worse than not starting.
      const now = this.#now
      await this.#shard.persist({
        dir: this.#dataDir, fsync: this.#fsync, assignment: 'stored',
        onError: (error) => this.#deliver('error', error),
        legacy: (shard, dir) => loadSnapshot(shard, dir, now),
      })
    }
    let address: { host: string; port: number }
    try {
      address = await this.#host.listen()
    } catch (err) {
      await this.#shard.close()
      throw err
    }
    this.#shard.start()
    return address
  }

  /** The bound address, or null before `listen()` / after close. */
  get address(): { host: string; port: number } | null { return this.#host.address }

  /** The shard's current name, range, size, policy and map epoch. */
  get settings(): Readonly<ShardSettings> { return this.#shard.settings }

  /** Client connections open now. */
  get connections(): number { return this.#host.connections }

  /** Bytes held now for frames that have not fully arrived, across all connections (capped by `maxIncompleteBytes`). */
  get incompleteBytes(): number { return this.#host.incompleteBytes }

  /**
   * Stops accepting connections, answers what has arrived, ends every connection, then (with a
   * `dataDir`) waits for the last commit to reach the disk and closes the dir, then resolves.
   */
  async close(): Promise<void> {
    await this.#host.close()
    await this.#shard.close()
  }

  /**
   * Drops every connection now, answering nothing more. With a `dataDir`, what was already
   * committed stays (as after a crash), and the dir is closed so another server may open it.
   */
  async destroy(): Promise<void> {
    await this.#host.destroy()
    await this.#shard.close()
  }
}
