/**
 * What `pyshard bench` prints: the report object (`--json`, field names stable),
 * an aligned table, and a self-contained HTML page with inline SVG charts.
 */
import type { OpName, PhaseResult } from './bench-engine.js'

/** Latency figures of one phase, in microseconds. */
export interface LatencyUs { min: number; mean: number; p50: number; p90: number; p99: number; p999: number; max: number }

/** One operation on one target (`results[]` of the JSON report). */
export interface ResultJson extends Omit<PhaseResult, 'histogram'> {
  latencyUs: LatencyUs
  /** The latency distribution: `[upper bound µs, count]`, about 20 buckets per decade. */
  histogram: [number, number][]
  cut: boolean
}

/** pyshard against one peer for one operation: ratios pyshard ÷ peer. */
export interface ComparisonJson { op: OpName; peer: string; throughputRatio: number; p50Ratio: number; p99Ratio: number }

/** The whole `--json` object. */
export interface BenchReport {
  /** Version of this object's layout; bumped only when a field changes meaning or goes away. */
  schema: 1
  pyshardVersion: string
  startedAt: string
  finishedAt: string
  machine: { node: string; platform: string; arch: string; cpus: number; cpuModel: string }
  target: { kind: 'memory' | 'worker' | 'bootstrap' | 'config'; description: string; shards: number; index: string; indexDropped: boolean }
  settings: {
    ops: OpName[]; requests: number | null; durationS: number | null; warmupS: number | null; clients: number; pipeline: number
    valueSize: number; keyspace: number; batch: number; rate: number | null; mixedReadShare: number
  }
  /** Clock costs per call, and what the load generator costs per request against a no-op store (ns of CPU). */
  timer: { source: 'performance.now'; performanceNowNs: number; hrtimeBigintNs: number; generatorNsPerRequest: number }
  results: ResultJson[]
  peers: { name: string; ran: boolean; description?: string; reason?: string }[]
  comparisons: ComparisonJson[]
  interrupted: boolean
}

const round = (x: number, digits = 3): number => Number(x.toFixed(digits))

export function resultJson(r: PhaseResult): ResultJson {
  const h = r.histogram
  const us = (ns: number): number => round(ns / 1000)
  return {
    target: r.target, op: r.op, requests: r.requests, keys: r.keys, hits: r.hits, elapsedS: round(r.elapsedS, 4),
    opsPerSec: round(r.opsPerSec, 1), keysPerSec: round(r.keysPerSec, 1),
    latencyUs: { min: us(h.min), mean: us(h.mean), p50: us(h.percentile(50)), p90: us(h.percentile(90)), p99: us(h.percentile(99)), p999: us(h.percentile(99.9)), max: us(h.max) },
    errors: r.errors,
    histogram: h.buckets().map(([ns, c]) => [us(ns), c]),
    cut: r.cut,
  }
}

export function comparisons(results: readonly ResultJson[]): ComparisonJson[] {
  const out: ComparisonJson[] = []
  for (const own of results) {
    if (own.target !== 'pyshard') continue
    for (const peer of results) {
      if (peer.target === 'pyshard' || peer.op !== own.op) continue
      const ratio = (a: number, b: number): number => (b > 0 ? round(a / b, 3) : 0)
      out.push({
        op: own.op, peer: peer.target,
        throughputRatio: ratio(own.opsPerSec, peer.opsPerSec),
        p50Ratio: ratio(own.latencyUs.p50, peer.latencyUs.p50),
        p99Ratio: ratio(own.latencyUs.p99, peer.latencyUs.p99),
      })
    }
  }
  return out
}

/** A latency in µs as three significant digits with a unit: `812ns`, `52.3µs`, `1.20ms`, `2.50s`. */
export function formatLatency(us: number): string {
  const sig = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
  if (us < 1) return `${Math.round(us * 1000)}ns`
  if (us < 1000) return `${sig(us)}µs`
  if (us < 1_000_000) return `${sig(us / 1000)}ms`
  return `${sig(us / 1_000_000)}s`
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US')

/** Left- or right-aligned columns, two spaces apart. */
function table(rows: string[][], right: ReadonlySet<number>): string {
  const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number))).join('  ').trimEnd()).join('\n')
}

function errorsText(errors: Record<string, number>): string {
  const parts = Object.entries(errors).map(([code, n]) => `${code} ${int(n)}`)
  return parts.length === 0 ? '0' : parts.join(', ')
}

export function describeSettings(r: BenchReport): string[] {
  const s = r.settings
  const amount = s.requests !== null ? `${int(s.requests)} requests per operation` : `${s.durationS} s per operation after ${s.warmupS} s warm-up`
  const load = s.rate !== null ? `fixed rate ${int(s.rate)} requests/s (latency from the intended send time)` : 'closed loop'
  return [
    `pyshard bench: ${r.target.description}`,
    `index ${r.target.index} (${r.target.indexDropped ? 'dropped' : 'NOT dropped'}), ${s.clients} clients x ${s.pipeline} in flight, ${load}`,
    `${s.valueSize}-byte values, ${int(s.keyspace)} keys, ${amount}, batch ${s.batch} for readMany/writeMany, mixed = ${Math.round(s.mixedReadShare * 100)}% reads`,
    `timer: performance.now() ${r.timer.performanceNowNs.toFixed(0)} ns/call, process.hrtime.bigint() ${r.timer.hrtimeBigintNs.toFixed(0)} ns/call; each sample reads performance.now() twice`,
    `load generator: ${int(r.timer.generatorNsPerRequest)} ns of CPU per request against a no-op store (at most ~${int(1e9 / Math.max(1, r.timer.generatorNsPerRequest))} requests/s on one core)`,
  ]
}

/** The report for a terminal: settings, one row per operation and target, then the ratios. */
export function formatTable(r: BenchReport): string {
  const lines = describeSettings(r)
  for (const p of r.peers) lines.push(p.ran ? `peer: ${p.description}` : (p.reason as string))
  lines.push('')
  const head = ['target', 'op', 'requests', 'ops/s', 'keys/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'errors']
  const rows = r.results.map((x) => [
    x.target, x.cut ? `${x.op}*` : x.op, int(x.requests), int(x.opsPerSec), int(x.keysPerSec),
    formatLatency(x.latencyUs.p50), formatLatency(x.latencyUs.p90), formatLatency(x.latencyUs.p99), formatLatency(x.latencyUs.p999), formatLatency(x.latencyUs.max),
    errorsText(x.errors),
  ])
  lines.push(table([head, ...rows], new Set([2, 3, 4, 5, 6, 7, 8, 9])))
  if (r.results.some((x) => x.cut)) {
    lines.push(r.interrupted ? '* stopped early (interrupted)' : '* pop stopped when every key had been popped once (a larger --keyspace gives it longer)')
  }
  if (r.comparisons.length > 0) {
    lines.push('', 'pyshard ÷ peer (throughput above 1 = pyshard faster; latency below 1 = pyshard faster)')
    const x = (v: number): string => `${v.toFixed(2)}x`
    lines.push(table([['op', 'peer', 'throughput', 'p50', 'p99'], ...r.comparisons.map((c) => [c.op, c.peer, x(c.throughputRatio), x(c.p50Ratio), x(c.p99Ratio)])], new Set([2, 3, 4])))
  }
  return `${lines.join('\n')}\n`
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

const COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#d53f8c', '#718096']

/** Grouped horizontal bars: ops/s per operation, one bar per target. */
function throughputSvg(r: BenchReport, targets: string[]): string {
  const ops = [...new Set(r.results.map((x) => x.op))]
  const barH = 16
  const groupH = targets.length * barH + 14
  const left = 90
  const width = 720
  const plotW = width - left - 130
  const height = ops.length * groupH + 30
  const max = Math.max(1, ...r.results.map((x) => x.opsPerSec))
  const parts: string[] = []
  ops.forEach((op, g) => {
    const y0 = 10 + g * groupH
    parts.push(`<text x="${left - 8}" y="${y0 + (targets.length * barH) / 2 + 4}" text-anchor="end">${esc(op)}</text>`)
    targets.forEach((t, i) => {
      const res = r.results.find((x) => x.op === op && x.target === t)
      if (res === undefined) return
      const w = Math.max(1, (res.opsPerSec / max) * plotW)
      const y = y0 + i * barH
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH - 3}" fill="${COLORS[i % COLORS.length]}"><title>${esc(t)} ${esc(op)}: ${int(res.opsPerSec)} ops/s</title></rect>`)
      parts.push(`<text x="${(left + w + 6).toFixed(1)}" y="${y + barH - 5}">${int(res.opsPerSec)}</text>`)
    })
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`
}

/**
 * The latency distribution as HdrHistogram plots it: latency (log scale) against the
 * percentile, with the x axis stretched towards the tail (1 / (1 - p)), one line per target.
 */
function latencySvg(results: ResultJson[], title: string): string {
  const width = 720
  const height = 300
  const left = 70
  const right = 20
  const top = 24
  const bottom = 40
  const maxNines = 4 // up to 99.99%
  const xOf = (p: number): number => left + (Math.min(maxNines, -Math.log10(Math.max(1 - p, 10 ** -maxNines))) / maxNines) * (width - left - right)
  const all = results.flatMap((r) => r.histogram.map(([us]) => us)).filter((v) => v > 0)
  const lo = Math.log10(Math.max(0.1, Math.min(...all, 1)))
  const hi = Math.log10(Math.max(...all, 10)) + 0.05
  const yOf = (us: number): number => top + (1 - (Math.log10(Math.max(us, 10 ** lo)) - lo) / (hi - lo)) * (height - top - bottom)
  const parts: string[] = [`<text x="${left}" y="16" font-weight="bold">${esc(title)}</text>`]
  for (let n = 0; n <= maxNines; n++) {
    const p = 1 - 10 ** -n
    const x = xOf(p)
    const label = n === 0 ? '0%' : `${(p * 100).toFixed(Math.max(0, n - 2))}%`
    parts.push(`<line x1="${x.toFixed(1)}" y1="${top}" x2="${x.toFixed(1)}" y2="${height - bottom}" stroke="#ddd"/><text x="${x.toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${label}</text>`)
  }
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d++) {
    const y = yOf(10 ** d)
    parts.push(`<line x1="${left}" y1="${y.toFixed(1)}" x2="${width - right}" y2="${y.toFixed(1)}" stroke="#eee"/><text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${formatLatency(10 ** d).replace(/\.0+(?=\D)/, '')}</text>`)
  }
  parts.push(`<text x="${(left + width - right) / 2}" y="${height - 6}" text-anchor="middle">percentile</text>`)
  results.forEach((r, i) => {
    const total = r.histogram.reduce((a, [, c]) => a + c, 0)
    if (total === 0) return
    let seen = 0
    const pts: string[] = []
    let px = xOf(0)
    for (const [us, c] of r.histogram) {
      // A step: the latency holds from the previous percentile up to this bucket's.
      const y = yOf(us)
      pts.push(`${px.toFixed(1)},${y.toFixed(1)}`)
      seen += c
      px = xOf(seen / total)
      pts.push(`${px.toFixed(1)},${y.toFixed(1)}`)
    }
    const color = COLORS[i % COLORS.length] as string
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"><title>${esc(r.target)} ${esc(r.op)}</title></polyline>`)
    // Top left: percentile curves rise to the right, so that corner is free.
    parts.push(`<rect x="${left + 10}" y="${top + 4 + i * 16}" width="10" height="10" fill="${color}"/><text x="${left + 26}" y="${top + 13 + i * 16}">${esc(r.target)}</text>`)
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`
}

/** One HTML file, nothing fetched: settings, the table, a throughput chart and a latency chart per operation. */
export function formatHtml(r: BenchReport): string {
  const targets = [...new Set(r.results.map((x) => x.target))]
  const ops = [...new Set(r.results.map((x) => x.op))]
  const legend = targets.map((t, i) => `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(t)}</span>`).join(' ')
  const latency = ops.map((op) => latencySvg(r.results.filter((x) => x.op === op), `${op}: latency by percentile`)).join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pyshard bench ${esc(r.startedAt)}</title>
<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:900px}
pre{background:#f6f8fa;padding:12px;overflow-x:auto;font-size:12px}
.legend span{margin-right:16px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
svg{display:block;margin:8px 0 24px}
</style></head><body>
<h1>pyshard bench</h1>
<p>${esc(r.startedAt)} to ${esc(r.finishedAt)} · pyshard ${esc(r.pyshardVersion)} · Node ${esc(r.machine.node)} · ${r.machine.cpus} × ${esc(r.machine.cpuModel)}</p>
<pre>${esc(formatTable(r))}</pre>
<h2>Throughput (requests/s)</h2>
<p class="legend">${legend}</p>
${throughputSvg(r, targets)}
<h2>Latency distribution</h2>
<p>Latency (log scale) at each percentile; the axis stretches towards the tail (90%, 99%, 99.9%, ...).${r.settings.rate !== null ? ' Fixed-rate run: latency counts from each request\'s intended send time.' : ''}</p>
${latency}
<script type="application/json" id="report">${JSON.stringify(r).replace(/</g, '\\u003c')}</script>
</body></html>
`
}
