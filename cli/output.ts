/**
 * Buffered stdout with backpressure: text is gathered into chunks of about
 * 64 KiB, each written once; when the stream asks to wait, `flush` waits for
 * `drain`. A closed reader (`| head`) is not an error: the output turns
 * `closed` and the command stops quietly.
 */
import type { Writable } from 'node:stream'

const CHUNK = 64 * 1024

export class Output {
  readonly #stream: Writable
  #buf = ''
  #closed = false
  #error: Error | null = null

  constructor(stream: Writable) {
    this.#stream = stream
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.#closed = true
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') this.#error ??= err
    })
  }

  /** True once the reader went away (or the stream failed). */
  get closed(): boolean { return this.#closed }

  /** A write error other than the reader going away. */
  get error(): Error | null { return this.#error }

  /** Adds text; true when enough is gathered that the caller should `await flush()`. */
  add(text: string): boolean {
    this.#buf += text
    return this.#buf.length >= CHUNK
  }

  /** Writes what is gathered; waits while the stream is over its high-water mark. */
  async flush(): Promise<void> {
    if (this.#closed || this.#buf === '') return
    const text = this.#buf
    this.#buf = ''
    if (this.#stream.write(text)) return
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done)
        this.#stream.off('close', done)
        this.#stream.off('error', done)
        resolve()
      }
      this.#stream.on('drain', done)
      this.#stream.on('close', done)
      this.#stream.on('error', done)
    })
  }
}

/** `--json` output for one entry: one JSON object per line. */
export function entryJson(key: string, hash: number, record: unknown): string {
  return `${JSON.stringify({ key, hash, record })}\n`
}

/** The seed's output line for one entry: `key|{"hash_":H,"record":R}`. */
export function entryLine(key: string, hash: number, record: unknown): string {
  return `${key}|{"hash_":${hash},"record":${JSON.stringify(record)}}\n`
}
