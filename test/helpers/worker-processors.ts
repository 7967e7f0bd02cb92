// Processors for the worker tests and benches. Each runs where a shard lives
// (in the worker for worker shards), over that shard's entries of one index.
export { sumScores, fails } from '../fixtures/processors.js'

type Entries = Iterable<[string, unknown]>

/** Keeps the shard's thread busy for `ms` (so requests pile up behind it), then counts entries. */
export function spin(entries: Entries, args: { ms: number }): number {
  const until = Date.now() + args.ms
  while (Date.now() < until) { /* busy on purpose */ }
  let n = 0
  for (const _ of entries) n++
  return n
}

/** Throws outside any request (an uncaught exception in the worker): the worker dies. */
export function crashLater(_entries: Entries, args: { message: string }): number {
  setTimeout(() => { throw new Error(args.message) }, 0)
  return 0
}

/** Allocates until the heap limit is hit (run it only with a small `resourceLimits`). */
export function hog(): number {
  const keep: number[][] = []
  for (;;) keep.push(new Array<number>(1_000_000).fill(keep.length))
}

/** A document of the CPU-heavy workload: a vector and a label. */
export interface ScoredDoc { v: number[]; label: string }

/**
 * CPU-heavy: scores every document against a query vector (`rounds` passes of
 * a dot product plus a string hash) and keeps the best few. Returns the count,
 * the sum of scores and the top keys, so the caller can merge shards' results.
 */
export function score(entries: Entries, args: { q: number[]; rounds?: number; top?: number }): { count: number; sum: number; top: [string, number][] } {
  const q = args.q
  const rounds = args.rounds ?? 20
  const k = args.top ?? 5
  const top: [string, number][] = []
  let count = 0
  let sum = 0
  for (const [key, raw] of entries) {
    const doc = raw as ScoredDoc
    let s = 0
    for (let r = 0; r < rounds; r++) {
      let dot = 0
      for (let i = 0; i < q.length; i++) dot += (q[i] as number) * ((doc.v[i] as number) + r)
      let h = 0
      for (let i = 0; i < doc.label.length; i++) h = (h * 31 + doc.label.charCodeAt(i) + r) | 0
      s += Math.sqrt(Math.abs(dot)) + (h & 0xff) / 256
    }
    s /= rounds
    count++
    sum += s
    if (top.length < k || s > (top[top.length - 1] as [string, number])[1]) {
      top.push([key, s])
      top.sort((a, b) => b[1] - a[1])
      if (top.length > k) top.pop()
    }
  }
  return { count, sum, top }
}

/** Returns something that cannot cross threads. */
export function returnsFunction(): () => number {
  return () => 1
}
