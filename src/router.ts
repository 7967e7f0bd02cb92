/**
 * The router: hash a key, find its shard in the map, send. Requests for one
 * shard issued in the same tick travel as one batch (auto-pipelining);
 * multi-key and index-wide operations split per shard and run in parallel,
 * answers merge in the caller's order; MOVED fetches a newer map and retries;
 * scans page shard by shard. The `Pyshard` facade checks arguments and calls it.
 */
import diagnostics from 'node:diagnostics_channel'
import { BadConfigError, BadRequestError, PyshardError, ShardUnavailableError, errorFromCode } from './errors.js'
import { ShardMap } from './shard-map.js'
import type { ClusterConfig, ShardSpec } from './shard-map.js'
import { checkMap, loadTransportOnce, transportNames } from './transport.js'
import type { ShardClient, TransportContext } from './transport.js'
import { errorResponse } from './protocol.js'
import type { ErrorResponse, Request, Response, ScanPage } from './protocol.js'
import { reshardData, rollBackReshard } from './reshard.js'
import type { ReshardProgress, ReshardResult } from './reshard.js'
import type { MapStore, ReshardRecord } from './persist/map-store.js'
import { shardDataDir } from './host.js'

/** Transports whose shards a store owns, and so can move itself (`reshard`). */
export const OWNED: ReadonlySet<string> = new Set(['memory', 'worker'])

/** Settings of the router (checked by the facade). */
export interface RouterOptions {
  maxBatch: number
  maxRetries: number
  mapSource: (() => Promise<ClusterConfig>) | undefined
  /** A store with a `dataDir` that owns its shards: where it records its map and the reshard in progress. */
  maps?: MapStore | undefined
}

interface Waiter {
  n: number
  done(responses: Response[], offset: number): void
  fail(err: Error): void
}

/** One shard as the router holds it: its spec, its client and the batch being gathered this tick. */
export interface ShardState {
  spec: ShardSpec
  /** The transport's name for where the shard lives; undefined for shards inside the store. */
  endpoint: string | undefined
  client: ShardClient
  queue: Request[]
  waiters: Waiter[]
  scheduled: boolean
}

/** A failed response as the error the caller gets. */
export function failure(r: ErrorResponse): PyshardError {
  return errorFromCode(r.code, r.message, r.epoch)
}

/** Diagnostics: one message per batch sent to a shard (`{ shard, size }`), one per MOVED retry round (`{ epoch, requests }`). */
const batchChannel = diagnostics.channel('pyshard:router:batch')
const movedChannel = diagnostics.channel('pyshard:router:moved')

function flushState(state: ShardState): void {
  const batch = state.queue
  const waiters = state.waiters
  state.queue = []
  state.waiters = []
  state.scheduled = false
  if (batch.length === 0) return
  if (batchChannel.hasSubscribers) batchChannel.publish({ shard: state.spec.name, size: batch.length })
  const settle = (responses: Response[]): void => {
    if (!Array.isArray(responses) || responses.length !== batch.length) {
      const err = new ShardUnavailableError(`shard "${state.spec.name}" answered ${responses?.length} responses to ${batch.length} requests`)
      for (const w of waiters) w.fail(err)
      return
    }
    let offset = 0
    for (const w of waiters) {
      w.done(responses, offset)
      offset += w.n
    }
  }
  const fail = (err: unknown): void => {
    const e = err instanceof PyshardError ? err : new ShardUnavailableError(`shard "${state.spec.name}": ${(err as Error)?.message ?? err}`, { cause: err })
    for (const w of waiters) w.fail(e)
  }
  try {
    const client = state.client
    if (client.submit !== undefined) client.submit(batch, settle, fail)
    else client.send(batch).then(settle, fail)
  } catch (err) {
    fail(err)
  }
}

/** Routes requests to shard clients. */
export class Router {
  #map: ShardMap
  #states: ShardState[]
  #ctx: TransportContext
  #maxBatch: number
  #maxRetries: number
  #mapSource: (() => Promise<ClusterConfig>) | undefined
  readonly #maps: MapStore | undefined
  #refreshing: Promise<void> | null = null
  #closed: Promise<void> | null = null
  /** The store's own reshard in progress (one at a time). */
  #resharding: Promise<ReshardResult> | null = null
  /** While a reshard cuts over: settles once the new map is in force (MOVED answers wait for it). */
  #cutover: Promise<void> | null = null

  constructor(map: ShardMap, states: ShardState[], ctx: TransportContext, options: RouterOptions) {
    this.#map = map
    this.#states = states
    this.#ctx = ctx
    this.#maxBatch = options.maxBatch
    this.#maxRetries = options.maxRetries
    this.#mapSource = options.mapSource
    this.#maps = options.maps
  }

  /**
   * Ends a reshard recorded before a crash, the store's shards being open on the map it left in
   * force: past the cut-over they took their new ranges as they loaded (the sources dropped what
   * they had handed over, the destinations kept their copies), and the sources' recorded moves
   * end here; before it the sources end the move and the copies go. The dirs of the shards that
   * are not in the map go, and the map is recorded.
   */
  async recover(rec: { old: ShardMap; next: ShardMap; cutOver: boolean }): Promise<void> {
    const call = async (name: string, req: Request): Promise<unknown> => {
      const st = this.#states.find((s) => s.spec.name === name)
      if (st === undefined) throw new ShardUnavailableError(`shard "${name}" is not in the map in force`)
      const r = await this.#direct(st, req)
      if (!r.ok) throw failure(r)
      return r.value
    }
    const { old, next } = rec
    if (rec.cutOver) await Promise.all(this.#states.map((st) => call(st.spec.name, { op: 'migrateEnd' })))
    else await rollBackReshard(old.shards, next.shards, { call })
    const kept = new Set(this.#map.shards.map((s) => s.name))
    await this.#removeDirs((rec.cutOver ? old : next).shards.map((s) => s.name).filter((name) => !kept.has(name)))
    await this.#maps?.setMap({ ...this.#map.config, epoch: this.#map.epoch })
    await this.#maps?.setReshard(undefined)
  }

  /** Deletes the data dirs of shards that are not the store's (any more). */
  async #removeDirs(names: string[]): Promise<void> {
    const root = this.#ctx.dataDir
    if (root === undefined || names.length === 0) return
    const { removeShardDirs } = await import('./persist/map-store.js')
    removeShardDirs(names.map((name) => shardDataDir(root, name)))
  }

  /** The shard map in use. */
  get map(): ShardMap { return this.#map }

  /** The specs of the shards, in shard order. */
  get specs(): ShardSpec[] { return this.#states.map((s) => s.spec) }

  /** Finishes what is in flight, then closes every shard client. Idempotent. */
  close(): Promise<void> {
    if (this.#closed === null) {
      const states = this.#states
      for (const s of states) flushState(s)
      this.#closed = Promise.allSettled(states.map((s) => s.client.close())).then(() => this.#maps?.close())
    }
    return this.#closed
  }


  #checkOpen(): void {
    if (this.#closed !== null) throw new ShardUnavailableError('the store is closed')
  }

  /** Queues requests for the shard's next batch, splitting them so no batch exceeds `maxBatch`. */
  #enqueue(state: ShardState, reqs: Request[]): Promise<Response[]> {
    const room = this.#maxBatch - state.queue.length
    if (reqs.length <= room) return this.#enqueueChunk(state, reqs)
    const parts = [this.#enqueueChunk(state, reqs.slice(0, room))]
    for (let i = room; i < reqs.length; i += this.#maxBatch) parts.push(this.#enqueueChunk(state, reqs.slice(i, i + this.#maxBatch)))
    return Promise.all(parts).then((chunks) => chunks.flat())
  }

  #enqueueChunk(state: ShardState, reqs: Request[]): Promise<Response[]> {
    return new Promise((resolve, reject) => {
      const n = reqs.length
      for (let i = 0; i < n; i++) state.queue.push(reqs[i] as Request)
      state.waiters.push({ n, done: (r, off) => resolve(off === 0 && r.length === n ? r : r.slice(off, off + n)), fail: reject })
      this.#schedule(state)
    })
  }

  #enqueueOne(state: ShardState, req: Request): Promise<Response> {
    return new Promise((resolve, reject) => {
      state.queue.push(req)
      state.waiters.push({ n: 1, done: (r, off) => resolve(r[off] as Response), fail: reject })
      this.#schedule(state)
    })
  }

  #schedule(state: ShardState): void {
    if (state.queue.length >= this.#maxBatch) flushState(state)
    else if (!state.scheduled) {
      state.scheduled = true
      process.nextTick(flushState, state)
    }
  }

  /**
   * Sends one keyed request and maps its value. In-process shards answer
   * synchronously: one resolved promise, no batching, no extra tick.
   */
  call<T>(req: Request, hash: number, finish: (value: unknown, hash: number) => T): Promise<T> {
    this.#checkOpen()
    const state = this.#states[this.#map.lookup(hash)] as ShardState
    const client = state.client
    if (client.perform !== undefined) {
      let value: unknown
      try {
        value = client.perform(req)
      } catch (err) {
        return this.#retry(req, errorResponse(err)).then((v) => finish(v, hash))
      }
      return Promise.resolve(finish(value, hash))
    }
    if (client.execute !== undefined) {
      const r = client.execute(req)
      return r.ok ? Promise.resolve(finish(r.value, hash)) : this.#retry(req, r).then((v) => finish(v, hash))
    }
    // One promise per request: the waiter settles it with the finished value.
    return new Promise<T>((resolve, reject) => {
      state.queue.push(req)
      state.waiters.push({
        n: 1,
        done: (responses, offset) => {
          const r = responses[offset] as Response
          if (r.ok) resolve(finish(r.value, hash))
          else this.#retry(req, r).then((v) => resolve(finish(v, hash)), reject)
        },
        fail: reject,
      })
      this.#schedule(state)
    })
  }

  /** Follows MOVED (with a newer map) for one request, or throws its error. */
  async #retry(req: Request, r: ErrorResponse): Promise<unknown> {
    const [out] = await this.#resolveMoved([req], [r], 0)
    const last = out as Response
    if (!last.ok) throw failure(last)
    return last.value
  }

  /** Sends keyed requests grouped per shard, shards in parallel; responses in request order. */
  async many(reqs: Request[], attempt = 0, since = 0): Promise<Response[]> {
    this.#checkOpen()
    const out = new Array<Response>(reqs.length)
    const groups = new Map<ShardState, number[]>()
    for (let i = 0; i < reqs.length; i++) {
      const state = this.#states[this.#map.lookup((reqs[i] as { hash: number }).hash)] as ShardState
      if (state.client.execute !== undefined) {
        out[i] = state.client.execute(reqs[i] as Request)
        continue
      }
      let group = groups.get(state)
      if (group === undefined) groups.set(state, (group = []))
      group.push(i)
    }
    await Promise.all(
      [...groups].map(async ([state, idx]) => {
        const responses = await this.#enqueue(state, idx.map((i) => reqs[i] as Request))
        for (let j = 0; j < idx.length; j++) out[idx[j] as number] = responses[j] as Response
      }),
    )
    return this.#resolveMoved(reqs, out, attempt, since)
  }

  /**
   * Resends the requests that got MOVED after fetching a newer map (up to `maxRetries` times), and
   * those that got TRY_AGAIN (a range being handed over) after a short pause. While a shard says
   * MOVED from a newer epoch than the map source serves yet (a cut-over in progress), it waits too.
   * Waiting stops at `requestTimeout` after the first try; the last answer is the caller's.
   */
  async #resolveMoved(reqs: Request[], out: Response[], attempt: number, since = 0): Promise<Response[]> {
    const again: number[] = []
    let moved = 0
    let newest = 0
    let wait = false
    for (let i = 0; i < out.length; i++) {
      const r = out[i] as Response
      if (r.ok) continue
      if (r.code === 'MOVED' && (this.#mapSource !== undefined || this.#cutover !== null || (r.epoch ?? Infinity) <= this.#map.epoch)) {
        again.push(i)
        moved++
        newest = Math.max(newest, r.epoch ?? 0)
      } else if (r.code === 'TRY_AGAIN') {
        again.push(i)
        wait = true
      }
    }
    if (again.length === 0) return out
    const start = since === 0 ? Date.now() : since
    if (Date.now() - start >= this.#ctx.requestTimeout) return out
    if (moved > 0) {
      if (movedChannel.hasSubscribers) movedChannel.publish({ epoch: this.#map.epoch, requests: moved })
      // The store's own reshard publishes its map at the end of the cut-over; other maps come from the source.
      if (this.#mapSource !== undefined) await this.#refresh()
      else if (this.#cutover !== null) {
        const left = this.#ctx.requestTimeout - (Date.now() - start)
        let timer: NodeJS.Timeout | undefined
        await Promise.race([this.#cutover, new Promise((resolve) => { timer = setTimeout(resolve, Math.max(0, left)) })])
        clearTimeout(timer)
      }
      // The shard already holds a newer map than the one served: the cut-over is not published yet.
      if (newest > this.#map.epoch) wait = true
      else if (!wait && attempt >= this.#maxRetries) return out
    }
    // Only a MOVED resent at once counts against maxRetries; waiting is bounded by requestTimeout.
    if (wait) await new Promise((resolve) => setTimeout(resolve, Math.min(50, 1 + (Date.now() - start) / 10)))
    const next = await this.many(again.map((i) => reqs[i] as Request), wait ? attempt : attempt + 1, start)
    again.forEach((i, j) => (out[i] = next[j] as Response))
    return out
  }

  /** Fetches the map again (one fetch at a time) and reconnects the shards that changed. */
  #refresh(): Promise<void> {
    if (this.#refreshing === null) {
      this.#refreshing = (async () => {
        try {
          const source = this.#mapSource as () => Promise<ClusterConfig>
          const next = await checkMap(ShardMap.parse(await source(), transportNames()))
          if (next.epoch <= this.#map.epoch) return
          const previous = this.#map.epoch
          const old = this.#states
          const states = await connectStates(next.shards, this.#ctx, old)
          if (this.#closed !== null) {
            // Closed while connecting: the new clients are nobody's; close them, keep nothing.
            await Promise.allSettled(states.filter((st) => !old.includes(st)).map((st) => st.client.close()))
            return
          }
          this.#map = next
          this.#states = states
          for (const s of old) {
            if (!states.includes(s)) {
              flushState(s)
              s.client.close().catch(() => {})
            }
          }
          this.#ctx.emit('mapChanged', { epoch: next.epoch, previous })
        } finally {
          this.#refreshing = null
        }
      })()
    }
    return this.#refreshing
  }

  /**
   * Moves the store's own shards (memory, worker) to `next`'s map while it serves: the steps of
   * src/reshard.ts, with this router publishing the map. Shards are matched by name; those only
   * in `next` are started empty, those only in the current map are closed once it is done.
   */
  reshard(next: ShardMap, report?: (progress: ReshardProgress) => void): Promise<ReshardResult> {
    this.#checkOpen()
    if (this.#mapSource !== undefined) {
      return Promise.reject(new BadRequestError('this store follows a bootstrap server\'s map: reshard the cluster with `pyshard reshard --config NEW.json` (BootstrapServer.reshard)'))
    }
    if (this.#resharding !== null) return Promise.reject(new BadRequestError('a reshard is already in progress'))
    const p = this.#reshard(next, report).finally(() => { this.#resharding = null })
    this.#resharding = p
    return p
  }

  async #reshard(next: ShardMap, report: ((progress: ReshardProgress) => void) | undefined): Promise<ReshardResult> {
    const old = this.#map
    const byName = new Map(this.#states.map((s) => [s.spec.name, s]))
    for (const spec of [...old.shards, ...next.shards]) {
      if (!OWNED.has(spec.transport)) {
        throw new BadConfigError(`shard "${spec.name}": a store moves only the shards it owns (memory, worker), not transport "${spec.transport}"; a cluster of shard servers is resharded by its bootstrap server (\`pyshard reshard\`)`)
      }
      const held = byName.get(spec.name)
      if (held !== undefined && held.spec.transport !== spec.transport) {
        throw new BadConfigError(`shard "${spec.name}" is a ${held.spec.transport} shard and cannot become a ${spec.transport} shard by a reshard`)
      }
    }
    const epoch = Math.max(next.epoch, old.epoch + 1)
    const indexes = new Set<string>()
    for (const r of await this.all({ op: 'indexes' })) {
      if (!r.ok) throw failure(r)
      for (const name of r.value as string[]) indexes.add(name)
    }
    // A failure past an earlier cut-over left its move recorded: the next open finishes it.
    if (this.#maps?.reshard?.cutOver === true) {
      throw new BadRequestError(`the reshard to epoch ${this.#maps.reshard.next.epoch ?? '?'} failed after its cut-over and is not finished: close the store and open it again on its dataDir, which finishes it`)
    }
    // With a data dir the move is recorded before anything changes (a new shard's dir included): a
    // crash rolls it back, or past the cut-over finishes it, at the next open.
    const record: ReshardRecord = { old: { ...old.config, epoch: old.epoch }, next: { ...next.config, epoch }, cutOver: false }
    await this.#maps?.setReshard(record)
    // A new shard starts empty whatever a dir of its name holds (a shard of that name retired by an
    // earlier reshard): it takes its range, and the copy clears that range before it fills it.
    this.#ctx.adopt = true
    let fresh: ShardState[]
    try {
      fresh = await connectStates(next.shards.filter((s) => !byName.has(s.name)), this.#ctx, [])
    } catch (err) {
      await this.#maps?.setReshard(undefined).catch(() => {})
      throw err
    } finally {
      this.#ctx.adopt = undefined
    }
    for (const st of fresh) byName.set(st.spec.name, st)
    const state = (name: string): ShardState => byName.get(name) as ShardState
    let publish!: () => void
    let cutOver = false
    /** Puts the new map in force: the router's map and shards, then the requests waiting on MOVED. */
    const inForce = async (): Promise<void> => {
      if (this.#map.epoch === epoch) return
      const map = await checkMap(ShardMap.parse({ ...next.config, epoch }, transportNames()))
      this.#states = map.shards.map((spec) => {
        const st = state(spec.name)
        st.spec = spec
        return st
      })
      this.#map = map
      publish()
      this.#ctx.emit('mapChanged', { epoch, previous: old.epoch })
    }
    this.#cutover = new Promise((resolve) => { publish = resolve })
    try {
      const result = await reshardData(old.shards, old.epoch, next.shards, epoch, {
        call: async (name, req) => {
          const r = await this.#direct(state(name), req)
          if (!r.ok) throw failure(r)
          return r.value
        },
        indexes: [...indexes],
        report,
        opens: (name) => state(name).client.opens?.(),
        checkpoint: async () => {
          await this.#maps?.setReshard({ ...record, cutOver: true })
          cutOver = true
        },
        // The shards answer in this process: copy in pages of 500 and let waiting requests run between them.
        pageSize: 500,
        pageDelay: 0,
        publish: inForce,
      })
      const kept = new Set(next.shards.map((s) => s.name))
      await Promise.allSettled([...byName.values()].filter((st) => !kept.has(st.spec.name)).map((st) => {
        flushState(st)
        return st.client.close()
      }))
      // The retired shards' dirs stay (they own nothing now; a worker may still hold one open
      // beside shards that stay), and a later reshard that brings a shard of that name back starts it empty.
      await this.#maps?.setMap({ ...next.config, epoch })
      await this.#maps?.setReshard(undefined)
      return result
    } catch (err) {
      // Rolled back: the new shards go. After the cut-over the new map stands (the shards were
      // assigned to it, the new ones may hold the only copy): it is put in force, and the error says what failed.
      if (!cutOver) {
        await Promise.allSettled(fresh.map((st) => st.client.close()))
        // The new shards held nothing but copies; the old map stays recorded.
        await this.#removeDirs(fresh.map((st) => st.spec.name)).catch(() => {})
        await this.#maps?.setReshard(undefined).catch(() => {})
      } else await inForce().catch(() => {})
      throw err
    } finally {
      publish()
      this.#cutover = null
    }
  }

  /** Sends one request to every shard, in parallel; responses in shard order. */
  async all(req: Request): Promise<Response[]> {
    this.#checkOpen()
    return Promise.all(this.#states.map((s) => this.#direct(s, req)))
  }

  /** `all`, but a shard that fails to answer is a rejected result instead of failing the call. */
  allSettled(req: Request): Promise<PromiseSettledResult<Response>[]> {
    this.#checkOpen()
    return Promise.allSettled(this.#states.map((s) => this.#direct(s, req)))
  }

  #direct(state: ShardState, req: Request): Promise<Response> {
    const client = state.client
    if (client.execute !== undefined) {
      try {
        return Promise.resolve(client.execute(req))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return this.#enqueueOne(state, req)
  }

  async #page(state: ShardState, req: Request): Promise<ScanPage> {
    const r = await this.#direct(state, req)
    if (!r.ok) throw failure(r)
    return r.value as ScanPage
  }

  /** Pages of an index, shard by shard, fetching the next page while the caller reads the current one. */
  async *scan(index: string, values: boolean, count: number): AsyncGenerator<ScanPage> {
    this.#checkOpen()
    for (const state of this.#states) {
      let cursor = 0
      let next: Promise<ScanPage> | null = this.#page(state, { op: 'scan', index, cursor: 0, count, values })
      try {
        while (next !== null) {
          const page: ScanPage = await next
          cursor = page.cursor
          next = cursor === 0 ? null : this.#page(state, { op: 'scan', index, cursor, count, values })
          // Keep the prefetch from surfacing as an unhandled rejection if the caller stops here.
          next?.catch(() => {})
          yield page
        }
      } finally {
        if (next !== null) {
          next.then((p) => {
            if (p.cursor !== 0) this.#direct(state, { op: 'scanClose', cursor: p.cursor }).catch(() => {})
          }, () => {})
        } else if (cursor !== 0) {
          this.#direct(state, { op: 'scanClose', cursor }).catch(() => {})
        }
      }
    }
  }
}

/** Opens a client per shard, reusing the client of any shard in `reuse` with the same endpoint. */
export async function connectStates(specs: readonly ShardSpec[], ctx: TransportContext, reuse: ShardState[]): Promise<ShardState[]> {
  const states = new Array<ShardState>(specs.length)
  const endpoints: (string | undefined)[] = []
  for (const spec of specs) {
    const t = await loadTransportOnce(spec.transport)
    endpoints.push(t.endpoint?.(spec))
  }
  const byTransport = new Map<string, number[]>()
  specs.forEach((spec, i) => {
    const same = reuse.find((s) => s.endpoint !== undefined && s.spec.name === spec.name && s.spec.transport === spec.transport && s.endpoint === endpoints[i])
    if (same !== undefined) {
      same.spec = spec
      states[i] = same
      return
    }
    let list = byTransport.get(spec.transport)
    if (list === undefined) byTransport.set(spec.transport, (list = []))
    list.push(i)
  })
  const opened: ShardClient[] = []
  try {
    for (const [name, idx] of byTransport) {
      const transport = await loadTransportOnce(name)
      const clients = await transport.connect(idx.map((i) => specs[i] as ShardSpec), ctx)
      opened.push(...clients)
      idx.forEach((i, j) => {
        states[i] = { spec: specs[i] as ShardSpec, endpoint: endpoints[i], client: clients[j] as ShardClient, queue: [], waiters: [], scheduled: false }
      })
    }
  } catch (err) {
    await Promise.allSettled(opened.map((c) => c.close()))
    throw err
  }
  return states
}
