/**
 * A latency histogram laid out as HdrHistogram lays out its counts: values
 * (integer nanoseconds) below 2048 have a bucket each; above, every power of
 * two is split into 1024 equal buckets. So any recorded value is known to
 * within 1/1024 (three significant digits) from 1 ns up to hours, recording
 * is a few arithmetic steps and one array increment, and two histograms merge
 * by adding their arrays.
 *
 * Why not the `hdr-histogram-js` package: it ships a WebAssembly build and two
 * dependencies to do this, and `pyshard bench` needs only record, merge and
 * percentiles; a dependency of the installed package would have to earn more.
 */

const SUB_BITS = 10
const HALF = 1 << SUB_BITS // 1024
const LINEAR = HALF * 2 // values below this have one bucket each

/** Bucket index of a value in ns (a non-negative integer). */
function indexOf(v: number): number {
  if (v < LINEAR) return v
  // floor(log2(v)) for v up to 2^53, without Math.log2's rounding at exact powers of two.
  const hi = Math.floor(v / 4294967296)
  const e = hi > 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(v)
  const shift = e - SUB_BITS
  return shift * HALF + Math.floor(v / 2 ** shift)
}

/** The highest value (ns) that lands in bucket `i`. */
function highestOf(i: number): number {
  if (i < LINEAR) return i
  const shift = Math.floor(i / HALF) - 1
  const sub = i - shift * HALF
  return (sub + 1) * 2 ** shift - 1
}

export class Histogram {
  #counts = new Float64Array(LINEAR + 8 * HALF)
  #count = 0
  #sum = 0
  #min = Infinity
  #max = 0

  /** Records one value in nanoseconds (negative values count as 0). */
  record(ns: number): void {
    const v = ns > 0 ? Math.round(ns) : 0
    const i = indexOf(v)
    if (i >= this.#counts.length) this.#grow(i)
    const counts = this.#counts
    counts[i] = (counts[i] as number) + 1
    this.#count++
    this.#sum += v
    if (v < this.#min) this.#min = v
    if (v > this.#max) this.#max = v
  }

  #grow(i: number): void {
    const next = new Float64Array(Math.max(i + 1, this.#counts.length * 2))
    next.set(this.#counts)
    this.#counts = next
  }

  /** Adds every value of `other` to this one. */
  add(other: Histogram): void {
    const o = other.#counts
    if (o.length > this.#counts.length) this.#grow(o.length - 1)
    for (let i = 0; i < o.length; i++) if (o[i] !== 0) (this.#counts[i] as number) += o[i] as number
    this.#count += other.#count
    this.#sum += other.#sum
    if (other.#min < this.#min) this.#min = other.#min
    if (other.#max > this.#max) this.#max = other.#max
  }

  get count(): number { return this.#count }
  /** Smallest value recorded (ns), 0 when empty. */
  get min(): number { return this.#count === 0 ? 0 : this.#min }
  /** Largest value recorded (ns), exact. */
  get max(): number { return this.#max }
  /** Mean (ns), 0 when empty. */
  get mean(): number { return this.#count === 0 ? 0 : this.#sum / this.#count }

  /**
   * The value (ns) at or below which `p` percent of the values lie: the top of the
   * bucket that holds it (never above the exact maximum), as HdrHistogram reports.
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0
    const want = Math.max(1, Math.ceil((p / 100) * this.#count))
    let seen = 0
    const counts = this.#counts
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i] as number
      if (seen >= want) return Math.min(highestOf(i), this.#max)
    }
    return this.#max
  }

  /**
   * The distribution in at most about `perDecade` × decades points: `[upper bound ns, count]`
   * for each non-empty coarse bucket, ascending. For charts and JSON; percentiles use the
   * full resolution.
   */
  buckets(perDecade = 20): [number, number][] {
    const out: [number, number][] = []
    const counts = this.#counts
    const step = 10 ** (1 / perDecade)
    let edge = 1000 // 1 µs: finer than any timer here can tell
    let acc = 0
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i] as number
      if (c === 0) continue
      const top = highestOf(i)
      while (top > edge) {
        if (acc > 0) out.push([Math.round(edge), acc])
        acc = 0
        edge *= step
      }
      acc += c
    }
    if (acc > 0) out.push([Math.min(Math.round(edge), this.#max), acc])
    return out
  }
}
