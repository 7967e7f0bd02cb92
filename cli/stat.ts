/** `pyshard stat`: a table per shard (or JSON for machines). */
import type { ShardStats } from '../src/index.js'
import { CLIENT_HELP, CLIENT_OPTIONS, openStore } from './client.js'
import { EXIT_OK } from './command.js'
import type { Command } from './command.js'

export const stat: Command = {
  name: 'stat',
  summary: 'per-shard figures: range, transport, count, bytes, distribution',
  positionals: [],
  options: { ...CLIENT_OPTIONS, json: { type: 'boolean' } },
  help: `Usage: pyshard stat [--json] [options]

Prints one row per shard: name, hash range, transport, live entries, bytes
used of the byte limit, and how its entries spread over its range (a bar per
bucket, scaled to the fullest bucket of any shard). A shard that does not
answer is listed as down, with the error; the others are still shown.

Options:
      --json                 print the figures as JSON (an array, one object per shard)

${CLIENT_HELP}

Exit: 0 ok, 1 failed (cluster unreachable), 2 bad usage.`,
  async run(values) {
    const db = await openStore(values)
    try {
      const stats = await db.stat()
      process.stdout.write(values.json === true ? `${JSON.stringify(stats, null, 2)}\n` : formatStats(stats))
      return EXIT_OK
    } finally {
      await db.close()
    }
  },
}

const BARS = ' ▁▂▃▄▅▆▇█'

/** Bytes in the largest binary unit that keeps the number at or above 1. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  const digits = v >= 100 || Number.isInteger(v) ? 0 : 1
  return u === 0 ? `${v} B` : `${v.toFixed(digits)} ${units[u]}`
}

/** One character per bucket, scaled to `max`; an empty bucket is a space, any entry at least the lowest bar. */
export function distributionBar(buckets: readonly number[], max: number): string {
  let bar = ''
  for (const n of buckets) {
    bar += n === 0 || max === 0 ? BARS[0] : BARS[Math.max(1, Math.round((n / max) * (BARS.length - 1)))]
  }
  return bar
}

export function formatStats(stats: readonly ShardStats[]): string {
  const max = Math.max(0, ...stats.flatMap((s) => s.distribution))
  const rows = stats.map((s) => s.status === 'down' ? [s.name, `[${s.start}, ${s.end})`, s.transport, '-', `down: ${s.error ?? 'unreachable'}`, ''] : [
    s.name,
    `[${s.start}, ${s.end})`,
    s.transport,
    String(s.count),
    `${formatBytes(s.bytes)} / ${formatBytes(s.maxSize)} (${((s.bytes / s.maxSize) * 100).toFixed(1)}%)`,
    `|${distributionBar(s.distribution, max)}|`,
  ])
  const total = stats.reduce((a, s) => ({ count: a.count + s.count, bytes: a.bytes + s.bytes, max: a.max + s.maxSize }), { count: 0, bytes: 0, max: 0 })
  const head = ['shard', 'range', 'transport', 'count', 'bytes of max', 'distribution']
  const foot = ['total', '', '', String(total.count), `${formatBytes(total.bytes)} / ${formatBytes(total.max)}`, '']
  const all = [head, ...rows, foot]
  const widths = head.map((_, c) => Math.max(...all.map((r) => (r[c] as string).length)))
  const right = new Set([3])
  return all
    .map((r) => r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number))).join('  ').trimEnd())
    .join('\n') + '\n'
}
