/**
 * The load generator behind `pyshard bench`: C clients, each with P requests in
 * flight, run one operation at a time against a target (pyshard or a peer), a
 * warm-up first, then the measured phase, recording every request's latency.
 *
 * Closed loop (default): a slot sends its next request when the last one is
 * answered; latency is from send to answer. Fixed rate (`rate`): request n is
 * due at t0 + n / rate whatever happened before; a slot that is late sends at
 * once, and its latency is counted from the due time, so a stall shows up in
 * the latency of every request it delayed (no coordinated omission).
 */
import { performance } from 'node:perf_hooks'
import { Histogram } from './bench-histogram.js'

/** The operations `pyshard bench` knows, in the order it runs them (pop last: it empties the keyspace). */
export const OPS = ['read', 'write', 'readMany', 'writeMany', 'mixed', 'pop'] as const
export type OpName = (typeof OPS)[number]

/** One client's view of a store: what each operation does there. Reads answer how many keys were found. */
export interface BenchClient {
  read(key: string): Promise<number>
  write(key: string, value: string): Promise<unknown>
  readMany(keys: string[]): Promise<number>
  writeMany(pairs: [string, string][]): Promise<unknown>
  pop(key: string): Promise<number>
}

/** A store under test: pyshard, or a peer a user might choose instead. */
export interface BenchTarget {
  /** Short name for tables: `pyshard`, `lru-cache`, `ioredis`. */
  name: string
  /** What exactly runs (transport, shards, address). */
  description: string
  /** One per bench client; in-process stores give the same client to all. */
  clients: BenchClient[]
  /** Writes every key of the keyspace (untimed). */
  prefill(keys: readonly string[], value: string): Promise<void>
  /** Removes what the bench wrote and closes connections. */
  close(): Promise<void>
}

export interface BenchSettings {
  ops: OpName[]
  /** Requests per operation, or null to run for `duration`. */
  requests: number | null
  /** Seconds per operation, when `requests` is null. */
  duration: number
  /** Warm-up per operation: seconds in duration mode. */
  warmup: number
  clients: number
  pipeline: number
  valueSize: number
  keyspace: number
  /** Keys per readMany / writeMany call. */
  batch: number
  /** Requests per second (all clients together), or null for a closed loop. */
  rate: number | null
  /** Share of reads in `mixed` (the rest are writes). */
  readShare: number
}

/** What one operation on one target measured. */
export interface PhaseResult {
  target: string
  op: OpName
  /** Requests answered (successes and errors). */
  requests: number
  /** Keys those requests touched (requests × batch for readMany / writeMany). */
  keys: number
  /** Keys found, for read, readMany, pop and the reads of mixed. */
  hits: number
  elapsedS: number
  opsPerSec: number
  keysPerSec: number
  errors: Record<string, number>
  histogram: Histogram
  /** True when the phase stopped early (Ctrl-C, or pop ran out of keys). */
  cut: boolean
}

export interface Progress {
  (target: string, op: OpName, phase: 'warm-up' | 'run', done: number, elapsedS: number): void
}

/** The clock every sample reads (ms, sub-µs resolution). */
export const now = (): number => performance.now()

/** Keys of the keyspace, flat strings of one width (built before anything is timed). */
export function makeKeys(n: number): string[] {
  const width = String(Math.max(0, n - 1)).length
  const keys = new Array<string>(n)
  for (let i = 0; i < n; i++) keys[i] = Buffer.from(`key:${String(i).padStart(width, '0')}`, 'latin1').toString('latin1')
  return keys
}

/** A small fast PRNG (xorshift32) so key choice costs little and runs repeat. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
}

/** Error code for the counts: pyshard's stable code, a Redis reply's code word, else the error's name. */
export function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown }
  if (typeof e?.code === 'string' && e.code !== '') return e.code
  if (e?.name === 'ReplyError' && typeof e.message === 'string') return e.message.split(' ')[0] ?? 'ReplyError'
  if (typeof e?.name === 'string' && e.name !== '') return e.name
  return 'ERROR'
}

/**
 * Hands out due times at a fixed rate. `take()` gives request n and resolves when
 * t0 + n / rate has come; one pump serves every waiting slot, in order.
 */
class Pacer {
  readonly #t0: number
  readonly #interval: number
  #queue: { due: number; resolve: () => void }[] = []
  #head = 0
  #pumping = false

  constructor(t0: number, rate: number) {
    this.#t0 = t0
    this.#interval = 1000 / rate
  }

  due(n: number): number { return this.#t0 + n * this.#interval }

  wait(due: number): Promise<void> | null {
    if (due <= now()) return null
    return new Promise((resolve) => {
      this.#queue.push({ due, resolve })
      this.#pump()
    })
  }

  #pump(): void {
    if (this.#pumping) return
    this.#pumping = true
    const step = (): void => {
      const t = now()
      while (this.#head < this.#queue.length && (this.#queue[this.#head] as { due: number }).due <= t) {
        (this.#queue[this.#head++] as { resolve: () => void }).resolve()
      }
      if (this.#head > 1024) {
        this.#queue = this.#queue.slice(this.#head)
        this.#head = 0
      }
      if (this.#head >= this.#queue.length) {
        this.#pumping = false
        return
      }
      const wait = (this.#queue[this.#head] as { due: number }).due - t
      // setTimeout fires up to about a millisecond late: sleep until just before, then poll each turn.
      if (wait > 2) setTimeout(step, wait - 1.5)
      else setImmediate(step)
    }
    setImmediate(step)
  }
}

interface PhaseLimits { requests: number; seconds: number }

/** Runs one phase (warm-up or measured) of `op` on `target`. `seq` numbers requests across the phases of an op. */
async function phase(
  target: BenchTarget, op: OpName, s: BenchSettings, keys: readonly string[], value: string,
  limits: PhaseLimits, seq: { next: number }, stop: { requested: boolean }, onProgress: (done: number, elapsed: number) => void,
): Promise<PhaseResult> {
  const hist = new Histogram()
  const errors: Record<string, number> = {}
  const random = rng(0x9e3779b9 ^ (OPS.indexOf(op) * 7919) ^ seq.next)
  const k = keys.length
  const pick = (): string => keys[Math.floor(random() * k)] as string
  const batchKeys = (): string[] => {
    const out = new Array<string>(s.batch)
    for (let i = 0; i < s.batch; i++) out[i] = pick()
    return out
  }
  const batchPairs = (): [string, string][] => {
    const out = new Array<[string, string]>(s.batch)
    for (let i = 0; i < s.batch; i++) out[i] = [pick(), value]
    return out
  }
  // pop takes keys in order, each once: past the keyspace there is nothing left to pop.
  const popLimit = op === 'pop' ? Math.max(0, k - seq.next) : Infinity
  const maxRequests = Math.min(limits.requests, popLimit)
  let issued = 0
  let done = 0
  let hits = 0
  let keysTouched = 0
  const t0 = now()
  const deadline = t0 + limits.seconds * 1000
  const pacer = s.rate === null ? null : new Pacer(t0, s.rate)
  const perCall = op === 'readMany' || op === 'writeMany' ? s.batch : 1

  const send = (client: BenchClient, n: number): Promise<number | unknown> => {
    switch (op) {
      case 'read': return client.read(pick())
      case 'write': return client.write(pick(), value)
      case 'readMany': return client.readMany(batchKeys())
      case 'writeMany': return client.writeMany(batchPairs())
      case 'pop': return client.pop(keys[(seq.next + n) % k] as string)
      case 'mixed': return random() < s.readShare ? client.read(pick()) : client.write(pick(), value).then(() => 0)
    }
  }

  // An in-process store answers through microtasks alone, which would starve timers and signals
  // (the progress line, Ctrl-C) for the whole phase: every 20 ms, all slots let the event loop run.
  let lastYield = t0
  let lastEnd = t0
  let yielding: Promise<void> | null = null
  const slot = async (client: BenchClient): Promise<void> => {
    for (;;) {
      if (stop.requested || issued >= maxRequests) return
      if (yielding !== null) await yielding
      else if (lastEnd - lastYield > 20) {
        yielding = new Promise<void>((resolve) => setImmediate(() => {
          lastYield = now()
          yielding = null
          resolve()
        }))
        await yielding
      }
      if (stop.requested || issued >= maxRequests) return
      const n = issued++
      let start: number
      if (pacer !== null) {
        start = pacer.due(n)
        if (start >= deadline) return
        const wait = pacer.wait(start)
        if (wait !== null) await wait
      } else {
        start = now()
        if (start >= deadline) return
      }
      try {
        const r = await send(client, n)
        if (typeof r === 'number' && op !== 'write' && op !== 'writeMany') hits += r
      } catch (err) {
        const code = errorCode(err)
        errors[code] = (errors[code] ?? 0) + 1
      }
      lastEnd = now()
      hist.record((lastEnd - start) * 1e6)
      done++
      keysTouched += perCall
    }
  }

  const ticker = setInterval(() => onProgress(done, (now() - t0) / 1000), 200)
  ticker.unref()
  try {
    const slots: Promise<void>[] = []
    for (let c = 0; c < s.clients; c++) {
      const client = target.clients[c % target.clients.length] as BenchClient
      for (let p = 0; p < s.pipeline; p++) slots.push(slot(client))
    }
    await Promise.all(slots)
  } finally {
    clearInterval(ticker)
  }
  const elapsedS = Math.max((now() - t0) / 1000, 1e-9)
  seq.next += issued
  return {
    target: target.name, op, requests: done, keys: keysTouched, hits, elapsedS,
    opsPerSec: done / elapsedS, keysPerSec: keysTouched / elapsedS, errors, histogram: hist,
    cut: stop.requested || (op === 'pop' && maxRequests < limits.requests && now() < deadline),
  }
}

/** Warm-up, then the measured phase, of one operation on one target. */
export async function runOp(
  target: BenchTarget, op: OpName, s: BenchSettings, keys: readonly string[], value: string,
  stop: { requested: boolean }, progress?: Progress,
): Promise<PhaseResult> {
  const seq = { next: 0 }
  // Warm-up: a tenth of the requests (at least one per slot), or `warmup` seconds; for pop a
  // twentieth of the keyspace at most, so the measured phase keeps keys to pop.
  const slots = s.clients * s.pipeline
  let warm: PhaseLimits = s.requests !== null
    ? { requests: Math.max(slots, Math.ceil(s.requests / 10)), seconds: Infinity }
    : { requests: Infinity, seconds: s.warmup }
  if (op === 'pop') warm = { requests: Math.min(warm.requests, Math.floor(keys.length / 20)), seconds: warm.seconds }
  if (warm.requests > 0 && warm.seconds > 0) {
    await phase(target, op, s, keys, value, warm, seq, stop, (d, e) => progress?.(target.name, op, 'warm-up', d, e))
  }
  const measured: PhaseLimits = s.requests !== null ? { requests: s.requests, seconds: Infinity } : { requests: Infinity, seconds: s.duration }
  return phase(target, op, s, keys, value, measured, seq, stop, (d, e) => progress?.(target.name, op, 'run', d, e))
}

/**
 * What each of the two clocks costs per call (ns), in CPU time of this process (so a busy
 * machine that takes the CPU away mid-round does not count), the fastest of 5 rounds.
 */
export function timerOverhead(): { performanceNowNs: number; hrtimeBigintNs: number } {
  const rounds = 5
  const calls = 200_000
  const perf: number[] = []
  const hr: number[] = []
  let sink = 0
  const cpu = (): number => {
    const u = process.cpuUsage()
    return u.user + u.system
  }
  for (let r = 0; r < rounds; r++) {
    let t = cpu()
    for (let i = 0; i < calls; i++) sink += performance.now()
    perf.push(((cpu() - t) * 1000) / calls)
    t = cpu()
    for (let i = 0; i < calls; i++) sink += Number(process.hrtime.bigint() & 1n)
    hr.push(((cpu() - t) * 1000) / calls)
  }
  if (sink === -1) process.stdout.write('') // keeps the loops from being optimised away
  return { performanceNowNs: Math.min(...perf), hrtimeBigintNs: Math.min(...hr) }
}

/**
 * What the load generator itself costs per request (ns of CPU time): `requests` reads against
 * a store that answers at once, with the run's clients and pipeline. Its inverse is the most
 * requests per second this process could ever report on one core.
 */
export async function generatorCost(s: BenchSettings, requests = 50_000): Promise<number> {
  const client: BenchClient = {
    read: () => Promise.resolve(1), write: () => Promise.resolve(0), readMany: () => Promise.resolve(1),
    writeMany: () => Promise.resolve(0), pop: () => Promise.resolve(1),
  }
  const target: BenchTarget = { name: 'no-op', description: '', clients: [client], prefill: async () => {}, close: async () => {} }
  const keys = makeKeys(1000)
  const settings: BenchSettings = { ...s, rate: null, requests }
  const limits = { requests, seconds: Infinity }
  const stop = { requested: false }
  await phase(target, 'read', settings, keys, 'x', { requests: Math.ceil(requests / 5), seconds: Infinity }, { next: 0 }, stop, () => {})
  const c0 = process.cpuUsage()
  await phase(target, 'read', settings, keys, 'x', limits, { next: 0 }, stop, () => {})
  const c = process.cpuUsage(c0)
  return ((c.user + c.system) * 1000) / requests
}
