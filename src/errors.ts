/**
 * One error family with stable codes. Every failure a caller can see is a
 * `PyshardError` whose `code` never changes between versions; messages may.
 */

/** Every stable error code pyshard uses. */
export type ErrorCode =
  | 'INDEX_NOT_FOUND'
  | 'INDEX_EXISTS'
  | 'SHARD_FULL'
  | 'SHARD_UNAVAILABLE'
  | 'TIMEOUT'
  | 'BAD_CONFIG'
  | 'BAD_REQUEST'
  | 'AUTH_FAILED'
  | 'FRAME_TOO_LARGE'
  | 'MOVED'
  | 'DATA_DIR'
  | 'STALE_EPOCH'
  | 'TRY_AGAIN'
  | 'ABORTED'

/** Base class of every error pyshard raises on purpose. */
export class PyshardError extends Error {
  /** Stable, machine-readable code. */
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** The index named in the request does not exist (on the shard that answered). */
export class IndexNotFoundError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('INDEX_NOT_FOUND', message, options) }
}
/** `createIndex` of an index that already exists (without `ifNotExists`). */
export class IndexExistsError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('INDEX_EXISTS', message, options) }
}
/** A write would take the shard over its `size` byte limit and `onFull` is `reject`. Nothing was changed. */
export class ShardFullError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('SHARD_FULL', message, options) }
}
/** The shard cannot be reached (down, restarting, closed, or its offline queue is full). */
export class ShardUnavailableError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('SHARD_UNAVAILABLE', message, options) }
}
/** The request did not complete within its time limit. It may or may not have been applied. */
export class TimeoutError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('TIMEOUT', message, options) }
}
/** The caller's `signal` aborted the operation (its reason is the `cause`). It may or may not have been applied. */
export class AbortedError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('ABORTED', message, options) }
}
/** The bootstrap config (or the options naming it) breaks a rule; the message names the shard and the rule. */
export class BadConfigError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('BAD_CONFIG', message, options) }
}
/** The request itself is malformed (bad argument, not a JSON document, unknown operation or processor). */
export class BadRequestError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('BAD_REQUEST', message, options) }
}
/** The server refused the token. */
export class AuthFailedError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('AUTH_FAILED', message, options) }
}
/** A frame exceeded the maximum frame size. */
export class FrameTooLargeError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('FRAME_TOO_LARGE', message, options) }
}
/**
 * A data dir cannot be used: damaged, written by another format or version, or held by another
 * process. The message names the directory and what to do. Start-up stops; nothing is served.
 */
export class DataDirError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('DATA_DIR', message, options) }
}
/** An assignment older than the one the shard holds: refused, nothing changed. */
export class StaleEpochError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('STALE_EPOCH', message, options) }
}
/**
 * The key's range is being handed to another shard and writes to it pause for a moment. Retried
 * inside the client within its `requestTimeout`; a caller only sees it when that runs out.
 */
export class TryAgainError extends PyshardError {
  constructor(message: string, options?: { cause?: unknown }) { super('TRY_AGAIN', message, options) }
}
/** The key is outside the answering shard's range: the caller's map is stale. Internal unless retries run out. */
export class MovedError extends PyshardError {
  /** The epoch of the map the answering shard was configured from. */
  readonly epoch: number
  constructor(message: string, epoch: number, options?: { cause?: unknown }) {
    super('MOVED', message, options)
    this.epoch = epoch
  }
}

const byCode: Record<Exclude<ErrorCode, 'MOVED'>, new (message: string, options?: { cause?: unknown }) => PyshardError> = {
  INDEX_NOT_FOUND: IndexNotFoundError,
  INDEX_EXISTS: IndexExistsError,
  SHARD_FULL: ShardFullError,
  SHARD_UNAVAILABLE: ShardUnavailableError,
  TIMEOUT: TimeoutError,
  ABORTED: AbortedError,
  BAD_CONFIG: BadConfigError,
  BAD_REQUEST: BadRequestError,
  AUTH_FAILED: AuthFailedError,
  FRAME_TOO_LARGE: FrameTooLargeError,
  DATA_DIR: DataDirError,
  STALE_EPOCH: StaleEpochError,
  TRY_AGAIN: TryAgainError,
}

/** True when `code` is one of pyshard's stable codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (code === 'MOVED' || Object.hasOwn(byCode, code))
}

/**
 * Rebuilds the right subclass from a code and message, for errors that
 * crossed a thread or a socket as plain data. Unknown codes become BAD_REQUEST.
 */
export function errorFromCode(code: string, message: string, epoch = 0): PyshardError {
  if (code === 'MOVED') return new MovedError(message, epoch)
  const Ctor = isErrorCode(code) ? byCode[code as Exclude<ErrorCode, 'MOVED'>] : BadRequestError
  return new Ctor(message)
}
