/**
 * The OLD data dir format (before data dirs were lmdb): a shard server that finds
 * `shard.snapshot.jsonl` in a fresh data dir imports it once with `loadSnapshot`
 * (see src/persist/data-dir.ts); `saveSnapshot` stays for tests that make such a dir.
 *
 * Snapshots of one shard on disk (a shard server's `dataDir`): the settings,
 * the indexes and every live entry with its expiry, as JSON lines. Written to a
 * temporary file, flushed to disk, then renamed over the old snapshot, so a
 * crash while saving leaves the previous snapshot whole. Streamed both ways:
 * memory stays bounded whatever the shard holds.
 *
 * What a snapshot gives: a shard server that is stopped (close(), SIGINT) and
 * started again on the same dataDir serves what it held. What it does not: a
 * crash loses what was written since the last snapshot (see `snapshotInterval`).
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, openSync, fsyncSync, closeSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { BadConfigError } from '../../src/errors.js'
import type { Shard, ShardSettings } from '../../src/shard.js'

/** File name of the snapshot inside a data directory. */
export const SNAPSHOT_FILE = 'shard.snapshot.jsonl'
const FORMAT = 'pyshard-snapshot'
const VERSION = 1

interface Header { format: typeof FORMAT; v: number; settings: ShardSettings; savedAt: number; indexes: string[] }

/** Writes the shard's snapshot into `dir` (created if missing). Resolves with the number of entries saved. */
export async function saveSnapshot(shard: Shard, dir: string, now: () => number = Date.now): Promise<number> {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, SNAPSHOT_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  const out = createWriteStream(tmp, { encoding: 'utf8' })
  const failed = new Promise<never>((_, reject) => out.once('error', reject))
  failed.catch(() => {})
  const header: Header = { format: FORMAT, v: VERSION, settings: { ...shard.settings }, savedAt: now(), indexes: shard.indexes() }
  let count = 0
  const write = async (line: string): Promise<void> => {
    if (!out.write(`${line}\n`)) await Promise.race([once(out, 'drain'), failed])
  }
  await write(JSON.stringify(header))
  for (const e of shard.dump()) {
    await write(JSON.stringify([e.index, e.key, e.doc, e.expires]))
    count++
  }
  out.end()
  await Promise.race([once(out, 'finish'), failed])
  const fd = openSync(tmp, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  return count
}

/**
 * Loads the snapshot in `dir` into an empty shard: settings, indexes, entries
 * (expired ones are skipped; the rest keep their expiry time). Resolves with
 * the number of entries loaded, or null when `dir` holds no snapshot.
 * A snapshot that cannot be read is BAD_CONFIG naming the file and the line.
 */
export async function loadSnapshot(shard: Shard, dir: string, now: () => number = Date.now): Promise<number | null> {
  const file = join(dir, SNAPSHOT_FILE)
  if (!existsSync(file)) return null
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })
  let lineNo = 0
  let count = 0
  const bad = (why: string): never => { throw new BadConfigError(`snapshot ${file}, line ${lineNo}: ${why}`) }
  try {
    for await (const line of lines) {
      lineNo++
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        bad('not JSON')
      }
      if (lineNo === 1) {
        const h = value as Header
        if (h?.format !== FORMAT || h.v !== VERSION) bad(`not a ${FORMAT} v${VERSION} file`)
        shard.configure(h.settings)
        for (const index of h.indexes) if (!shard.indexes().includes(index)) shard.createIndex(index)
        continue
      }
      if (!Array.isArray(value) || value.length !== 4) bad('an entry must be [index, key, doc, expires]')
      const [index, key, doc, expires] = value as [string, string, never, number]
      if (expires !== 0 && expires - now() <= 0) continue
      try {
        // importEntries, not write: entries kept outside the range for a handover load too.
        if (typeof index !== 'string' || typeof key !== 'string') throw new Error('index and key must be strings')
        shard.importEntries([{ index, key, doc, expires }])
      } catch (err) {
        bad(`cannot load "${String(index)}:${String(key)}": ${(err as Error).message}`)
      }
      count++
    }
  } finally {
    lines.close()
  }
  if (lineNo === 0) bad('empty file')
  return count
}
