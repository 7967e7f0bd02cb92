/**
 * A shard's data dir: an lmdb environment that records every change the Shard makes (it is the
 * Shard's journal) and loads the Shard back at start-up. The in-memory Shard stays the serving
 * copy; lmdb is written behind it. Every change is queued here and the queue is committed in
 * one lmdb transaction once the turn's answers are out (setImmediate); the fsync policy decides
 * how:
 * - `no`: a synchronous transaction on this thread, never flushed by lmdb (the OS writes it out).
 * - `everysec` and `always`: an asynchronous transaction: the queue is written into it on this
 *   thread, and lmdb-js's writer thread commits and flushes it, so a write never waits for the
 *   disk here. (A few rare steps commit synchronously on this thread: a move record, a reshard's
 *   copies, close, and a queue past MAX_QUEUED.) One such transaction is in flight at a time;
 *   what is queued meanwhile goes in the next.
 *   `everysec` uses lmdb-js's overlapping sync (the commit is flushed right after it, in the
 *   background, and a crash of the machine falls back to the last flushed commit); `always`
 *   flushes before the commit resolves, and its answers wait for that (`durable()`).
 *
 * Layout (three named databases, no hand-written format):
 * - `meta`: `format` ({ format, version }), `assignment` (name, range, size, policy, epoch),
 *   `nextIndexId`, `move` (the host's frozen move as a source: ranges, epoch, committed).
 * - `indexes`: index id (uint32) -> index name. Dropping an index removes its one record; its
 *   entries are swept afterwards and skipped at load, so a drop is one small commit.
 * - `entries`: [index id (4 bytes, big-endian)][key as UTF-8] -> [expires, doc]. A key that is not
 *   well-formed UTF-16, starts with U+0000 or is too long for an lmdb key is stored under
 *   [id][0x00][sha-256 of the key] -> [expires, doc, key].
 *
 * This module is only ever loaded with a dynamic import, when a data dir is set: importing
 * `pyshard` never loads lmdb.
 */
import { open } from 'lmdb'
import type { Database, RootDatabase } from 'lmdb'
import { createHash } from 'node:crypto'
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DataDirError } from '../errors.js'
import type { Json } from '../protocol.js'
import type { Shard, ShardJournal, ShardSettings } from '../shard.js'

/** When a write's commit must be on disk: see `fsync` on ShardServer and `Pyshard.open`. */
export type Fsync = 'always' | 'everysec' | 'no'

/** What `openDataDir` needs besides the dir and the shard. */
export interface DataDirOptions {
  fsync: Fsync
  /**
   * 'stored': the dir's assignment replaces the shard's settings (a shard server: the bootstrap
   * assigned it). 'given': the shard's settings come from the caller's config, and a dir that
   * holds another range is refused rather than losing the entries outside it. 'adopt': the
   * caller's settings replace the dir's whatever its range (a store finishing a reshard it
   * recorded; the entries outside the new range are gone for good).
   */
  assignment: 'stored' | 'given' | 'adopt'
  /** Told of a commit that failed (disk full, I/O error) after the request was answered. */
  onError: (error: Error) => void
  /** Loads an old-format snapshot from the dir into the shard, if there is one (imported once). */
  legacy?: ((shard: Shard, dir: string) => Promise<number | null>) | undefined
}

const FORMAT = 'pyshard-data'
const VERSION = 1
/** The file that says which process has the dir open (lmdb itself lets several processes share one). */
export const LOCK_FILE = 'pyshard.lock'
/**
 * The lmdb-js lock that says which thread of this process has the dir open. lmdb-js shares one
 * environment between the threads of a process, and its locks with it; a thread that ends
 * (closed, crashed or terminated) lets go of its locks.
 */
const THREAD_LOCK = 'pyshard-owner'
/** lmdb keys hold at most 1978 bytes; 4 go to the index id. */
const MAX_DIRECT_KEY = 1900
/** Removals per commit when a dropped index's entries are swept. */
const SWEEP_CHUNK = 10_000
/**
 * Changes queued while a commit is in flight (the disk is slower than the writes): past this
 * many, the queue is committed synchronously, which holds this thread until the disk catches up.
 */
const MAX_QUEUED = 200_000
/**
 * `everysec`: a busy shard starts at most one commit (and so one flush) per this many ms; what
 * arrives meanwhile waits in the queue and goes in the next one. Fewer, bigger commits cost
 * less per write (about 0.1x of the throughput without a data dir on the 2-core machine of
 * bench/durability.bench.ts); the price is as many more ms of writes a crash can lose.
 */
const EVERYSEC_GAP_MS = 10

const held = new Set<string>()
/** A queued removal (see `DataDir.#queue`). */
const REMOVE = Symbol('remove')

function fail(dir: string, why: string, cause?: unknown): DataDirError {
  return new DataDirError(`data dir ${dir} ${why}`, cause === undefined ? undefined : { cause })
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the dir for this process; a lock left by a process that is gone (a crash) is taken over.
 * Returns the release (`keepFile`: leave the file, which names this process, for another thread of it).
 */
function lock(dir: string, fail: (why: string, cause?: unknown) => DataDirError): (keepFile?: boolean) => void {
  if (held.has(dir)) throw fail('is already open in this process (one owner per data dir)')
  const file = join(dir, LOCK_FILE)
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' })
      held.add(dir)
      return (keepFile = false) => {
        held.delete(dir)
        if (keepFile) return
        try {
          unlinkSync(file)
        } catch {
          // Already gone: nothing to release.
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw fail(`cannot be locked (${LOCK_FILE}): ${message(err)}`, err)
      const pid = Number.parseInt(readFileSync(file, 'utf8'), 10)
      if (pid === process.pid) {
        // This process's file: another thread's (its lmdb-js lock decides, in openLocked) or left
        // by a thread that ended. Left as it is; whoever holds the dir removes it at the end.
        held.add(dir)
        return (keepFile = false) => {
          held.delete(dir)
          if (!keepFile) rmSync(file, { force: true })
        }
      }
      if (Number.isSafeInteger(pid) && pid > 0 && alive(pid)) {
        throw fail(`is in use by process ${pid}; stop that process first, or give it another data dir`)
      }
      unlinkSync(file)
    }
  }
}

/** lmdb-js's per-process locks (not in its type declarations). */
type Locks = { tryLock(id: string): boolean; unlock(id: string): boolean }

/**
 * Opens the lmdb environment of a dir this process and thread alone may use: the lock file says
 * which process holds it, lmdb-js's per-process lock which thread. `check` runs under the
 * process lock, before lmdb opens the file. Returns the environment and the release (after it
 * is closed); throws DataDirError (with `fail`'s wording) when the dir is held or cannot be opened.
 */
export function openLocked<R extends RootDatabase<any, any>>(path: string, fail: (why: string, cause?: unknown) => DataDirError,
  openEnv: () => R, check?: () => void): { root: R; release: () => void } {
  const unlockFile = lock(path, fail)
  let root: R | null = null
  try {
    check?.()
    try {
      root = openEnv()
    } catch (err) {
      throw fail(`cannot be opened: ${message(err)}`, err)
    }
    const locks = root as unknown as Locks
    if (!locks.tryLock(THREAD_LOCK)) {
      void root.close().catch(() => {})
      unlockFile(true)
      throw fail('is already open in another thread of this process (one owner per data dir)')
    }
    const release = (): void => {
      try {
        locks.unlock(THREAD_LOCK)
      } catch {
        // Closed already: closing let go of it.
      }
      unlockFile()
    }
    return { root, release }
  } catch (err) {
    if (root === null) unlockFile()
    throw err
  }
}

/**
 * lmdb trusts its file: opening a damaged one can crash the process. So the two meta pages are
 * checked first (magic, version, page size, root pages inside the file). Damage deeper in the
 * tree is not detected here (lmdb keeps no checksums); see docs/durability.md.
 */
function checkFile(dir: string): void {
  const file = join(dir, 'data.mdb')
  if (!existsSync(file)) return
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    if (size === 0) return // created, then killed before the first commit: lmdb starts it afresh
    const head = Buffer.alloc(256)
    const damaged = (why: string): never => {
      throw fail(dir, `holds a damaged database (data.mdb: ${why}); restore the dir from a backup, or move it away to start this shard empty`)
    }
    if (readSync(fd, head, 0, 256, 0) < 160) damaged('shorter than its header')
    const pageSize = head.readUInt32LE(48)
    if (!(pageSize >= 512 && pageSize <= 65536 && (pageSize & (pageSize - 1)) === 0)) damaged('not an lmdb file')
    if (size < 2 * pageSize) damaged('truncated')
    const pages = Math.floor(size / pageSize)
    let valid = 0
    for (const at of [0, pageSize]) {
      if (readSync(fd, head, 0, 256, at) < 160) continue
      if (head.readUInt32LE(24) !== 0xbeefc0de) continue
      if (head.readUInt32LE(28) !== 2) damaged(`lmdb file version ${head.readUInt32LE(28)}, this build reads 2`)
      const roots = [head.readBigUInt64LE(88), head.readBigUInt64LE(136)]
      if (roots.some((r) => r !== 0xffffffffffffffffn && r >= BigInt(pages))) continue
      valid++
    }
    if (valid === 0) damaged('no valid meta page')
  } finally {
    closeSync(fd)
  }
}

/** Whether `key` is stored as itself ([id][UTF-8]) rather than hashed (see the layout above). */
function direct(key: string): boolean {
  return key.charCodeAt(0) !== 0 && (key.length <= MAX_DIRECT_KEY / 3 || Buffer.byteLength(key) <= MAX_DIRECT_KEY) &&
    (key as string & { isWellFormed(): boolean }).isWellFormed()
}

/**
 * The `entries` database's key encoder. A string key is written straight into lmdb-js's key
 * buffer under the index id set in `id` just before the call (no Buffer per write); a Buffer
 * (a key read back, a range bound) is copied as it is.
 */
class EntryKeys {
  id = 0

  writeKey = (key: string | Uint8Array, target: Buffer, start: number): number => {
    if (typeof key !== 'string') {
      target.set(key, start)
      return start + key.length
    }
    target.writeUInt32BE(this.id, start)
    if (direct(key)) return start + 4 + target.write(key, start + 4, 'utf8')
    target[start + 4] = 0
    createHash('sha256').update(JSON.stringify(key)).digest().copy(target, start + 5)
    return start + 5 + 32
  }

  /**
   * Set while the shard loads: `readKey` then gives a stored key's string (a hashed key's bytes
   * stay a Buffer) and leaves its index id in `readId`, rather than a copy of its bytes.
   */
  strings = false
  readId = 0

  readKey = (source: Buffer, start: number, end: number): Buffer | string => {
    if (!this.strings) return Buffer.from(source.subarray(start, end))
    this.readId = source.readUInt32BE(start)
    if (end > start + 4 && source[start + 4] === 0) return Buffer.from(source.subarray(start, end))
    return source.toString('utf8', start + 4, end)
  }
}

/** Below every entry key (lmdb-js starts a range at [5] by default, which would skip every index id below 5 * 2^24). */
const FIRST_KEY = Buffer.alloc(4)

function prefix(id: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(id, 0)
  return b
}

type Stored = [expires: number, doc: Json, key?: string]

/** Someone waiting for a commit (`always`: a flush) that covers change number `seq`. */
interface Waiter { seq: number; promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void }

/** An open data dir: the shard's journal, with the fsync policy and the durable promise. */
export class DataDir implements ShardJournal {
  readonly path: string
  readonly fsync: Fsync
  readonly #root: RootDatabase
  readonly #meta: Database<unknown, string>
  readonly #indexes: Database<string, number>
  readonly #entries: Database<Stored, Buffer | string>
  readonly #keys = new EntryKeys()
  readonly #ids = new Map<string, number>()
  readonly #onError: (error: Error) => void
  readonly #release: () => void
  #nextId = 1
  /** Changes recorded, and how many of them are committed (`always`: and flushed). */
  #seq = 0
  #doneSeq = 0
  /** Waiting for `#doneSeq` to reach their change, oldest first. */
  readonly #waiters: Waiter[] = []
  /** An asynchronous transaction is on its way (`everysec`, `always`). */
  #inFlight = false
  #failed: Error | null = null
  #closed = false
  #sweeping: Promise<void> = Promise.resolve()
  /**
   * Changes wait here (flat: database, key, value or REMOVE, index id) until the next commit
   * takes them all, in order. lmdb-js's own asynchronous `put` would encode each one for its
   * writer thread and settle a promise per turn; the queue costs one array slot per field.
   */
  readonly #queue: unknown[] = []
  #queued: NodeJS.Immediate | null = null

  /** Use `openDataDir`. */
  constructor(path: string, root: RootDatabase, fsync: Fsync, onError: (error: Error) => void, release: () => void) {
    this.path = path
    this.fsync = fsync
    this.#root = root
    this.#meta = root.openDB<unknown, string>({ name: 'meta', encoding: 'json' })
    this.#indexes = root.openDB<string, number>({ name: 'indexes', keyEncoding: 'uint32', encoding: 'json' })
    this.#entries = root.openDB<Stored, Buffer | string>({ name: 'entries', keyEncoder: this.#keys, encoding: 'json' } as never)
    this.#onError = onError
    this.#release = release
  }

  /** Loads the shard from the dir (or imports an old snapshot into a fresh dir), then records its changes. */
  async load(shard: Shard, options: DataDirOptions): Promise<number> {
    const format = this.#meta.get('format') as { format?: unknown; version?: unknown } | undefined
    if (format === undefined) {
      if (this.#entries.getKeysCount({ start: FIRST_KEY, limit: 1 }) > 0 || this.#indexes.getKeysCount({ limit: 1 }) > 0) {
        throw fail(this.path, 'holds an lmdb database that pyshard did not write (no format record); give this shard an empty dir')
      }
      return this.#create(shard, options)
    }
    if (format.format !== FORMAT || typeof format.version !== 'number') throw fail(this.path, `holds data of another format (${JSON.stringify(format)})`)
    if (format.version !== VERSION) {
      throw fail(this.path, `was written in data format v${format.version}; this pyshard reads v${VERSION}` +
        (format.version > VERSION ? ' (upgrade pyshard to open it)' : ''))
    }
    const stored = this.#meta.get('assignment') as ShardSettings | undefined
    if (stored !== undefined) {
      const cur = shard.settings
      if (options.assignment === 'stored') shard.configure(stored)
      else if (options.assignment === 'given' && (stored.name !== cur.name || stored.start !== cur.start || stored.end !== cur.end)) {
        throw fail(this.path, `holds shard "${stored.name}" [${stored.start}, ${stored.end}) but this store's config gives ` +
          `"${cur.name}" [${cur.start}, ${cur.end}); use the config it was written with, or move the dir away`)
      }
    }
    this.#nextId = Number(this.#meta.get('nextIndexId') ?? 1)
    const names = new Map<number, string>()
    for (const { key, value } of this.#indexes.getRange({})) {
      names.set(key, value)
      this.#ids.set(value, key)
      if (!shard.indexes().includes(value)) shard.createIndex(value)
      if (key >= this.#nextId) this.#nextId = key + 1
    }
    let loaded = 0
    const keys = this.#keys
    const stale: Array<[key: string | Buffer, id: number]> = []
    keys.strings = true
    try {
      for (const { key, value } of this.#entries.getRange({ start: FIRST_KEY })) {
        const id = keys.readId
        const name = names.get(id)
        const k = typeof key === 'string' ? key : value[2]
        if (name !== undefined && typeof k === 'string' && shard.load(name, k, value[1], value[0])) loaded++
        else stale.push([key, id])
      }
    } finally {
      keys.strings = false
    }
    // Expired, swept after a drop, or outside the range: gone for good.
    for (const [k, id] of stale) this.#write(this.#entries, k, REMOVE, id)
    this.#write(this.#meta, 'assignment', { ...shard.settings })
    // An adopted range is part of a reshard being finished: in the dir before the store records the new map.
    if (options.assignment === 'adopt') this.#commitNow()
    shard.setJournal(this)
    return loaded
  }

  async #create(shard: Shard, options: DataDirOptions): Promise<number> {
    let imported = 0
    const old = join(this.path, 'shard.snapshot.jsonl')
    if (options.legacy !== undefined && existsSync(old)) imported = (await options.legacy(shard, this.path)) ?? 0
    this.#write(this.#meta, 'assignment', { ...shard.settings })
    for (const index of shard.indexes()) this.createIndex(index)
    for (const e of shard.dump()) this.put(e.index, e.key, e.doc, e.expires)
    // The format record goes last, in the same commit: a crash before it leaves a dir that imports again.
    this.#write(this.#meta, 'format', { format: FORMAT, version: VERSION })
    this.#commitNow()
    await this.#root.flushed
    if (this.#failed !== null) throw fail(this.path, `could not be written: ${this.#failed.message}`, this.#failed)
    if (existsSync(old)) renameSync(old, `${old}.imported`)
    for (const f of readdirSync(this.path)) if (/^shard\.snapshot\.jsonl\.\d+\.tmp$/.test(f)) unlinkSync(join(this.path, f))
    shard.setJournal(this)
    return imported
  }

  /** Records one change, for the commit after this turn's answers. */
  #write(db: Database<any, any>, key: unknown, value: unknown, id = 0): void {
    this.#seq++
    this.#queue.push(db, key, value, id)
    if (this.#queue.length > MAX_QUEUED * 4) this.#commitNow()
    else this.#queued ??= setImmediate(this.#commitQueued)
  }

  readonly #commitQueued = (): void => {
    this.#queued = null
    if (this.fsync === 'no') this.#commitNow()
    else this.#begin()
  }

  /** Writes the queue into the current lmdb transaction, emptying it; returns the last change it held. */
  readonly #drain = (): number => {
    const q = this.#queue
    try {
      for (let i = 0; i < q.length; i += 4) {
        const db = q[i] as Database<any, any>
        this.#keys.id = q[i + 3] as number
        if (q[i + 2] === REMOVE) db.removeSync(q[i + 1])
        else db.putSync(q[i + 1], q[i + 2])
      }
    } finally {
      q.length = 0
    }
    return this.#seq
  }

  /** Starts an asynchronous transaction for the queue, unless one is on its way (it takes the queue when its turn comes). */
  #begin(): void {
    if (this.#inFlight || this.#queue.length === 0 || this.#closed) return
    this.#inFlight = true
    const began = performance.now()
    ;(this.#root.transaction(this.#drain) as Promise<number>).then((seq) => {
      this.#inFlight = false
      this.#done(seq)
      // everysec: at most one commit (and flush) per EVERYSEC_GAP_MS, so that a busy shard writes more per commit.
      const wait = this.fsync === 'everysec' ? EVERYSEC_GAP_MS - (performance.now() - began) : 0
      if (wait > 0 && this.#queue.length > 0) {
        this.#inFlight = true
        setTimeout(() => {
          this.#inFlight = false
          this.#begin()
        }, wait)
      } else this.#begin()
    }, (err: unknown) => {
      this.#inFlight = false
      this.#error(err)
    })
  }

  /** Commits the queue now, in one synchronous transaction on this thread (`always`: flushed when it returns). */
  #commitNow(): void {
    if (this.#queued !== null) {
      clearImmediate(this.#queued)
      this.#queued = null
    }
    if (this.#queue.length === 0) return
    let seq: number
    try {
      seq = this.#root.transactionSync(this.#drain)
    } catch (err) {
      this.#error(err)
      return
    }
    this.#done(seq)
  }

  /** Changes up to `seq` are committed (`always`: flushed): their waiters go on. */
  #done(seq: number): void {
    if (seq <= this.#doneSeq) return
    this.#doneSeq = seq
    const w = this.#waiters
    let n = 0
    while (n < w.length && (w[n] as Waiter).seq <= seq) (w[n++] as Waiter).resolve()
    if (n > 0) w.splice(0, n)
  }

  /** Resolves once change number `seq` is committed (`always`: flushed); rejects once a commit fails. */
  #until(seq: number): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed)
    const last = this.#waiters[this.#waiters.length - 1]
    if (last !== undefined && last.seq === seq) return last.promise
    let resolve!: () => void
    let reject!: (err: unknown) => void
    const promise = new Promise<void>((ok, no) => {
      resolve = ok
      reject = no
    })
    this.#waiters.push({ seq, promise, resolve, reject })
    return promise
  }

  createIndex(index: string): void {
    const id = this.#nextId++
    this.#ids.set(index, id)
    this.#write(this.#meta, 'nextIndexId', this.#nextId)
    this.#write(this.#indexes, id, index)
  }

  dropIndex(index: string): void {
    const id = this.#ids.get(index)
    if (id === undefined) return
    this.#ids.delete(index)
    this.#write(this.#indexes, id, REMOVE)
    // Once the drop is committed no write can reach this id again (a new index gets a new id).
    // A failed commit was reported (`#error`); the sweep then stops, and nothing is left unhandled.
    const committed = this.#committed()
    committed.catch(() => {})
    this.#sweeping = this.#sweeping.then(() => committed).then(() => this.#sweep(id)).catch(() => {})
  }

  put(index: string, key: string, doc: Json, expires: number): void {
    this.#write(this.#entries, key, direct(key) ? [expires, doc] : [expires, doc, key], this.#ids.get(index) as number)
  }

  delete(index: string, key: string): void {
    this.#write(this.#entries, key, REMOVE, this.#ids.get(index) as number)
  }

  /** A record the shard's host keeps beside the shard (the move in progress), or undefined. */
  readMeta(key: 'move'): unknown {
    return this.#meta.get(key)
  }

  /** Commits every queued change before this returns (`always`: flushed too); one in an asynchronous commit on its way lands first. */
  commit(): void {
    this.#commitNow()
  }

  /** Records (`undefined`: removes) a record of the shard's host, with every change before it, before this returns. */
  writeMeta(key: 'move', value: unknown): void {
    this.#write(this.#meta, key, value === undefined ? REMOVE : value)
    // The move record is a promise to the coordinator: committed before the answer leaves (rare:
    // this thread may wait here for a commit in flight).
    this.#commitNow()
  }

  /** Records a new assignment (name, range, size, policy, epoch). */
  assign(settings: ShardSettings): void {
    this.#write(this.#meta, 'assignment', { ...settings })
  }

  /** Resolves once every change recorded so far is committed (not necessarily flushed). */
  #committed(): Promise<void> {
    if (this.#seq === this.#doneSeq) return Promise.resolve()
    if (this.fsync === 'no') {
      this.#commitNow()
      return this.#failed === null ? Promise.resolve() : Promise.reject(this.#failed)
    }
    return this.#until(this.#seq)
  }

  /**
   * `always`: a promise that resolves once every change recorded so far is on disk (one per
   * commit, shared by every caller until the next change), or null when there is nothing to wait
   * for. Rejects when a commit failed. Null for the other policies.
   */
  durable(): Promise<void> | null {
    if (this.fsync !== 'always') return null
    if (this.#failed !== null) return Promise.reject(this.#failed)
    if (this.#seq === this.#doneSeq) return null
    return this.#until(this.#seq)
  }

  /** Commits what was recorded, flushes it to disk (unless `no`), closes lmdb and gives the dir back. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#commitNow()
    this.#closed = true
    try {
      try {
        await this.#root.committed
        if (this.fsync !== 'no') await this.#root.flushed
      } finally {
        await this.#root.close()
      }
    } finally {
      this.#release()
    }
  }

  #error(err: unknown): void {
    const error = fail(this.path, `failed to record a change: ${message(err)}`, err)
    if (this.#failed === null) this.#failed = error
    for (const w of this.#waiters.splice(0)) w.reject(error)
    try {
      this.#onError(error)
    } catch {
      // The owner's sink: nothing more to tell.
    }
  }

  async #sweep(id: number): Promise<void> {
    const range = { start: prefix(id), end: prefix(id + 1), limit: SWEEP_CHUNK }
    while (!this.#closed) {
      const keys = [...this.#entries.getKeys(range)] as Buffer[]
      if (keys.length === 0) return
      for (const k of keys) this.#write(this.#entries, k, REMOVE)
      await this.#committed()
      // One chunk per turn: the requests in between are served.
      await new Promise<void>((done) => setImmediate(done))
    }
  }
}

/**
 * Opens (creating if missing) the data dir of one shard and loads the shard from it. Fails with
 * one DataDirError naming the dir when it cannot be used; the shard is then not to be served.
 */
export async function openDataDir(dir: string, shard: Shard, options: DataDirOptions): Promise<{ store: DataDir; loaded: number }> {
  const path = resolve(dir)
  try {
    mkdirSync(path, { recursive: true })
  } catch (err) {
    throw fail(path, `cannot be created: ${message(err)}`, err)
  }
  if (!statSync(path).isDirectory()) throw fail(path, 'is not a directory')
  // no: lmdb never flushes (the OS does). everysec: each commit is flushed right after it, in
  // the background (overlapping sync). always: each commit is flushed before it resolves.
  const fsync = options.fsync
  const { root, release } = openLocked(path, (why, cause) => fail(path, why, cause),
    () => open({ path, maxDbs: 4, noSync: fsync === 'no', overlappingSync: fsync === 'everysec' }), () => checkFile(path))
  let store: DataDir | null = null
  try {
    store = new DataDir(path, root, options.fsync, options.onError, release)
    const loaded = await store.load(shard, options)
    return { store, loaded }
  } catch (err) {
    if (store !== null) await store.close().catch(() => {})
    else {
      await root.close().catch(() => {})
      release()
    }
    if (err instanceof DataDirError) throw err
    throw fail(path, `cannot be read: ${message(err)}`, err)
  }
}
