/**
 * `pyshard write INDEX`: bulk load of `key|value` lines from stdin through
 * `writeMany`, a bounded number of batches in flight. Reading waits while the
 * limit is reached (the batches of the chunk being split may go out first), so
 * memory is bounded by batch size x in-flight batches plus one input chunk,
 * whatever the input size.
 */
import type { Readable } from 'node:stream'
import { addAbortSignal } from 'node:stream'
import { performance } from 'node:perf_hooks'
import { PyshardError } from '../src/index.js'
import type { Json, Pyshard } from '../src/index.js'
import { CLIENT_HELP, CLIENT_OPTIONS, describe, openStore } from './client.js'
import { CommandFailed, EXIT_FAILED, EXIT_OK, UsageError, intOption } from './command.js'
import type { Command, Values } from './command.js'
import { parseLine, parseValue } from './line-parser.js'
import { LineSplitter } from './line-splitter.js'

// Batch and in-flight defaults: the fastest of a sweep on the 1M-line benchmark (bench/cli-load.bench.ts);
// larger batches were slower (each waits longer for its slowest shard) and used more memory.
const DEFAULTS = { batch: 500, inFlight: 4, maxLine: 16 * 1024 * 1024 }
const PROGRESS_MS = 250

export const write: Command = {
  name: 'write',
  summary: 'write key|value lines from stdin into an index',
  positionals: ['index'],
  options: {
    ...CLIENT_OPTIONS,
    force: { type: 'boolean', short: 'f' },
    strict: { type: 'boolean' },
    batch: { type: 'string' },
    'in-flight': { type: 'string' },
    'max-line': { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `Usage: pyshard write INDEX [options] < FILE

Reads key|value lines from stdin and writes them into INDEX (upserts).
The first "|" separates key from value, so values may contain "|". The value is:
  a JSON object or array      if it starts with { or [ (a bad line if it does not parse)
  an integer or a float       42, -7, 0.9, 1e-3 (integers beyond 2^53 stay strings)
  otherwise a string          exactly as written, spaces included
Empty lines are ignored. A bad line (no "|", empty key, { or [ that is not
JSON, longer than --max-line) is reported on stderr with its line number and
skipped. A summary ends the run on stderr: lines written (acknowledged by their
shard, so stored), writes that failed (by error code), lines skipped. After a
batch with a failed write nothing more is sent; batches already in flight
finish and are counted. A progress line is shown only when stderr is a
terminal. On Ctrl-C reading stops, batches already sent finish, and the
summary says what was written. To write one key, use pyshard set.

Options:
  -f, --force                create INDEX if it does not exist
      --strict               stop at the first bad line (lines before it are written)
      --batch N              lines per writeMany batch (default ${DEFAULTS.batch})
      --in-flight N          batches in flight at once (default ${DEFAULTS.inFlight})
      --max-line N           longest line accepted, in characters (default ${DEFAULTS.maxLine})
      --json                 also print the summary as JSON on stdout
                             {"written","failed","failures":{CODE:N},"skipped","lines","interrupted"}

${CLIENT_HELP}

Exit: 0 all lines written, 1 a line was skipped, a write failed or the run was
interrupted, 2 bad usage.`,
  async run(values, [index]) {
    const settings = {
      batch: intOption(values, 'batch', DEFAULTS.batch),
      inFlight: intOption(values, 'in-flight', DEFAULTS.inFlight),
      maxLine: intOption(values, 'max-line', DEFAULTS.maxLine),
      strict: values.strict === true,
    }
    const db = await openStore(values)
    try {
      await ensureIndex(db, index as string, values)
      return await bulkWrite(db, index as string, process.stdin, settings, values.json === true)
    } finally {
      await db.close()
    }
  },
}

async function ensureIndex(db: Pyshard, index: string, values: Values): Promise<void> {
  if (values.force === true) {
    await db.createIndex(index, { ifNotExists: true })
    return
  }
  if (!(await db.indexes()).includes(index)) {
    throw new CommandFailed(`index "${index}" does not exist (create it with pyshard create-index, or pass --force)`)
  }
}

interface Settings { batch: number; inFlight: number; maxLine: number; strict: boolean }

/** Everything the run counts, for the summary and the progress line. */
interface Tally {
  lines: number
  /** Writes their shard acknowledged: exactly what was stored. */
  written: number
  /** Writes that failed, in all and per error code. */
  failed: number
  failures: Record<string, number>
  skipped: number
  failure: string | null
}

async function bulkWrite(db: Pyshard, index: string, input: Readable, s: Settings, json: boolean): Promise<number> {
  const started = performance.now()
  const tally: Tally = { lines: 0, written: 0, failed: 0, failures: {}, skipped: 0, failure: null }
  const tty = process.stderr.isTTY === true
  let stop = false
  let stoppedAt: number | null = null

  let batch: [string, Json][] = []
  let batchFirst = 0
  let batchLast = 0
  const inflight = new Set<Promise<void>>()
  const submit = (): void => {
    if (batch.length === 0 || tally.failure !== null) return
    const pairs = batch
    const first = batchFirst
    const last = batchLast
    batch = []
    // One write per line, settled one by one (they still travel to each shard as one batch per tick),
    // so the summary counts exactly the writes that were stored, even when part of a batch fails.
    const p: Promise<void> = Promise.allSettled(pairs.map(([key, doc]) => db.write(index, key, doc))).then((results) => {
      let failedHere = 0
      let firstError: unknown
      for (const r of results) {
        if (r.status === 'fulfilled') {
          tally.written++
          continue
        }
        failedHere++
        firstError ??= r.reason
        const code = r.reason instanceof PyshardError ? r.reason.code : 'ERROR'
        tally.failures[code] = (tally.failures[code] ?? 0) + 1
      }
      tally.failed += failedHere
      if (failedHere > 0) {
        // Nothing after a failed batch is sent.
        tally.failure ??= `lines ${first}-${last}: ${failedHere} of ${pairs.length} writes failed; first: ${describe(firstError)}`
        stop = true
      }
    }).finally(() => inflight.delete(p))
    inflight.add(p)
  }

  const report = (lineNo: number, reason: string): void => {
    tally.skipped++
    process.stderr.write(`${tty ? '\r\x1b[K' : ''}pyshard write: line ${lineNo}: ${reason}\n`)
    if (s.strict) {
      stop = true
      stoppedAt = lineNo
    }
  }
  const splitter = new LineSplitter(s.maxLine, {
    line(text, lineNo) {
      if (stop) return
      if (text === '') return
      const parsed = parseLine(text)
      if (!parsed.ok) return report(lineNo, parsed.reason)
      if (batch.length === 0) batchFirst = lineNo
      batch.push([parsed.key, parsed.value])
      batchLast = lineNo
      if (batch.length >= s.batch) submit()
    },
    tooLong(lineNo) {
      if (!stop) report(lineNo, `longer than --max-line (${s.maxLine} characters)`)
    },
  })

  const interrupt = new AbortController()
  let reading = true
  let interrupts = 0
  const onSignal = (): void => {
    interrupts++
    if (interrupts === 1) {
      // Once the input is all read, a first Ctrl-C only waits for the batches in flight.
      if (reading) {
        stop = true
        interrupt.abort()
      }
      return
    }
    process.stderr.write(`\npyshard write: interrupted again: not waiting for ${inflight.size} batches in flight; ${tally.written} lines were acknowledged\n`)
    process.exit(EXIT_FAILED)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const progress = tty
    ? setInterval(() => {
        const secs = (performance.now() - started) / 1000
        process.stderr.write(`\r\x1b[K${splitter.lineCount} lines, ${tally.written} written, ${rate(tally.written, secs)} lines/s`)
      }, PROGRESS_MS)
    : null
  progress?.unref()

  try {
    try {
      for await (const chunk of addAbortSignal(interrupt.signal, input) as AsyncIterable<Buffer>) {
        splitter.push(chunk)
        if (stop) break
        while (inflight.size >= s.inFlight) await Promise.race(inflight)
        if (stop) break
      }
      if (!stop) splitter.end()
    } catch (err) {
      if (!interrupt.signal.aborted) throw err
    }
    reading = false
    // On --strict or Ctrl-C the lines read before the stop are still written; after a failed batch nothing is.
    submit()
    while (inflight.size > 0) await Promise.race(inflight)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (progress !== null) {
      clearInterval(progress)
      process.stderr.write('\r\x1b[K')
    }
  }

  const secs = (performance.now() - started) / 1000
  tally.lines = splitter.lineCount
  const reasons = Object.entries(tally.failures).map(([code, n]) => `${n} ${code}`).join(', ')
  let summary = `pyshard write: ${tally.written} written, ${tally.failed} failed${tally.failed > 0 ? ` (${reasons})` : ''}, ${tally.skipped} skipped`
  if (interrupt.signal.aborted) summary += `; interrupted after line ${tally.lines}, the rest not read`
  else if (stoppedAt !== null) summary += `; stopped at line ${stoppedAt} (--strict)`
  summary += ` (${tally.lines} lines in ${secs.toFixed(2)} s, ${rate(tally.lines, secs)} lines/s)`
  if (tally.failure !== null) process.stderr.write(`pyshard write: ${tally.failure}\n`)
  process.stderr.write(`${summary}\n`)
  if (json) {
    const { written, failed, failures, skipped, lines } = tally
    process.stdout.write(`${JSON.stringify({ written, failed, failures, skipped, lines, interrupted: interrupt.signal.aborted })}\n`)
  }
  const clean = tally.failure === null && tally.skipped === 0 && !interrupt.signal.aborted
  return clean ? EXIT_OK : EXIT_FAILED
}

function rate(n: number, secs: number): string {
  return secs > 0 ? Math.round(n / secs).toLocaleString('en-US') : '-'
}

export const set: Command = {
  name: 'set',
  summary: 'write one key: pyshard set INDEX KEY VALUE',
  positionals: ['index', 'key', 'value'],
  options: { ...CLIENT_OPTIONS, force: { type: 'boolean', short: 'f' }, ttl: { type: 'string' }, json: { type: 'boolean' } },
  help: `Usage: pyshard set INDEX KEY VALUE [options]

Writes one entry (an upsert). VALUE follows the rules of pyshard write: JSON
when it starts with { or [, a number when it is one, else the string as given
(quote it for the shell).

Options:
  -f, --force                create INDEX if it does not exist
      --ttl MS               expire the entry after MS milliseconds
      --json                 print {"key":K,"hash":H,"size":BYTES}

${CLIENT_HELP}

Exit: 0 written, 1 failed (index missing, SHARD_FULL, cluster unreachable), 2 bad usage.`,
  async run(values, [index, key, raw]) {
    let doc: Json
    try {
      doc = parseValue(raw as string)
    } catch (err) {
      throw new UsageError(`VALUE starts like JSON but is not valid JSON (${(err as Error).message})`)
    }
    const ttl = values.ttl === undefined ? undefined : intOption(values, 'ttl', 1)
    const db = await openStore(values)
    try {
      await ensureIndex(db, index as string, values)
      const r = await db.write(index as string, key as string, doc, ttl === undefined ? undefined : { ttl })
      if (values.json === true) process.stdout.write(`${JSON.stringify({ key, hash: r.hash, size: r.size })}\n`)
      return EXIT_OK
    } finally {
      await db.close()
    }
  },
}
