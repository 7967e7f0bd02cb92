/**
 * Splits a byte stream into lines without readline's per-line events: one
 * `indexOf` walk per chunk (measured in bench/cli-load.bench.ts against
 * `node:readline`). Memory stays bounded: a line longer than `maxLine` is
 * dropped and reported instead of growing the carry-over without limit.
 */
import { StringDecoder } from 'node:string_decoder'

/** Receives each line (without `\n` or a trailing `\r`) and its 1-based number. */
export interface LineSink {
  line(text: string, lineNo: number): void
  /** A line over the limit, dropped unread. */
  tooLong(lineNo: number): void
}

export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8')
  readonly #maxLine: number
  readonly #sink: LineSink
  #carry = ''
  #dropping = false
  #lineNo = 0

  /** @param maxLine longest line kept, in characters of the decoded text. */
  constructor(maxLine: number, sink: LineSink) {
    this.#maxLine = maxLine
    this.#sink = sink
  }

  /** Lines seen so far, kept or dropped. */
  get lineCount(): number { return this.#lineNo }

  push(chunk: Buffer | string): void {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk)
    const sink = this.#sink
    let start = 0
    let nl = text.indexOf('\n')
    while (nl !== -1) {
      const lineNo = ++this.#lineNo
      if (this.#dropping) {
        this.#dropping = false
        sink.tooLong(lineNo)
      } else {
        const line = this.#carry === '' ? text.slice(start, nl) : this.#carry + text.slice(start, nl)
        this.#carry = ''
        this.#emit(line, lineNo)
      }
      start = nl + 1
      nl = text.indexOf('\n', start)
    }
    if (!this.#dropping && start < text.length) {
      this.#carry = this.#carry === '' ? text.slice(start) : this.#carry + text.slice(start)
      if (this.#carry.length > this.#maxLine) {
        this.#dropping = true
        this.#carry = ''
      }
    }
  }

  /** Ends the input: emits a last line that had no line break. */
  end(): void {
    const rest = this.#carry + this.#decoder.end()
    this.#carry = ''
    if (this.#dropping) {
      this.#dropping = false
      this.#sink.tooLong(++this.#lineNo)
    } else if (rest !== '') {
      this.#emit(rest, ++this.#lineNo)
    }
  }

  #emit(line: string, lineNo: number): void {
    if (line.length > this.#maxLine) this.#sink.tooLong(lineNo)
    else this.#sink.line(line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line, lineNo)
  }
}
