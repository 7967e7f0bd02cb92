/**
 * Requests and responses are plain data, so that every host (in-process, worker,
 * TCP shard server) can carry them; `execute` is the one place that turns a
 * request into a Shard call. A new operation is one request type here plus one
 * case in `execute`.
 */
import { PyshardError, BadRequestError, MovedError } from './errors.js'
import type { ErrorCode } from './errors.js'
import type { Shard, ShardStat, ShardSettings, ExportPage, MovedEntry, Range } from './shard.js'

/** Any JSON value (what reads give when no document type is named). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/**
 * `T` where it is JSON-shaped, `never` where it is not. Interfaces and optional properties
 * pass (a recursive `Json` type would refuse an interface, which has no index signature);
 * functions, symbols, bigints, `undefined` and objects with methods (Map, Set, Date, class
 * instances) do not.
 */
export type JsonShaped<T> = T extends Json
  ? T
  : T extends ((...args: never[]) => unknown) | symbol | bigint | undefined
    ? never
    : T extends object
      ? { [K in keyof T]: JsonShaped<T[K]> }
      : never

/** A document as `write` takes it: any JSON-shaped value of the caller's type `T`. */
export type Doc<T> = T & JsonShaped<T>

/** A stored record as the API returns it; `T` is the document type the caller names (`read<User>`). */
export interface Entry<T = Json> {
  /** The key's position in [0,1); see `hashKey`. */
  hash: number
  /** The document as written. */
  record: T
}

export interface CreateIndexRequest { op: 'createIndex'; index: string }
export interface DropIndexRequest { op: 'dropIndex'; index: string }
export interface IndexesRequest { op: 'indexes' }
export interface WriteRequest {
  op: 'write'; index: string; key: string; hash: number; doc: Json
  /** Write only when the key is absent (or expired). */
  ifAbsent?: boolean
  /** Time to live in milliseconds. */
  ttl?: number
}
export interface KeyRequest { op: 'read' | 'has' | 'pop' | 'remove'; index: string; key: string; hash: number }
/**
 * Streams an index in pages. The first page has `cursor: 0`; each answer gives
 * the next cursor, 0 once done. A cursor left open is closed by `scanClose`
 * (or dropped by the shard after `cursorIdleMs`).
 */
export interface ScanRequest {
  op: 'scan'; index: string; cursor: number; count: number; values: boolean
  /** The page also ends once its entries reach this many bytes (at least one entry per page). @default the shard's `maxScanBytes` */
  maxBytes?: number
}
export interface ScanCloseRequest { op: 'scanClose'; cursor: number }
export interface RunRequest { op: 'run'; index: string; name: string; args?: Json }
export interface StatRequest { op: 'stat' }
/** Admin: give the shard its name, range, size and policy (what the bootstrap server does). */
export interface ConfigureRequest { op: 'configure'; settings: ShardSettings }

/**
 * Admin, migration source: log writes to `ranges` from now on. The move holds while its
 * coordinator keeps calling: once no migrate op arrived for `lease` ms, the host ends it (the
 * freeze lifts) unless it was committed.
 */
export interface MigrateStartRequest { op: 'migrateStart'; ranges: Range[]; lease?: number }
/**
 * Admin, migration source: freeze writes to the moving ranges, read the changes logged, or end
 * the move; `migrateTouch` renews the lease; `migrateCommit` (frozen moves only) says the
 * cut-over has begun: the freeze then holds, across a restart too, until the assignment at the
 * new epoch or `migrateEnd` arrives, whatever the lease.
 */
export interface MigrateStepRequest { op: 'migrateFreeze' | 'migrateDirty' | 'migrateEnd' | 'migrateTouch' | 'migrateCommit' }
/** Admin, migration source: one page of the entries in `ranges`. */
export interface ExportRangeRequest { op: 'exportRange'; ranges: Range[]; cursor: number; count: number }
/** Admin, migration destination: store what the source hands over. */
export interface ImportEntriesRequest { op: 'importEntries'; entries: MovedEntry[] }
/** Admin, migration source after cut-over: delete the handed-over entries in `ranges`. */
export interface DropRangeRequest { op: 'dropRange'; ranges: Range[] }

export type Request =
  | CreateIndexRequest | DropIndexRequest | IndexesRequest | WriteRequest | KeyRequest
  | ScanRequest | ScanCloseRequest | RunRequest | StatRequest | ConfigureRequest
  | MigrateStartRequest | MigrateStepRequest | ExportRangeRequest | ImportEntriesRequest | DropRangeRequest

/**
 * Operations that change a shard's assignment or move its data. A shard server with an
 * `adminToken` answers them only on connections that presented it.
 */
export const ADMIN_OPS: ReadonlySet<string> = new Set([
  'configure', 'migrateStart', 'migrateFreeze', 'migrateDirty', 'migrateEnd', 'migrateTouch', 'migrateCommit',
  'exportRange', 'importEntries', 'dropRange',
])

export type Op = Request['op']

/** One page of a scan: keys (and, when asked, records) plus the next cursor (0 = done). */
export interface ScanPage { cursor: number; keys: string[]; records?: Json[] }

/** A failed request as data: a stable code and a message (and the shard's epoch for MOVED). */
export interface ErrorResponse { ok: false; code: ErrorCode; message: string; epoch?: number }
/** A success. For read and pop, a response without `value` means the key was absent. */
export interface OkResponse { ok: true; value?: unknown }
export type Response = OkResponse | ErrorResponse

/** What `execute` answers to each operation. */
export interface ResultOf {
  createIndex: boolean
  dropIndex: boolean
  indexes: string[]
  write: number
  read: Json | undefined
  has: boolean
  pop: Json | undefined
  remove: boolean
  scan: ScanPage
  scanClose: boolean
  run: unknown
  stat: ShardStat
  configure: boolean
  migrateStart: boolean
  migrateFreeze: boolean
  migrateDirty: MovedEntry[]
  migrateEnd: boolean
  migrateTouch: boolean
  migrateCommit: boolean
  exportRange: ExportPage
  importEntries: number
  dropRange: number
}

const FOUND: OkResponse = { ok: true, value: true }
const NOT_FOUND: OkResponse = { ok: true, value: false }
const NULL: OkResponse = { ok: true, value: null }
const ABSENT: OkResponse = { ok: true }

function ok(value: unknown): OkResponse {
  if (value === true) return FOUND
  if (value === false) return NOT_FOUND
  if (value === null) return NULL
  if (value === undefined) return ABSENT
  return { ok: true, value }
}

/** Turns a thrown error into a response. Errors that are not PyshardErrors become BAD_REQUEST with their message. */
export function errorResponse(err: unknown): ErrorResponse {
  if (err instanceof MovedError) return { ok: false, code: 'MOVED', message: err.message, epoch: err.epoch }
  if (err instanceof PyshardError) return { ok: false, code: err.code, message: err.message }
  const message = err instanceof Error ? err.message : String(err)
  return { ok: false, code: 'BAD_REQUEST', message }
}

/**
 * The only switch over operations: runs `req` on `shard` and gives the value a success
 * response carries (`ResultOf[op]`); a failure is thrown. Hosts call it through `execute`,
 * and the memory transport directly for keyed requests (no response object per request).
 */
export function perform(shard: Shard, req: Request): unknown {
  switch (req.op) {
    case 'read': return shard.read(req.index, req.key, req.hash)
    case 'write': return shard.write(req.index, req.key, req.hash, req.doc, req.ifAbsent === true, req.ttl)
    case 'has': return shard.has(req.index, req.key, req.hash)
    case 'pop': return shard.pop(req.index, req.key, req.hash)
    case 'remove': return shard.remove(req.index, req.key, req.hash)
    case 'createIndex': return shard.createIndex(req.index)
    case 'dropIndex': return shard.dropIndex(req.index)
    case 'indexes': return shard.indexes()
    case 'scan': return shard.scan(req.index, req.cursor, req.count, req.values, req.maxBytes)
    case 'scanClose': return shard.scanClose(req.cursor)
    case 'run': return shard.run(req.index, req.name, req.args)
    case 'stat': return shard.stat()
    case 'configure': return shard.configure(req.settings)
    case 'migrateStart': return shard.migrateStart(req.ranges)
    case 'migrateFreeze': return shard.migrateFreeze()
    case 'migrateDirty': return shard.migrateDirty()
    case 'migrateEnd': return shard.migrateEnd()
    // The lease and the commit live beside the shard: ShardHost answers them.
    case 'migrateTouch': case 'migrateCommit': throw new BadRequestError(`${req.op} is answered by a shard host (it keeps the move's lease)`)
    case 'exportRange': return shard.exportRange(req.ranges, req.cursor, req.count)
    case 'importEntries': return shard.importEntries(req.entries)
    case 'dropRange': return shard.dropRange(req.ranges)
    default:
      throw new BadRequestError(`unknown operation ${JSON.stringify((req as { op?: unknown }).op)}`)
  }
}

/**
 * `perform` as a response: what every host answers, the memory transport directly, the
 * worker host and the shard server after decoding a frame. It never throws: failures come
 * back as error responses.
 */
export function execute(shard: Shard, req: Request): Response {
  try {
    return ok(perform(shard, req))
  } catch (err) {
    return errorResponse(err)
  }
}
