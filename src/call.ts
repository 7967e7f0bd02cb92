/**
 * Per-call `signal` and `timeout` (`CallOptions`). The store cannot take back a
 * request a shard has received, so both only settle the caller's promise early:
 * the operation may still be applied. Nothing is set up when neither is given.
 */
import { AbortedError, TimeoutError } from './errors.js'
import type { CallOptions } from './options.js'

/** Checks `signal` and `timeout` of one call; throws TypeError naming the bad one. */
export function checkCallOptions(options: CallOptions): void {
  const { signal, timeout } = options
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('options.signal must be an AbortSignal')
  if (timeout !== undefined && !(Number.isSafeInteger(timeout) && timeout > 0)) {
    throw new TypeError(`options.timeout must be a positive integer (ms), got ${String(timeout)}`)
  }
}

function aborted(signal: AbortSignal): AbortedError {
  return new AbortedError('the operation was aborted by its signal', { cause: signal.reason })
}

/**
 * `p`, unless the caller's signal aborts first (rejects ABORTED) or `timeout` ms pass
 * first (rejects TIMEOUT). Without either option: `p` itself.
 */
export function guard<T>(p: Promise<T>, options: CallOptions | undefined, what: string): Promise<T> {
  if (options === undefined) return p
  const { signal, timeout } = options
  if (signal === undefined && timeout === undefined) return p
  checkCallOptions(options)
  if (signal?.aborted) {
    p.catch(() => {})
    return Promise.reject(aborted(signal))
  }
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const onAbort = (): void => {
      cleanup()
      reject(aborted(signal as AbortSignal))
    }
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    if (timeout !== undefined) {
      timer = setTimeout(() => {
        cleanup()
        reject(new TimeoutError(`${what} did not complete within options.timeout (${timeout} ms)`))
      }, timeout)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    p.then((v) => { cleanup(); resolve(v) }, (err: unknown) => { cleanup(); reject(err) })
  })
}

/** Rejects ABORTED when the caller's signal has already aborted (checked before each page of a scan). */
export function throwIfAborted(options: CallOptions | undefined): void {
  if (options?.signal?.aborted) throw aborted(options.signal)
}
