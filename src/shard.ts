/**
 * The storage engine for one hash range: indexes, entries, the byte limit,
 * LRU eviction, TTL, stats. Plain synchronous code with no I/O; every host
 * reaches it through `execute` (src/protocol.ts).
 */
import { BadRequestError, IndexExistsError, IndexNotFoundError, MovedError, ShardFullError, StaleEpochError, TryAgainError } from './errors.js'
import { hashKey } from './hash.js'
import { measure } from './measure.js'
import type { Json, ScanPage } from './protocol.js'

/** What a shard does when a write would take it over its byte limit. */
export type OnFull = 'reject' | 'evict'

/** A shard processor: runs where the shard lives, over one index's entries. */
export type Processor = (entries: Iterable<[key: string, record: Json]>, args: Json | undefined) => unknown

/** Name, range and limits of one shard: what the bootstrap config assigns. */
export interface ShardSettings {
  /** Unique name of the shard in its map. */
  name: string
  /** Inclusive start of the hash range. @default 0 */
  start: number
  /** Exclusive end of the hash range. @default 1 */
  end: number
  /** Byte limit of the shard (key + document bytes, see `measure`). @default unlimited for a bare Shard; 64 MiB from a map or a server */
  size: number
  /** What a write over the limit does. @default 'reject' */
  onFull: OnFull
  /** Epoch of the map these settings come from; reported with MOVED. @default 0 */
  epoch: number
}

export interface ShardOptions extends Partial<ShardSettings> {
  /** Clock in milliseconds; inject a fake one in tests. @default Date.now */
  now?: () => number
  /** Processors `db.run` may call, by name. @default {} */
  processors?: Record<string, Processor>
  /** Buckets of the distribution histogram over the shard's range. @default 10 */
  buckets?: number
  /** Most scan cursors open at once; opening one more drops the least recently used. @default 1024 */
  maxCursors?: number
  /** A cursor not used for this long is dropped. @default 60_000 */
  cursorIdleMs?: number
  /**
   * A scan page ends once its entries reach this many accounted bytes (see `measure`), so a
   * page of big documents stays within what one answer can carry. @default unlimited
   */
  maxScanBytes?: number
  /** Told of every entry the shard evicts or expires, synchronously; it must not throw (an error it throws is ignored). @default none */
  onEvent?: (event: ShardEvent) => void
}

/**
 * Told of every change to a shard's contents, synchronously, as it happens: what a data dir
 * records. Removals of every kind (remove, pop, evict, expire, a range that moved away) arrive
 * as `delete`; dropping an index arrives once as `dropIndex`, not per entry.
 */
export interface ShardJournal {
  createIndex(index: string): void
  dropIndex(index: string): void
  /** An entry was written; `expires` is its expiry time in ms (0 = none). */
  put(index: string, key: string, doc: Json, expires: number): void
  delete(index: string, key: string): void
}

/** One entry as `Shard.dump` gives it. */
export interface DumpedEntry { index: string; key: string; doc: Json; expires: number }

/** An entry that left the shard without being removed by a caller. */
export interface ShardEvent { type: 'evict' | 'expire'; index: string; key: string }

/** What `stat` reports for one shard. */
export interface ShardStat {
  name: string
  start: number
  end: number
  /** Live entries in the shard's range (all indexes). */
  count: number
  /**
   * Entries kept outside the range after it narrowed, until a migration hands them over
   * (they answer MOVED meanwhile; `bytes` counts them). 0 or absent outside a move.
   */
  handover?: number
  /** Bytes accounted (keys + documents). */
  bytes: number
  /** The byte limit (`size`). */
  maxSize: number
  onFull: OnFull
  /** Epoch of the assignment held (0: never assigned). */
  epoch?: number
  indexes: number
  /** Entries per equal-width bucket of [start, end). */
  distribution: number[]
}

/** One entry as a migration carries it: `gone` says the key was removed meanwhile. */
export interface MovedEntry { index: string; key: string; doc?: Json; expires?: number; gone?: true }

/** A page of `exportRange`: entries and the next cursor (0 = done). */
export interface ExportPage { cursor: number; entries: MovedEntry[] }

/** A hash range `[start, end)`. */
export type Range = [start: number, end: number]

/** The ranges this shard is handing over: writes there are logged (or refused while frozen). */
interface Moving { ranges: Range[]; dirty: Map<string, Set<string>>; frozen: boolean }

/**
 * The record of an entry that needs more than its document: an expiry, LRU links (evict mode), or
 * the size accounted for a document that is an object (a caller may hold the same object, so its
 * size is recorded at write time rather than measured again). Any other entry (a string, number,
 * boolean or null document, no expiry, no LRU) is its document itself in `Table.map`, so reading
 * it costs one Map lookup and no further object, and its size is measured from the value.
 * `table` is null once the entry has left the shard (or its record was replaced).
 */
class Slot {
  doc: Json
  size: number
  /** Expiry time in ms, 0 = never. */
  expires: number
  key: string
  table: Table | null
  /** LRU neighbours (evict mode only): prev is less recently used. */
  prev: Slot | null = null
  next: Slot | null = null
  constructor(doc: Json, size: number, expires: number, key: string, table: Table) {
    this.doc = doc
    this.size = size
    this.expires = expires
    this.key = key
    this.table = table
  }
}

/** What `Table.map` holds per key: the document itself, or its Slot. */
type Stored = Json | Slot

class Table {
  readonly map = new Map<string, Stored>()
  constructor(readonly name: string) {}
}

/**
 * Whether a stored value is a Slot. The `typeof` test first: `instanceof` of a primitive
 * (the usual bare document) costs V8 several times a Map lookup.
 */
function isSlot(v: Stored | undefined): v is Slot {
  return typeof v === 'object' && v !== null && v instanceof Slot
}

/** The document of a stored value. */
function docOf(v: Stored): Json {
  return isSlot(v) ? v.doc : v
}

/** The expiry of a stored value (0 = none). */
function expiresOf(v: Stored): number {
  return isSlot(v) ? v.expires : 0
}

/** The bytes accounted for `key`'s stored value: recorded in a Slot, else measured from the primitive document. */
function sizeOf(key: string, v: Stored): number {
  if (typeof v === 'string') return key.length + v.length + 2
  return isSlot(v) ? v.size : key.length + measure(v)
}

interface Cursor { iter: Iterator<[string, Stored]>; table: Table; used: number }

/** A pending expiry; stale once `slot.expires !== at` or the slot has left. */
interface Expiry { at: number; slot: Slot }

/** How many expired entries a write reclaims on its way (bounds the work per call). */
const SWEEP_PER_WRITE = 8

const MAX_SCAN_PAGE = 10_000

export class Shard {
  #settings: ShardSettings
  #now: () => number
  #processors: Record<string, Processor>
  #onEvent: ((event: ShardEvent) => void) | undefined
  #tables = new Map<string, Table>()
  /** The table found last: requests mostly name one index after another. */
  #lastTable: Table | null = null
  #count = 0
  /** Entries held outside the range (kept for a handover). */
  #outside = 0
  #moving: Moving | null = null
  #exports = new Map<number, { iter: Iterator<MovedEntry>; used: number }>()
  #bytes = 0
  #distribution: number[]
  // LRU list over every index (evict mode): head is the least recently used.
  #head: Slot | null = null
  #tail: Slot | null = null
  // Min-heap of expiries: one structure per shard instead of a timer per key.
  #heap: Expiry[] = []
  #ttlCount = 0
  #cursors = new Map<number, Cursor>()
  #nextCursor = 1
  #maxCursors: number
  #cursorIdleMs: number
  #maxScanBytes: number
  /** Set by a data dir once it has loaded the shard. */
  #journal: ShardJournal | null = null

  constructor(options: ShardOptions = {}) {
    this.#settings = {
      name: options.name ?? 'shard',
      start: options.start ?? 0,
      end: options.end ?? 1,
      size: options.size ?? Number.MAX_SAFE_INTEGER,
      onFull: options.onFull ?? 'reject',
      epoch: options.epoch ?? 0,
    }
    checkSettings(this.#settings)
    this.#now = options.now ?? Date.now
    this.#processors = options.processors ?? {}
    this.#onEvent = options.onEvent
    this.#distribution = new Array<number>(options.buckets ?? 10).fill(0)
    this.#maxCursors = options.maxCursors ?? 1024
    this.#maxScanBytes = options.maxScanBytes ?? Infinity
    if (!(this.#maxScanBytes > 0)) throw new TypeError(`options.maxScanBytes must be a positive number, got ${String(options.maxScanBytes)}`)
    this.#cursorIdleMs = options.cursorIdleMs ?? 60_000
  }

  get settings(): Readonly<ShardSettings> { return this.#settings }

  /**
   * Replaces name, range, size and policy (the bootstrap server's assignment). An assignment
   * older than the one held (lower `epoch`) is refused with STALE_EPOCH and changes nothing.
   * Narrowing the range deletes nothing: entries now outside it are kept (they answer MOVED and
   * count as `handover`) until a migration hands them over and `dropRange` removes them.
   */
  configure(settings: ShardSettings): boolean {
    if (settings === null || typeof settings !== 'object') throw new BadRequestError('configure needs a settings object')
    // Only the known fields: settings may come off the wire with anything else in them.
    const cur = this.#settings
    const next: ShardSettings = {
      name: settings.name ?? cur.name, start: settings.start ?? cur.start, end: settings.end ?? cur.end,
      size: settings.size ?? cur.size, onFull: settings.onFull ?? cur.onFull, epoch: settings.epoch ?? cur.epoch,
    }
    // A retired shard owns nothing: start === end is allowed here, never from a map.
    checkSettings(next, true)
    if (next.epoch < cur.epoch) {
      throw new StaleEpochError(`shard "${cur.name}" holds epoch ${cur.epoch}; an assignment of epoch ${next.epoch} is older and is refused`)
    }
    const rangeChanged = next.start !== this.#settings.start || next.end !== this.#settings.end
    const lruChanged = next.onFull !== this.#settings.onFull
    this.#settings = next
    if (rangeChanged) {
      this.#distribution.fill(0)
      this.#outside = 0
      for (const table of this.#tables.values()) {
        for (const key of table.map.keys()) {
          const hash = hashKey(table.name, key)
          if (hash >= next.start && hash < next.end) this.#bucket(hash, 1)
          else this.#outside++
        }
      }
    }
    if (lruChanged) {
      this.#head = this.#tail = null
      if (next.onFull === 'evict') {
        // Evict mode links every entry: entries held as bare documents get their Slot now.
        for (const table of this.#tables.values()) {
          for (const [key, v] of table.map) {
            if (isSlot(v)) this.#lruAppend(v)
            else {
              const slot = new Slot(v, key.length + measure(v), 0, key, table)
              table.map.set(key, slot)
              this.#lruAppend(slot)
            }
          }
        }
      } else {
        for (const table of this.#tables.values()) for (const v of table.map.values()) if (isSlot(v)) v.prev = v.next = null
      }
    }
    return true
  }

  /** Starts telling `journal` of every change (null stops). Loading (`load`) is never journaled. */
  setJournal(journal: ShardJournal | null): void { this.#journal = journal }

  /**
   * Puts an entry read back from a data dir: no journal, no byte limit, no sweep. Returns false
   * (and stores nothing) when the index is unknown, the entry has expired or its hash is outside
   * the range.
   */
  load(index: string, key: string, doc: Json, expires: number): boolean {
    const table = this.#tables.get(index)
    if (table === undefined || (expires !== 0 && expires <= this.#now())) return false
    const hash = hashKey(index, key)
    if (!(hash >= this.#settings.start && hash < this.#settings.end)) return false
    const size = key.length + measure(doc)
    const old = table.map.get(key)
    if (old !== undefined) this.#detach(table, key, old, hash, false)
    this.#insert(table, key, doc, size, expires)
    this.#count++
    this.#bytes += size
    this.#bucket(hash, 1)
    return true
  }

  /** Sets the processors `run` may call. */
  setProcessors(processors: Record<string, Processor>): void { this.#processors = processors }

  createIndex(index: string): boolean {
    checkName(index)
    if (this.#tables.has(index)) throw new IndexExistsError(`index "${index}" already exists`)
    this.#tables.set(index, new Table(index))
    this.#journal?.createIndex(index)
    return true
  }

  dropIndex(index: string): boolean {
    const table = this.#table(index)
    for (const [key, v] of table.map) this.#detach(table, key, v, hashKey(index, key), false)
    this.#tables.delete(index)
    this.#lastTable = null
    this.#journal?.dropIndex(index)
    return true
  }

  indexes(): string[] { return [...this.#tables.keys()] }

  /** Upserts and returns the bytes accounted, or 0 when `ifAbsent` found the key. */
  write(index: string, key: string, hash: number, doc: Json, ifAbsent = false, ttl?: number): number {
    const table = this.#table(index)
    this.#check(key, hash)
    if (ttl !== undefined && ttl !== null && !(Number.isSafeInteger(ttl) && ttl > 0)) {
      throw new BadRequestError(`ttl must be a positive integer of milliseconds, got ${String(ttl)}`)
    }
    if (this.#moving !== null) this.#touchMoving(table.name, key, hash)
    return this.#put(table, key, hash, doc, ifAbsent, ttl ? this.#now() + ttl : 0)
  }

  /** Stores an entry whose range was checked (or that a migration brings); `expires` is absolute, 0 = never. */
  #put(table: Table, key: string, hash: number, doc: Json, ifAbsent: boolean, expires: number): number {
    const index = table.name
    if (this.#heap.length > 0) this.sweep(SWEEP_PER_WRITE)
    let old = table.map.get(key)
    if (isSlot(old) && old.expires !== 0 && old.expires <= this.#now()) {
      this.#expire(table, key, old, hash)
      old = undefined
    }
    if (old !== undefined && ifAbsent) return 0
    const size = key.length + (typeof doc === 'string' ? doc.length + 2 : measure(doc))
    const delta = old === undefined ? size : size - sizeOf(key, old)
    if (this.#bytes + delta > this.#settings.size) this.#makeRoom(delta, size, old, index, key)
    // Bare: stored as the document itself (see Slot).
    const bare = expires === 0 && (typeof doc !== 'object' || doc === null) && this.#settings.onFull !== 'evict'
    if (old === undefined) {
      if (bare) table.map.set(key, doc)
      else this.#insert(table, key, doc, size, expires)
      this.#count++
      if (hash >= this.#settings.start && hash < this.#settings.end) this.#bucket(hash, 1)
      else this.#outside++
    } else if (!isSlot(old)) {
      if (bare) table.map.set(key, doc)
      else this.#insert(table, key, doc, size, expires)
    } else if (bare) {
      this.#retire(old)
      table.map.set(key, doc)
    } else {
      old.doc = doc
      old.size = size
      if (old.expires !== 0) this.#ttlCount--
      old.expires = expires
      if (this.#settings.onFull === 'evict') this.#lruTouch(old)
      if (expires !== 0) this.#schedule(old)
    }
    this.#bytes += delta
    this.#journal?.put(index, key, doc, expires)
    return size
  }

  /**
   * Stores `doc` under `key` (no accounting): as the bare document when it needs no Slot, else in
   * a new Slot, linked for LRU and scheduled for expiry as needed.
   */
  #insert(table: Table, key: string, doc: Json, size: number, expires: number): void {
    const evict = this.#settings.onFull === 'evict'
    if (expires === 0 && !evict && (typeof doc !== 'object' || doc === null)) {
      table.map.set(key, doc)
      return
    }
    const slot = new Slot(doc, size, expires, key, table)
    table.map.set(key, slot)
    if (evict) this.#lruAppend(slot)
    if (expires !== 0) this.#schedule(slot)
  }

  /** A Slot that left its key (removed, or replaced by another record): stale for the heap and the LRU list. */
  #retire(slot: Slot): void {
    slot.table = null
    if (slot.expires !== 0) this.#ttlCount--
    if (this.#head !== null) this.#lruUnlink(slot)
  }

  /** The document of a live key; undefined when absent (a stored document may itself be null). */
  read(index: string, key: string, hash: number): Json | undefined {
    const v = this.#live(index, key, hash)
    if (!isSlot(v)) return v
    if (this.#settings.onFull === 'evict') this.#lruTouch(v)
    return v.doc
  }

  has(index: string, key: string, hash: number): boolean {
    return this.#live(index, key, hash) !== undefined
  }

  /** Reads and removes; undefined when absent. */
  pop(index: string, key: string, hash: number): Json | undefined {
    if (this.#moving !== null) this.#touchMoving(index, key, hash)
    const table = this.#table(index)
    const v = this.#live(index, key, hash)
    if (v === undefined) return undefined
    this.#detach(table, key, v, hash)
    return docOf(v)
  }

  remove(index: string, key: string, hash: number): boolean {
    if (this.#moving !== null) this.#touchMoving(index, key, hash)
    const table = this.#table(index)
    const v = this.#live(index, key, hash)
    if (v === undefined) return false
    this.#detach(table, key, v, hash)
    return true
  }

  /**
   * One page of an index: up to `count` live entries from where `cursor` left
   * off (0 opens a new cursor). Entries written during the scan may or may not
   * be seen; entries that live throughout are seen exactly once. The page
   * also ends once its entries reach `maxBytes` accounted bytes (keys only, when
   * `values` is false), after at least one entry.
   */
  scan(index: string, cursor: number, count: number, values: boolean, maxBytes: number = this.#maxScanBytes): ScanPage {
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_SCAN_PAGE) {
      throw new BadRequestError(`scan count must be an integer from 1 to ${MAX_SCAN_PAGE}, got ${String(count)}`)
    }
    if (typeof maxBytes !== 'number' || !(maxBytes > 0)) throw new BadRequestError(`scan maxBytes must be a positive number, got ${String(maxBytes)}`)
    const now = this.#now()
    let state: Cursor | undefined
    if (cursor === 0) {
      const table = this.#table(index)
      state = { iter: table.map.entries(), table, used: now }
      cursor = this.#nextCursor++
      this.#dropIdleCursors(now)
      if (this.#cursors.size >= this.#maxCursors) this.#cursors.delete(this.#cursors.keys().next().value as number)
    } else {
      state = this.#cursors.get(cursor)
      if (state === undefined) throw new BadRequestError(`scan cursor ${cursor} is unknown or expired (cursors idle over ${this.#cursorIdleMs} ms are dropped)`)
      this.#cursors.delete(cursor) // re-inserted below: the map stays in least-recently-used order
      if (this.#tables.get(index) !== state.table) return { cursor: 0, keys: [], ...(values ? { records: [] } : {}) }
    }
    const keys: string[] = []
    const records: Json[] | undefined = values ? [] : undefined
    let bytes = 0
    while (keys.length < count && bytes < maxBytes) {
      const next = state.iter.next()
      if (next.done === true) return records ? { cursor: 0, keys, records } : { cursor: 0, keys }
      const [key, v] = next.value
      if (this.#outside > 0 && !this.#owns(state.table.name, key)) continue
      if (isSlot(v) && v.expires !== 0 && v.expires <= now) {
        this.#expire(state.table, key, v, hashKey(state.table.name, key))
        continue
      }
      keys.push(key)
      if (records) records.push(docOf(v))
      bytes += values ? sizeOf(key, v) : key.length + 2
    }
    state.used = now
    this.#cursors.set(cursor, state)
    return records ? { cursor, keys, records } : { cursor, keys }
  }

  /** Releases a cursor the caller stopped reading early. */
  scanClose(cursor: number): boolean { return this.#cursors.delete(cursor) }

  /** Runs processor `name` over the live entries of `index`. */
  run(index: string, name: string, args: Json | undefined): unknown {
    const table = this.#table(index)
    const fn = Object.hasOwn(this.#processors, name) ? this.#processors[name] : undefined
    if (typeof fn !== 'function') {
      const known = Object.keys(this.#processors)
      throw new BadRequestError(`unknown processor "${String(name)}" (this shard has ${known.length ? known.join(', ') : 'none'})`)
    }
    const now = this.#now()
    const owns = this.#outside > 0 ? (key: string): boolean => this.#owns(index, key) : null
    function* entries(): Generator<[string, Json]> {
      for (const [key, v] of table.map) {
        if (owns !== null && !owns(key)) continue
        if (!isSlot(v)) yield [key, v]
        else if (v.expires === 0 || v.expires > now) yield [key, v.doc]
      }
    }
    return fn(entries(), args)
  }

  /**
   * Every live entry with its expiry time (0 = none), index by index, for a
   * snapshot. Entries written while the generator runs may or may not be seen.
   */
  *dump(): Generator<DumpedEntry> {
    const now = this.#now()
    for (const table of this.#tables.values()) {
      for (const [key, v] of table.map) {
        const expires = expiresOf(v)
        if (expires !== 0 && expires <= now) continue
        yield { index: table.name, key, doc: docOf(v), expires }
      }
    }
  }

  /**
   * Migration, source side: from now on, writes and removals of keys in `ranges` are logged
   * (see `migrateDirty`). Replaces a move in progress.
   */
  migrateStart(ranges: Range[]): boolean {
    this.#moving = { ranges: checkRanges(ranges), dirty: new Map(), frozen: false }
    return true
  }

  /** Migration, source side: writes and removals in the moving ranges answer TRY_AGAIN until `migrateEnd`. */
  migrateFreeze(): boolean {
    if (this.#moving === null) throw new BadRequestError(`shard "${this.#settings.name}" has no move in progress to freeze`)
    this.#moving.frozen = true
    return true
  }

  /** Migration, source side: the current state of every key changed since the last call (entries, or `gone`). */
  migrateDirty(): MovedEntry[] {
    const moving = this.#moving
    if (moving === null) throw new BadRequestError(`shard "${this.#settings.name}" has no move in progress`)
    const out: MovedEntry[] = []
    const now = this.#now()
    for (const [index, keys] of moving.dirty) {
      const table = this.#tables.get(index)
      for (const key of keys) {
        const v = table?.map.get(key)
        const expires = v === undefined ? 0 : expiresOf(v)
        if (v === undefined || (expires !== 0 && expires <= now)) out.push({ index, key, gone: true })
        else out.push({ index, key, doc: docOf(v), expires })
      }
    }
    moving.dirty = new Map()
    return out
  }

  /** Migration, source side: stops logging and lifts the freeze. */
  migrateEnd(): boolean {
    this.#moving = null
    return true
  }

  /**
   * Migration, source side: one page of the live entries (every index) whose hash falls in
   * `ranges`, with their expiry. `cursor` 0 starts; the answer's cursor is 0 once done.
   */
  exportRange(ranges: Range[], cursor: number, count: number): ExportPage {
    checkRanges(ranges)
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_SCAN_PAGE) {
      throw new BadRequestError(`export count must be an integer from 1 to ${MAX_SCAN_PAGE}, got ${String(count)}`)
    }
    const now = this.#now()
    let state = cursor === 0 ? undefined : this.#exports.get(cursor)
    if (cursor === 0) {
      const tables = this.#tables
      state = {
        iter: (function* () {
          for (const table of tables.values()) {
            for (const [key, v] of table.map) {
              if (!inRanges(ranges, hashKey(table.name, key))) continue
              yield { index: table.name, key, doc: docOf(v), expires: expiresOf(v) }
            }
          }
        })(),
        used: now,
      }
      cursor = this.#nextCursor++
      for (const [id, c] of this.#exports) if (now - c.used > this.#cursorIdleMs) this.#exports.delete(id)
    }
    if (state === undefined) throw new BadRequestError(`export cursor ${cursor} is unknown or expired`)
    const entries: MovedEntry[] = []
    while (entries.length < count) {
      const next = state.iter.next()
      if (next.done === true) {
        this.#exports.delete(cursor)
        return { cursor: 0, entries }
      }
      const e = next.value
      if (e.expires !== 0 && (e.expires as number) <= now) continue
      entries.push(e)
    }
    state.used = now
    this.#exports.set(cursor, state)
    return { cursor, entries }
  }

  /**
   * Migration, destination side: stores entries a source hands over, whatever this shard's
   * range (the range is taken over at cut-over), creating missing indexes; a `gone` entry
   * removes the key. Returns how many entries it stored or removed.
   */
  importEntries(entries: MovedEntry[]): number {
    if (!Array.isArray(entries)) throw new BadRequestError('importEntries needs an array of entries')
    const now = this.#now()
    let n = 0
    for (const e of entries) {
      if (e === null || typeof e !== 'object' || typeof e.key !== 'string') throw new BadRequestError('an imported entry needs index and key')
      checkName(e.index)
      let table = this.#tables.get(e.index)
      if (table === undefined) this.#tables.set(e.index, (table = new Table(e.index)))
      const hash = hashKey(e.index, e.key)
      if (e.gone === true || (e.expires !== undefined && e.expires !== 0 && e.expires <= now)) {
        const v = table.map.get(e.key)
        if (v !== undefined) {
          this.#detach(table, e.key, v, hash)
          n++
        }
        continue
      }
      const expires = e.expires ?? 0
      if (!(Number.isSafeInteger(expires) && expires >= 0)) throw new BadRequestError('an imported entry\'s expires must be a non-negative integer')
      this.#put(table, e.key, hash, (e.doc ?? null) as Json, false, expires)
      n++
    }
    return n
  }

  /**
   * Migration, source side, after cut-over: deletes the entries in `ranges` that lie outside this
   * shard's range (handed over). Entries inside its range are never touched. Returns how many.
   */
  dropRange(ranges: Range[]): number {
    checkRanges(ranges)
    const { start, end } = this.#settings
    let n = 0
    for (const table of this.#tables.values()) {
      for (const [key, v] of table.map) {
        const hash = hashKey(table.name, key)
        if ((hash >= start && hash < end) || !inRanges(ranges, hash)) continue
        this.#detach(table, key, v, hash)
        n++
      }
    }
    return n
  }

  stat(): ShardStat {
    const { name, start, end, size, onFull, epoch } = this.#settings
    return {
      name, start, end, count: this.#count - this.#outside, handover: this.#outside, bytes: this.#bytes, maxSize: size, onFull, epoch,
      indexes: this.#tables.size, distribution: [...this.#distribution],
    }
  }

  /**
   * Reclaims up to `budget` expired entries (earliest first). Writes call it
   * with a small budget; a host may call it from one timer for the whole shard.
   * Returns how many entries it removed.
   */
  sweep(budget = Infinity): number {
    const heap = this.#heap
    if (heap.length === 0) return 0
    const now = this.#now()
    let removed = 0
    while (heap.length > 0 && removed < budget) {
      const top = heap[0] as Expiry
      const slot = top.slot
      const stale = slot.table === null || slot.expires !== top.at
      if (!stale && top.at > now) break
      heapPop(heap)
      if (stale) continue
      const table = slot.table as Table
      this.#expire(table, slot.key, slot, hashKey(table.name, slot.key))
      removed++
    }
    // Rewrites of TTL keys leave stale expiries behind: compact when they dominate.
    if (heap.length > 1024 && heap.length > 4 * this.#ttlCount) {
      this.#heap = heap.filter((e) => e.slot.table !== null && e.slot.expires === e.at)
      heapify(this.#heap)
    }
    return removed
  }

  #table(index: string): Table {
    const last = this.#lastTable
    if (last !== null && last.name === index) return last
    const table = this.#tables.get(index)
    if (table === undefined) {
      if (typeof index !== 'string') throw new BadRequestError('index must be a string')
      throw new IndexNotFoundError(`index "${index}" does not exist`)
    }
    this.#lastTable = table
    return table
  }

  #check(key: string, hash: number): void {
    if (typeof key !== 'string') throw new BadRequestError('key must be a string')
    const { start, end } = this.#settings
    if (!(hash >= start && hash < end)) {
      if (typeof hash !== 'number' || !(hash >= 0 && hash < 1)) throw new BadRequestError('hash must be a number in [0,1)')
      throw new MovedError(`hash ${hash} is outside shard "${this.#settings.name}" [${start}, ${end})`, this.#settings.epoch)
    }
  }

  /** The key's hash is in this shard's range. */
  #owns(index: string, key: string): boolean {
    const hash = hashKey(index, key)
    return hash >= this.#settings.start && hash < this.#settings.end
  }

  /** A write or removal of a key in a moving range: refused while frozen, else logged. */
  #touchMoving(index: string, key: string, hash: number): void {
    const moving = this.#moving as Moving
    if (!inRanges(moving.ranges, hash)) return
    if (moving.frozen) throw new TryAgainError(`shard "${this.#settings.name}" is handing over hash ${hash}: writes there pause for the cut-over; try again`)
    this.#dirty(index, key)
  }

  #dirty(index: string, key: string): void {
    const dirty = (this.#moving as Moving).dirty
    let keys = dirty.get(index)
    if (keys === undefined) dirty.set(index, (keys = new Set()))
    keys.add(key)
  }

  /** The stored value of a live key, expiring it on the way if its time has passed. */
  #live(index: string, key: string, hash: number): Stored | undefined {
    const table = this.#table(index)
    this.#check(key, hash)
    const v = table.map.get(key)
    if (isSlot(v) && v.expires !== 0 && v.expires <= this.#now()) {
      this.#expire(table, key, v, hash)
      return undefined
    }
    return v
  }

  #makeRoom(delta: number, size: number, old: Stored | undefined, index: string, key: string): void {
    const { size: maxSize, onFull, name } = this.#settings
    if (onFull === 'reject' || size > maxSize) {
      throw new ShardFullError(
        `shard "${name}" is full: writing "${index}:${key}" (${size} bytes) would use ${this.#bytes + delta} of ${maxSize} bytes ` +
          (onFull === 'reject' ? '(raise the shard\'s "size" or set "onFull": "evict")' : '(the entry alone is larger than the shard\'s "size")'),
      )
    }
    let victim = this.#head
    while (victim !== null && this.#bytes + delta > maxSize) {
      const next = victim.next
      if (victim !== old) {
        const table = victim.table as Table
        this.#detach(table, victim.key, victim, hashKey(table.name, victim.key))
        this.#event('evict', table.name, victim.key)
      }
      victim = next
    }
  }

  #expire(table: Table, key: string, slot: Slot, hash: number): void {
    this.#detach(table, key, slot, hash)
    this.#event('expire', table.name, key)
  }

  /** Tells `onEvent`; an error it throws never breaks the operation in progress. */
  #event(type: ShardEvent['type'], index: string, key: string): void {
    const cb = this.#onEvent
    if (cb === undefined) return
    try {
      cb({ type, index, key })
    } catch {
      // The listener's own failure: the data path goes on (hosts deliver events asynchronously).
    }
  }

  /** Removes `key` (stored as `v`) from `table` with its accounting. */
  #detach(table: Table, key: string, v: Stored, hash: number, journal = true): void {
    if (journal) this.#journal?.delete(table.name, key)
    table.map.delete(key)
    this.#count--
    this.#bytes -= sizeOf(key, v)
    if (isSlot(v)) this.#retire(v)
    if (hash >= this.#settings.start && hash < this.#settings.end) this.#bucket(hash, -1)
    else this.#outside--
    if (this.#moving !== null && inRanges(this.#moving.ranges, hash)) this.#dirty(table.name, key)
  }

  #bucket(hash: number, by: number): void {
    const { start, end } = this.#settings
    const b = this.#distribution.length
    if (hash < start || hash >= end) return
    const i = Math.min(b - 1, Math.floor(((hash - start) / (end - start)) * b))
    this.#distribution[i] = (this.#distribution[i] as number) + by
  }

  #schedule(slot: Slot): void {
    this.#ttlCount++
    heapPush(this.#heap, { at: slot.expires, slot })
  }

  #dropIdleCursors(now: number): void {
    for (const [id, c] of this.#cursors) {
      if (now - c.used <= this.#cursorIdleMs) break // oldest first: the rest are younger
      this.#cursors.delete(id)
    }
  }

  #lruAppend(slot: Slot): void {
    slot.prev = this.#tail
    slot.next = null
    if (this.#tail !== null) this.#tail.next = slot
    else this.#head = slot
    this.#tail = slot
  }

  #lruUnlink(slot: Slot): void {
    if (slot.prev !== null) slot.prev.next = slot.next
    else if (this.#head === slot) this.#head = slot.next
    if (slot.next !== null) slot.next.prev = slot.prev
    else if (this.#tail === slot) this.#tail = slot.prev
    slot.prev = slot.next = null
  }

  #lruTouch(slot: Slot): void {
    if (this.#tail === slot) return
    this.#lruUnlink(slot)
    this.#lruAppend(slot)
  }
}

function checkName(index: unknown): void {
  if (typeof index !== 'string' || index.length === 0) throw new BadRequestError('index name must be a non-empty string')
}

function inRanges(ranges: readonly Range[], hash: number): boolean {
  for (const [a, b] of ranges) if (hash >= a && hash < b) return true
  return false
}

function checkRanges(ranges: unknown): Range[] {
  if (!Array.isArray(ranges) || ranges.length === 0) throw new BadRequestError('ranges must be a non-empty array of [start, end] pairs')
  for (const r of ranges) {
    if (!Array.isArray(r) || r.length !== 2 || !(typeof r[0] === 'number' && typeof r[1] === 'number' && r[0] >= 0 && r[0] < r[1] && r[1] <= 1)) {
      throw new BadRequestError(`a range must be [start, end] with 0 <= start < end <= 1, got ${JSON.stringify(r)}`)
    }
  }
  return ranges as Range[]
}

function checkSettings(s: ShardSettings, allowEmpty = false): void {
  if (typeof s.name !== 'string' || s.name === '') throw new BadRequestError('shard name must be a non-empty string')
  if (!(typeof s.start === 'number' && typeof s.end === 'number' && s.start >= 0 && s.end <= 1 && (s.start < s.end || (allowEmpty && s.start === s.end)))) {
    throw new BadRequestError(`shard "${s.name}": range [${s.start}, ${s.end}) must satisfy 0 <= start < end <= 1`)
  }
  if (!(Number.isSafeInteger(s.size) && s.size > 0)) throw new BadRequestError(`shard "${s.name}": size must be a positive integer`)
  if (s.onFull !== 'reject' && s.onFull !== 'evict') throw new BadRequestError(`shard "${s.name}": onFull must be "reject" or "evict"`)
  if (!(Number.isSafeInteger(s.epoch) && s.epoch >= 0)) throw new BadRequestError(`shard "${s.name}": epoch must be a non-negative integer`)
}

function heapPush(heap: Expiry[], e: Expiry): void {
  let i = heap.push(e) - 1
  while (i > 0) {
    const p = (i - 1) >> 1
    const parent = heap[p] as Expiry
    if (parent.at <= e.at) break
    heap[i] = parent
    i = p
  }
  heap[i] = e
}

function heapPop(heap: Expiry[]): void {
  const last = heap.pop() as Expiry
  if (heap.length === 0) return
  siftDown(heap, 0, last)
}

function siftDown(heap: Expiry[], i: number, e: Expiry): void {
  const n = heap.length
  for (;;) {
    let c = 2 * i + 1
    if (c >= n) break
    if (c + 1 < n && (heap[c + 1] as Expiry).at < (heap[c] as Expiry).at) c++
    const child = heap[c] as Expiry
    if (child.at >= e.at) break
    heap[i] = child
    i = c
  }
  heap[i] = e
}

function heapify(heap: Expiry[]): void {
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i, heap[i] as Expiry)
}
