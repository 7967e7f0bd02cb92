/**
 * A redis shard. Redis is the engine here, so unlike the other transports this
 * client does not host a `Shard`: it translates each request into Redis
 * commands (`#run` groups the reads and writes of a batch, the `#plan` switch
 * below translates the rest: together the one table of that translation)
 * and keeps the answers identical to `Shard`'s, so the same conformance suite
 * passes. The key layout is in layout.ts, the Lua scripts in scripts.ts.
 */
import type { Cluster, Redis } from 'ioredis'
import { errorResponse, errorFromCode, measure, ShardUnavailableError, TimeoutError, BadRequestError } from '../../src/internal.js'
import type { ShardClient, ShardSpec, TransportContext, Request, Response, ErrorResponse, Json, ShardStat } from '../../src/internal.js'
import { Layout, keySlot, originalKey, storedKey } from './layout.js'
import type { BucketKeys } from './layout.js'
import { SCAN_CHUNK, DROP_CHUNK, GROUP_MAX } from './scripts.js'
import type { ScriptName } from './scripts.js'

/** Limits of one redis shard client (see `RedisTransportOptions`). */
export interface RedisClientLimits {
  /** Requests in flight on one shard before new batches are refused with SHARD_UNAVAILABLE. */
  maxPending: number
  /** Scan cursors open at once; opening one more drops the least recently used. */
  maxCursors: number
  /** A cursor not used for this long is dropped (ms). */
  cursorIdleMs: number
}

/** One Redis command of a plan: a command or script name (a pipeline method), its arguments, and the slot its keys hash to. */
interface Cmd { name: string; args: (string | number)[]; slot: number }

/**
 * A command of a batch and the requests it answers (`at`: their positions in
 * the batch): one for a single-key script, many for a read or write group.
 * `decode` fills their responses from the reply.
 */
interface Step { cmd: Cmd; at: number[]; decode: (reply: unknown, out: Response[]) => void }

/** Reads of one batch segment to one (index, bucket): one `MGET marker key1 key2 ...`. */
interface ReadGroup { index: string; args: string[]; at: number[] }

/** Writes of one batch segment to one (index, bucket), same options: one script call. */
interface WriteGroup { index: string; k: BucketKeys; docs: string[]; members: (string | number)[]; sizes: number[]; at: number[] }

type WriteRequest = Extract<Request, { op: 'write' }>
type Reply = [error: Error | null, result: unknown]
type Pipe = Record<string, (...args: (string | number)[]) => unknown> & { exec(): Promise<Reply[] | null> }

/** Where a scan stands: the bucket, and inside it the hash of the last key seen and how many keys had that hash. */
interface Cursor { index: string; bucket: number; score: string; skip: number; used: number }

const HISTOGRAM_BUCKETS = 10
/** Members are scored by the key's 32-bit hash: exact integers, the same on every client. */
const TWO_32 = 4294967296

const TRUE: Response = { ok: true, value: true }
const FALSE: Response = { ok: true, value: false }
const ABSENT: Response = { ok: true }

function ok(value: unknown): Response {
  return { ok: true, value }
}

function indexNotFound(index: string): ErrorResponse {
  return { ok: false, code: 'INDEX_NOT_FOUND', message: `index "${index}" does not exist` }
}

function badRequest(message: string): ErrorResponse {
  return { ok: false, code: 'BAD_REQUEST', message }
}

/** Reads a stored document (JSON text). */
function decodeDoc(text: unknown): Response {
  try {
    return ok(JSON.parse(text as string) as Json)
  } catch (err) {
    return badRequest(`stored value is not JSON text: ${(err as Error).message}`)
  }
}

/** Redis errors carry an upper-case code word ("ERR", "OOM", "WRONGTYPE"); ioredis' own (connection) errors do not. */
function isRedisReplyError(err: Error): boolean {
  return err.name === 'ReplyError' || /^[A-Z]{2,}[A-Z_]* /.test(err.message)
}

function checkKeyed(req: { index: unknown; key: unknown; hash: unknown }): void {
  if (typeof req.index !== 'string' || req.index === '') throw new BadRequestError('index must be a non-empty string')
  if (typeof req.key !== 'string') throw new BadRequestError('key must be a string')
  if (typeof req.hash !== 'number' || !(req.hash >= 0 && req.hash < 1)) throw new BadRequestError('hash must be a number in [0,1)')
}

/** Validates a write as Shard does (BAD_REQUEST for a bad ttl or a document that is not JSON); answers its JSON text. */
function checkWrite(req: WriteRequest): string {
  checkKeyed(req)
  const { ttl } = req
  if (ttl !== undefined && ttl !== null && !(Number.isSafeInteger(ttl) && ttl > 0)) {
    throw new BadRequestError(`ttl must be a positive integer of milliseconds, got ${String(ttl)}`)
  }
  measure(req.doc)
  return JSON.stringify(req.doc)
}

/** `MGET marker key...`: one command, so the index check and every read of the group agree. */
function readStep(g: ReadGroup, slot: number): Step {
  return {
    cmd: { name: 'mget', args: g.args, slot },
    at: g.at,
    decode: (reply, out) => {
      const r = reply as (string | null)[]
      const at = g.at
      if (r[0] === null) {
        const missing = indexNotFound(g.index)
        for (let j = 0; j < at.length; j++) out[at[j] as number] = missing
        return
      }
      for (let j = 0; j < at.length; j++) {
        const doc = r[j + 1]
        out[at[j] as number] = doc === null || doc === undefined ? ABSENT : decodeDoc(doc)
      }
    },
  }
}

/** One `pyWriteMany` call (see scripts.ts): -1 no index, n all written, else a '1'/'0' per write. */
function writeStep(g: WriteGroup, nx: boolean, ttl: number): Step {
  const { k, docs, members } = g
  const args: (string | number)[] = [k.marker, k.members, k.expiries, nx ? '1' : '0', ttl]
  for (let j = 0; j < docs.length; j++) args.push(docs[j] as string)
  for (let j = 0; j < members.length; j++) args.push(members[j] as string | number)
  return {
    cmd: { name: 'pyWriteMany', args, slot: k.slot },
    at: g.at,
    decode: (reply, out) => {
      const at = g.at
      if (reply === -1) {
        const missing = indexNotFound(g.index)
        for (let j = 0; j < at.length; j++) out[at[j] as number] = missing
        return
      }
      const flags = typeof reply === 'string' ? reply : null
      for (let j = 0; j < at.length; j++) {
        out[at[j] as number] = flags === null || flags.charCodeAt(j) === 49 /* '1' */ ? ok(g.sizes[j]) : ok(0)
      }
    },
  }
}

export class RedisShardClient implements ShardClient {
  readonly #spec: ShardSpec
  readonly #ctx: TransportContext
  readonly #redis: Redis | Cluster
  readonly #cluster: boolean
  readonly #layout: Layout
  readonly #limits: RedisClientLimits
  readonly #registrySlot: number
  #pending = 0
  #inflight = new Set<Promise<unknown>>()
  #cursors = new Map<number, Cursor>()
  #nextCursor = 1
  #down = false
  #closing: Promise<void> | null = null

  constructor(spec: ShardSpec, ctx: TransportContext, redis: Redis | Cluster, cluster: boolean, layout: Layout, limits: RedisClientLimits) {
    this.#spec = spec
    this.#ctx = ctx
    this.#redis = redis
    this.#cluster = cluster
    this.#layout = layout
    this.#limits = limits
    this.#registrySlot = keySlot(layout.registry)
    // While down, ioredis reports every failed reconnect: pass on only the first error of an outage.
    redis.on('error', (err: Error) => { if (!this.#down) ctx.emit('error', err) })
    redis.on('ready', () => {
      if (!this.#down) return
      this.#down = false
      ctx.emit('shardUp', { shard: spec.name })
    })
    const lost = (err?: Error): void => {
      if (this.#down || this.#closing !== null) return
      this.#down = true
      ctx.emit('shardDown', { shard: spec.name, error: err ?? new ShardUnavailableError(`redis shard "${spec.name}": connection lost`) })
    }
    redis.on('close', () => lost())
    if (cluster) redis.on('node error', (err: Error) => lost(err))
  }

  send(batch: Request[]): Promise<Response[]> {
    if (this.#closing !== null) return Promise.reject(new ShardUnavailableError(`redis shard "${this.#spec.name}" is closed`))
    if (this.#pending + batch.length > this.#limits.maxPending) {
      return Promise.reject(new ShardUnavailableError(
        `redis shard "${this.#spec.name}" has ${this.#pending} requests in flight (limit ${this.#limits.maxPending}, transportOptions.maxInFlight)`,
      ))
    }
    this.#pending += batch.length
    const work = this.#run(batch)
    const settled = work.then(() => undefined, () => undefined)
    this.#inflight.add(settled)
    void settled.then(() => {
      this.#pending -= batch.length
      this.#inflight.delete(settled)
    })
    return this.#withTimeout(work)
  }

  /**
   * Finishes what is in flight (waiting at most `requestTimeout`: a stalled Redis must not
   * hold close() forever), then says QUIT (or drops the socket when Redis is unreachable).
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closing = (async () => {
        let drainTimer: NodeJS.Timeout | undefined
        await Promise.race([
          Promise.allSettled(this.#inflight),
          new Promise<void>((resolve) => { drainTimer = setTimeout(resolve, this.#ctx.requestTimeout) }),
        ])
        clearTimeout(drainTimer)
        this.#cursors.clear()
        if (this.#redis.status === 'ready') {
          let timer: NodeJS.Timeout | undefined
          await Promise.race([
            this.#redis.quit().catch(() => {}),
            new Promise<void>((resolve) => { timer = setTimeout(resolve, this.#ctx.connectTimeout) }),
          ])
          clearTimeout(timer)
        }
        this.#redis.disconnect()
      })()
    }
    return this.#closing
  }

  #withTimeout(work: Promise<Response[]>): Promise<Response[]> {
    const ms = this.#ctx.requestTimeout
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(
        `redis shard "${this.#spec.name}" did not answer within ${ms} ms (options.requestTimeout); the requests may or may not have been applied`,
      )), ms)
      work.then((r) => { clearTimeout(timer); resolve(r) }, (err: unknown) => { clearTimeout(timer); reject(err) })
    })
  }

  /**
   * Turns a batch into as few commands as keep its meaning, sends them as one
   * pipeline and decodes the replies. A run of consecutive reads becomes one
   * `MGET marker key...` per (index, bucket), a run of consecutive writes with
   * the same options one script call per (index, bucket): the index check is
   * made once per group, inside the same command, so it still agrees with
   * every read and write of the group. Runs end where the kind of operation
   * changes, so whatever a batch does to one key happens in the batch's order.
   */
  async #run(batch: Request[]): Promise<Response[]> {
    const out = new Array<Response>(batch.length)
    const steps: Step[] = []
    const slow: Promise<void>[] = []
    const reads = new Map<BucketKeys, ReadGroup>()
    const writes = new Map<BucketKeys, WriteGroup>()
    // The options shared by the open write groups.
    let nx = false
    let ttl = 0
    for (let i = 0; i < batch.length; i++) {
      const req = batch[i] as Request
      try {
        if (req.op === 'read') {
          checkKeyed(req)
          if (writes.size > 0) this.#flushWrites(writes, nx, ttl, steps)
          const k = this.#layout.bucket(req.index, req.hash)
          let g = reads.get(k)
          if (g === undefined) reads.set(k, (g = { index: req.index, args: [k.marker], at: [] }))
          g.args.push(k.dataPrefix + storedKey(req.key))
          g.at.push(i)
          if (g.at.length >= GROUP_MAX) {
            steps.push(readStep(g, k.slot))
            reads.delete(k)
          }
        } else if (req.op === 'write') {
          const json = checkWrite(req)
          const reqNx = req.ifAbsent === true
          const reqTtl = req.ttl ?? 0
          if (reads.size > 0) this.#flushReads(reads, steps)
          if (writes.size > 0 && (reqNx !== nx || reqTtl !== ttl)) this.#flushWrites(writes, nx, ttl, steps)
          nx = reqNx
          ttl = reqTtl
          const k = this.#layout.bucket(req.index, req.hash)
          let g = writes.get(k)
          if (g === undefined) writes.set(k, (g = { index: req.index, k, docs: [], members: [], sizes: [], at: [] }))
          const key = storedKey(req.key)
          g.docs.push(k.dataPrefix + key, json)
          g.members.push(req.hash * TWO_32, key)
          g.sizes.push(k.dataPrefixBytes + Buffer.byteLength(key) + Buffer.byteLength(json))
          g.at.push(i)
          if (g.at.length >= GROUP_MAX) {
            steps.push(writeStep(g, nx, ttl))
            writes.delete(k)
          }
        } else {
          if (reads.size > 0) this.#flushReads(reads, steps)
          if (writes.size > 0) this.#flushWrites(writes, nx, ttl, steps)
          const plan = this.#plan(req)
          if ('then' in plan) slow.push(plan.then((r) => { out[i] = r }))
          else if ('cmd' in plan) steps.push({ cmd: plan.cmd, at: [i], decode: (r, o) => { o[i] = plan.decode(r) } })
          else out[i] = plan
        }
      } catch (err) {
        out[i] = errorResponse(err)
      }
    }
    if (reads.size > 0) this.#flushReads(reads, steps)
    if (writes.size > 0) this.#flushWrites(writes, nx, ttl, steps)
    if (steps.length > 0) {
      slow.push(this.#exec(steps.map((s) => s.cmd)).then((replies) => {
        for (let j = 0; j < steps.length; j++) {
          const step = steps[j] as Step
          const [err, reply] = replies[j] as Reply
          if (err === null) step.decode(reply, out)
          else {
            const failed = this.#failure(err)
            for (const at of step.at) out[at] = failed
          }
        }
      }))
    }
    // All at once, so a failure of one part never leaves another's rejection unhandled.
    if (slow.length > 0) await Promise.all(slow)
    return out
  }

  #flushReads(reads: Map<BucketKeys, ReadGroup>, steps: Step[]): void {
    for (const [k, g] of reads) steps.push(readStep(g, k.slot))
    reads.clear()
  }

  #flushWrites(writes: Map<BucketKeys, WriteGroup>, nx: boolean, ttl: number, steps: Step[]): void {
    for (const g of writes.values()) steps.push(writeStep(g, nx, ttl))
    writes.clear()
  }

  /**
   * The single-key operations other than read and write, one command each
   * (pipelined with the rest of the batch); the rare index-wide ones run as
   * their own small sequences; a few are answered right here.
   */
  #plan(req: Request): { cmd: Cmd; decode: (reply: unknown) => Response } | Promise<Response> | Response {
    switch (req.op) {
      case 'has': {
        checkKeyed(req)
        const k = this.#layout.bucket(req.index, req.hash)
        return {
          cmd: { name: 'pyHas', args: [k.marker, k.dataPrefix + storedKey(req.key)], slot: k.slot },
          decode: (r) => (r === -1 ? indexNotFound(req.index) : r === 1 ? TRUE : FALSE),
        }
      }
      case 'pop': {
        checkKeyed(req)
        const k = this.#layout.bucket(req.index, req.hash)
        const key = storedKey(req.key)
        return {
          cmd: { name: 'pyPop', args: [k.marker, k.members, k.dataPrefix + key, key], slot: k.slot },
          decode: (r) => (r === -1 ? indexNotFound(req.index) : r === 0 ? ABSENT : decodeDoc(r)),
        }
      }
      case 'remove': {
        checkKeyed(req)
        const k = this.#layout.bucket(req.index, req.hash)
        const key = storedKey(req.key)
        return {
          cmd: { name: 'pyRemove', args: [k.marker, k.members, k.dataPrefix + key, key], slot: k.slot },
          decode: (r) => (r === -1 ? indexNotFound(req.index) : (r as number) > 0 ? TRUE : FALSE),
        }
      }
      case 'createIndex': return this.#createIndex(req.index)
      case 'dropIndex': return this.#dropIndex(req.index)
      case 'indexes': return this.#indexes()
      case 'scan': return this.#scan(req.index, req.cursor, req.count, req.values)
      case 'scanClose': return this.#cursors.delete(req.cursor) ? TRUE : FALSE
      case 'stat': return this.#stat()
      case 'run': return badRequest('processors are not supported on redis shards (code never travels to Redis); use entries() instead')
      case 'configure': return badRequest('configure is not supported on redis shards: their name, range and size come from the config the store was opened with')
      default:
        return badRequest(`unknown operation ${JSON.stringify((req as { op?: unknown }).op)}`)
    }
  }

  /** A failed command: OOM is SHARD_FULL, other Redis errors BAD_REQUEST; a lost connection fails the whole batch. */
  #failure(err: Error): Response {
    if (err.message.startsWith('OOM')) {
      return {
        ok: false, code: 'SHARD_FULL',
        message: `redis shard "${this.#spec.name}" is full: Redis answered "${err.message}" (raise the server's maxmemory, or use an LRU maxmemory-policy with "onFull": "evict")`,
      }
    }
    if (isRedisReplyError(err)) return badRequest(`redis shard "${this.#spec.name}": ${err.message}`)
    throw new ShardUnavailableError(`redis shard "${this.#spec.name}": ${err.message}`, { cause: err })
  }

  /** Sends commands as one pipeline (on a Cluster, one pipeline per master); replies in order. */
  async #exec(cmds: Cmd[]): Promise<Reply[]> {
    // A batch of one group (the common case: a readMany, or a tick of reads) skips the pipeline object.
    if (cmds.length === 1) return [await this.#single(cmds[0] as Cmd)]
    if (!this.#cluster) return this.#pipeline(cmds)
    const slots = (this.#redis as Cluster).slots
    const groups = new Map<string, number[]>()
    for (let i = 0; i < cmds.length; i++) {
      const node = slots[(cmds[i] as Cmd).slot]?.[0] ?? ''
      let g = groups.get(node)
      if (g === undefined) groups.set(node, (g = []))
      g.push(i)
    }
    if (groups.size === 1) return this.#pipeline(cmds)
    const out = new Array<Reply>(cmds.length)
    await Promise.all([...groups.values()].map(async (idx) => {
      const replies = await this.#pipeline(idx.map((i) => cmds[i] as Cmd))
      idx.forEach((i, j) => { out[i] = replies[j] as Reply })
    }))
    return out
  }

  #single(c: Cmd): Promise<Reply> {
    const method = (this.#redis as unknown as Record<string, unknown>)[c.name]
    if (typeof method !== 'function') return Promise.reject(new BadRequestError(`redis client has no command ${c.name}`))
    return (method.apply(this.#redis, c.args) as Promise<unknown>).then((r): Reply => [null, r], (err: Error): Reply => [err, null])
  }

  async #pipeline(cmds: Cmd[]): Promise<Reply[]> {
    const p = this.#redis.pipeline() as unknown as Pipe
    for (const c of cmds) {
      const method = p[c.name]
      if (typeof method !== 'function') throw new BadRequestError(`redis client has no command ${c.name}`)
      method.apply(p, c.args)
    }
    const replies = await p.exec()
    if (replies === null || replies.length !== cmds.length) {
      throw new ShardUnavailableError(`redis shard "${this.#spec.name}": the pipeline was aborted`)
    }
    return replies
  }

  /** One command (through #exec, so errors are classified the same way). */
  async #one(cmd: Cmd): Promise<unknown> {
    const [reply] = await this.#exec([cmd])
    const [err, value] = reply as Reply
    if (err !== null) {
      const r = this.#failure(err) as ErrorResponse
      throw errorFromCode(r.code, r.message)
    }
    return value
  }

  async #guard(fn: () => Promise<Response>): Promise<Response> {
    try {
      return await fn()
    } catch (err) {
      // A lost connection fails the whole batch (send rejects); anything else is this request's answer.
      if (err instanceof ShardUnavailableError) throw err
      return errorResponse(err)
    }
  }

  #script(name: ScriptName, k: BucketKeys, args: (string | number)[]): Cmd {
    return { name, args, slot: k.slot }
  }

  /** The registry SET decides INDEX_EXISTS (SADD is atomic); the per-bucket markers are what scripts check. */
  #createIndex(index: string): Promise<Response> {
    return this.#guard(async () => {
      if (typeof index !== 'string' || index === '') return badRequest('index name must be a non-empty string')
      const buckets = this.#layout.index(index)
      const replies = await this.#exec([
        { name: 'sadd', args: [this.#layout.registry, storedKey(index)], slot: this.#registrySlot },
        ...buckets.map((k): Cmd => ({ name: 'set', args: [k.marker, '1'], slot: k.slot })),
      ])
      for (const [err] of replies) if (err !== null) return this.#failure(err)
      return (replies[0] as Reply)[1] === 1 ? TRUE : { ok: false, code: 'INDEX_EXISTS', message: `index "${index}" already exists` }
    })
  }

  /** Unregisters, removes the markers (writes fail from here on), then deletes the keys a chunk at a time. */
  #dropIndex(index: string): Promise<Response> {
    return this.#guard(async () => {
      if (typeof index !== 'string' || index === '') return badRequest('index must be a non-empty string')
      const buckets = this.#layout.index(index)
      const replies = await this.#exec([
        { name: 'srem', args: [this.#layout.registry, storedKey(index)], slot: this.#registrySlot },
        ...buckets.map((k): Cmd => ({ name: 'del', args: [k.marker], slot: k.slot })),
      ])
      for (const [err] of replies) if (err !== null) return this.#failure(err)
      if ((replies[0] as Reply)[1] !== 1) return indexNotFound(index)
      await Promise.all(buckets.map(async (k) => {
        while ((await this.#one(this.#script('pyDrop', k, [k.members, k.expiries, k.dataPrefix]))) === DROP_CHUNK) { /* next chunk */ }
      }))
      return TRUE
    })
  }

  #indexes(): Promise<Response> {
    return this.#guard(async () => ok(await this.#indexNames()))
  }

  /** The registry's members, as the index names they stand for (stored like keys, see `storedKey`). */
  async #indexNames(): Promise<string[]> {
    const names = (await this.#one({ name: 'smembers', args: [this.#layout.registry], slot: this.#registrySlot })) as string[]
    return names.map(originalKey)
  }

  /** One page: buckets in order, each in hash order, until `count` keys or the end. */
  #scan(index: string, cursor: number, count: number, values: boolean): Promise<Response> {
    return this.#guard(async () => {
      if (!Number.isSafeInteger(count) || count < 1 || count > 10_000) {
        return badRequest(`scan count must be an integer from 1 to 10000, got ${String(count)}`)
      }
      const now = Date.now()
      let state: Cursor
      if (cursor === 0) {
        if (typeof index !== 'string' || index === '') return badRequest('index must be a non-empty string')
        state = { index, bucket: 0, score: '-inf', skip: 0, used: now }
        cursor = this.#nextCursor++
        this.#dropIdleCursors(now)
        if (this.#cursors.size >= this.#limits.maxCursors) this.#cursors.delete(this.#cursors.keys().next().value as number)
      } else {
        const found = this.#cursors.get(cursor)
        if (found === undefined) {
          return badRequest(`scan cursor ${cursor} is unknown or expired (cursors idle over ${this.#limits.cursorIdleMs} ms are dropped)`)
        }
        state = found
        this.#cursors.delete(cursor) // re-inserted below: the map stays in least-recently-used order
      }
      const first = state.bucket === 0 && state.score === '-inf'
      const buckets = this.#layout.index(state.index)
      const keys: string[] = []
      const records: Json[] = []
      while (keys.length < count && state.bucket < buckets.length) {
        const k = buckets[state.bucket] as BucketKeys
        const want = Math.min(count - keys.length, SCAN_CHUNK)
        const r = await this.#one(this.#script('pyScan', k, [k.marker, k.members, k.dataPrefix, state.score, state.skip, want, values ? '1' : '0']))
        if (r === -1) {
          // Dropped under a running scan: it ends, as on Shard; a missing index on the first page is INDEX_NOT_FOUND.
          if (first && keys.length === 0) return indexNotFound(state.index)
          state.bucket = buckets.length
          break
        }
        const page = r as (string | number)[]
        const step = values ? 2 : 1
        for (let i = 3; i < page.length; i += step) {
          keys.push(originalKey(String(page[i])))
          if (values) records.push(JSON.parse(page[i + 1] as string) as Json)
        }
        if (Number(page[0]) === 1) {
          state.bucket++
          state.score = '-inf'
          state.skip = 0
        } else {
          state.score = String(page[1])
          state.skip = Number(page[2])
        }
      }
      if (state.bucket >= buckets.length) return ok(values ? { cursor: 0, keys, records } : { cursor: 0, keys })
      state.used = now
      this.#cursors.set(cursor, state)
      return ok(values ? { cursor, keys, records } : { cursor, keys })
    })
  }

  #dropIdleCursors(now: number): void {
    for (const [id, c] of this.#cursors) {
      if (now - c.used <= this.#limits.cursorIdleMs) break // oldest first: the rest are younger
      this.#cursors.delete(id)
    }
  }

  /**
   * Count and distribution from the members sets (ZCOUNT over hash ranges:
   * Redis' own figures, O(log n) each); bytes is the server's used_memory,
   * summed over masters on a Cluster.
   */
  #stat(): Promise<Response> {
    return this.#guard(async () => {
      const { name, start, end, size, onFull } = this.#spec
      const names = await this.#indexNames()
      const bounds: string[] = []
      // Scores are the 32-bit hashes (integers), so a range [a, b) of hashes is [ceil(a * 2^32), ceil(b * 2^32)).
      for (let i = 0; i <= HISTOGRAM_BUCKETS; i++) bounds.push(String(Math.ceil((start + (i * (end - start)) / HISTOGRAM_BUCKETS) * TWO_32)))
      const cmds: Cmd[] = []
      for (const index of names) {
        for (const k of this.#layout.index(index)) cmds.push(this.#script('pyHistogram', k, [k.members, ...bounds]))
      }
      const distribution = new Array<number>(HISTOGRAM_BUCKETS).fill(0)
      for (const [err, counts] of cmds.length > 0 ? await this.#exec(cmds) : []) {
        if (err !== null) return this.#failure(err)
        ;(counts as number[]).forEach((n, i) => { distribution[i] = (distribution[i] as number) + Number(n) })
      }
      const nodes = this.#cluster ? (this.#redis as Cluster).nodes('master') : [this.#redis as Redis]
      const infos = await Promise.all(nodes.map((n) => n.info('memory')))
      const bytes = infos.reduce((sum, text) => sum + Number(/used_memory:(\d+)/.exec(text)?.[1] ?? 0), 0)
      const stat: ShardStat = {
        name, start, end, count: distribution.reduce((a, b) => a + b, 0), bytes, maxSize: size, onFull,
        indexes: names.length, distribution,
      }
      return ok(stat)
    })
  }
}
