/**
 * The bootstrap server and its client. The server loads and validates a
 * cluster config, assigns every TCP shard server its name, range, size and
 * policy (again whenever that server comes back), watches their health, and
 * hands the map to clients. Clients then talk to the shard servers directly:
 * the bootstrap server is not on the data path.
 */
import { EventEmitter } from 'node:events'
import type tls from 'node:tls'
import { FrameHost, resolveHostOptions } from './host.js'
import type { HostOptions } from './host.js'
import { TcpShardClient } from './client.js'
import { ShardMap } from '../../src/shard-map.js'
import { positiveInt } from '../../src/options.js'
import { finishReshard, reshardData, rollBackReshard } from '../../src/reshard.js'
import type { ReshardDriver, ReshardProgress, ReshardResult } from '../../src/reshard.js'
import type { MapStore } from '../../src/persist/map-store.js'
import type { ClusterConfig, ShardSpec } from '../../src/shard-map.js'
import { checkMap, transportNames } from '../../src/transport.js'
import type { TransportContext } from '../../src/transport.js'
import { AuthFailedError, BadConfigError, BadRequestError, PyshardError, ShardUnavailableError, errorFromCode } from '../../src/errors.js'
import { errorResponse } from '../../src/protocol.js'
import type { Request, Response } from '../../src/protocol.js'
import type { ShardSettings, ShardStat } from '../../src/shard.js'

/** Options of `BootstrapServer`. */
export interface BootstrapServerOptions extends HostOptions {
  /** The cluster config: a path to its JSON file, or the parsed object. Validated by `listen()` (BAD_CONFIG). */
  config: string | ClusterConfig
  /** Token required from this server's own clients, and the data token of the cluster. @default the config's `token` */
  token?: string
  /**
   * Token presented to the shard servers to assign them and move data (their `adminToken`), and
   * required for `reshard` over the wire. Never served. @default the config's `adminToken`, else `token`
   */
  adminToken?: string
  /** Connect to the shard servers with TLS (`true` or `node:tls` connect options). @default false */
  shardTls?: boolean | tls.ConnectionOptions
  /** How long connecting to a shard server may take (ms). @default 3000 */
  connectTimeout?: number
  /** How long a request to a shard server may take (ms). @default 5000 */
  requestTimeout?: number
  /** How often each shard server's health (and the cluster's index list) is checked (ms). @default 2000 */
  healthInterval?: number
  /**
   * Directory where this server keeps the cluster's metadata (an lmdb database; created if
   * missing): the map in force, the index list, and the reshard in progress. With it, a restart
   * serves the map a reshard put in force (even when `config` still holds the older one), keeps
   * the index list, and settles a reshard it was running when it stopped: one that had not
   * reached its cut-over is rolled back (the old map is served), one that had is finished (the
   * new map is served); the `recovered` event says which. Without it a reshard interrupted by a
   * crash of this server is rolled back by the shard servers themselves (their lease) before the
   * cut-over, and must be finished by hand after it. @default none (nothing kept)
   */
  dataDir?: string
  /** Entries per page a reshard copies (smaller pages stall each server less, at some cost in entries moved per second). @default 100 */
  reshardPageSize?: number
  /** Pause between two copied pages of a source during a reshard (ms; 0: none). @default 5 */
  reshardPageDelay?: number
}

/** Health of one shard server, as the bootstrap server sees it. */
export interface ShardHealth {
  name: string
  transport: string
  host?: string
  port?: number
  start: number
  end: number
  /** The connection to it is up. */
  up: boolean
  /** It accepted its assignment since it last came up. */
  configured: boolean
  /** Why it is down or refused its assignment. */
  error?: string
  /** Figures from its last health check (`count`: entries in its range; `handover`: entries kept for a move). */
  count?: number
  handover?: number
  bytes?: number
  maxSize?: number
  /** When it last answered a health check (ms since the epoch). */
  checkedAt?: number
}

/** Events of `BootstrapServer`. */
export interface BootstrapServerEvents {
  /** A shard server accepted its name, range, size and policy. */
  configured: [event: { shard: string; epoch: number }]
  /** A shard server became unreachable (or refused its assignment). */
  shardDown: [event: { shard: string; error: Error }]
  /** A shard server answers again. */
  shardUp: [event: { shard: string }]
  /** Progress of `reshard`: a phase began, or entries were moved. */
  reshard: [event: ReshardProgress]
  /**
   * `listen()` serves a map from `dataDir` rather than the config's: a reshard had put a newer
   * one in force (`reshard: null`), or a reshard was interrupted and has now been rolled back
   * (the old map is served) or finished (the new one is).
   */
  recovered: [event: { epoch: number; reshard: 'rolled-back' | 'finished' | null }]
}

export type { ReshardMove, ReshardProgress, ReshardResult } from '../../src/reshard.js'

/** The config as served to clients: everything but tokens. */
function publicConfig(map: ShardMap): ClusterConfig {
  const { token: _t, adminToken: _a, ...top } = map.config
  return { ...top, shards: map.shards.map(({ token: _s, ...shard }) => shard) }
}

interface Member {
  spec: ShardSpec
  client: TcpShardClient | null
  health: ShardHealth
  /** The assignment in flight, null when none is. */
  configuring: Promise<void> | null
}


async function call(client: TcpShardClient, req: Request): Promise<unknown> {
  const [r] = await client.send([req])
  if (r === undefined) throw new ShardUnavailableError(`shard "${client.spec.name}" sent no answer`)
  if (!r.ok) throw errorFromCode(r.code, r.message, r.epoch)
  return r.value
}

function sameRange(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start === b.start && a.end === b.end
}

/**
 * How a reshard copies: pages of 100 entries with 5 ms between them. Measured with the servers in
 * child processes (bench/results/reshard.md): client p99 during a move rose far less than with
 * pages of 2000 back to back (or 250), for fewer entries moved per second.
 */
const PAGE_SIZE = 100
const PAGE_DELAY = 5

/** Loads a cluster config, assigns its shard servers, and serves the map. */
export class BootstrapServer extends EventEmitter<BootstrapServerEvents> {
  readonly #options: BootstrapServerOptions
  readonly #connectTimeout: number
  readonly #requestTimeout: number
  readonly #healthInterval: number
  readonly #pageSize: number
  readonly #pageDelay: number
  #map: ShardMap | null = null
  #served: ClusterConfig | null = null
  #host: FrameHost | null = null
  #ctx: TransportContext | null = null
  #members: Member[] = []
  #timer: NodeJS.Timeout | null = null
  #closed = false
  /** Assignments wait until `listen()` has checked what the shard servers hold. */
  #ready = false
  /** The reshard in progress, if any (one at a time; no assignment runs meanwhile). */
  #resharding: Promise<ReshardResult> | null = null
  /** The cluster's indexes: created on every shard server before it is assigned. */
  #indexes = new Set<string>()
  /** Indexes some shard servers lacked at the last check (by index: who lacked it). */
  #partial = new Map<string, string>()
  /** The data dir, when `dataDir` is set (open from `listen()` to `close()`). */
  #store: MapStore | null = null
  /** The index list as last recorded in the data dir. */
  #savedIndexes = ''

  constructor(options: BootstrapServerOptions) {
    super()
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
    if (typeof options.config !== 'string' && (options.config === null || typeof options.config !== 'object')) {
      throw new TypeError('options.config must be a path to a config file or a config object')
    }
    // Type checks now; the loopback rule waits for the config's token in listen().
    resolveHostOptions({ ...options, insecure: true })
    this.#connectTimeout = positiveInt('connectTimeout', options.connectTimeout, 3000)
    this.#requestTimeout = positiveInt('requestTimeout', options.requestTimeout, 5000)
    this.#healthInterval = positiveInt('healthInterval', options.healthInterval, 2000)
    this.#pageSize = positiveInt('reshardPageSize', options.reshardPageSize, PAGE_SIZE)
    const delay = options.reshardPageDelay ?? PAGE_DELAY
    if (!(Number.isSafeInteger(delay) && delay >= 0)) throw new TypeError(`options.reshardPageDelay must be a non-negative integer (ms), got ${String(delay)}`)
    this.#pageDelay = delay
    if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir === '')) {
      throw new TypeError('options.dataDir must be a non-empty string (a directory path)')
    }
    this.#options = options
  }

  /** The validated map (after `listen()`; the new one after `reshard`). */
  get map(): ShardMap {
    if (this.#map === null) throw new Error('BootstrapServer: the map is loaded by listen()')
    return this.#map
  }

  /** The bound address, or null before `listen()` / after close. */
  get address(): { host: string; port: number } | null { return this.#host?.address ?? null }

  /** The cluster's index list, as this server keeps it. */
  get indexes(): string[] { return [...this.#indexes].sort() }

  /**
   * Loads and validates the config (rejects BAD_CONFIG), binds, then connects to every
   * TCP shard server and assigns it its settings. A shard server that cannot be reached
   * yet is reported (`shardDown`, `stat()`) and assigned as soon as it comes up. Rejects
   * BAD_CONFIG, naming `pyshard reshard`, when a shard server holds entries under a
   * different range than the config gives it: starting would strand them.
   */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.#host !== null) throw new Error('BootstrapServer: already listening')
    let map = await loadMap(this.#options.config)
    let recovered: { epoch: number; reshard: 'rolled-back' | 'finished' | null } | null = null
    let pending: { old: ShardMap; next: ShardMap; cutOver: boolean } | null = null
    if (this.#options.dataDir !== undefined) {
      const { MapStore } = await import('../../src/persist/map-store.js')
      const store = await MapStore.open(this.#options.dataDir, 'bootstrap')
      this.#store = store
      try {
        const stored = store.map
        if (stored !== undefined && (stored.epoch ?? 1) > map.epoch) {
          map = await loadMap(stored)
          recovered = { epoch: map.epoch, reshard: null }
        }
        const rec = store.reshard
        if (rec !== undefined) {
          pending = { old: await loadMap(rec.old), next: await loadMap(rec.next), cutOver: rec.cutOver }
          map = rec.cutOver ? pending.next : pending.old
        }
        this.#savedIndexes = JSON.stringify(store.indexes ?? [])
      } catch (err) {
        await this.close()
        throw err
      }
    }
    const token = this.#options.token ?? map.config.token
    const adminToken = this.#options.adminToken ?? map.config.adminToken
    const hostOptions = resolveHostOptions({ ...this.#options, ...(token !== undefined ? { token } : {}), ...(adminToken !== undefined ? { adminToken } : {}) })
    this.#map = map
    this.#served = publicConfig(map)
    const host = new FrameHost(hostOptions, 'bootstrap', { batch: (requests, admin) => requests.map((r) => this.#answer(r, admin)) })
    let address: Awaited<ReturnType<FrameHost['listen']>>
    try {
      address = await host.listen()
    } catch (err) {
      // The port is taken (or the like): the data dir is given back, so a later listen() can open it.
      await this.close()
      throw err
    }
    this.#host = host

    this.#ctx = {
      processors: undefined, now: undefined, workers: undefined, token: adminToken ?? token,
      requestTimeout: this.#requestTimeout, connectTimeout: this.#connectTimeout,
      options: this.#options.shardTls === undefined ? {} : { tls: this.#options.shardTls },
      emit: (event, ...args) => {
        const e = args[0] as { shard: string; error?: Error }
        const m = this.#members.find((x) => x.spec.name === e.shard)
        if (m === undefined) return
        if (event === 'shardDown') {
          m.health.up = false
          m.health.configured = false
          m.health.error = e.error?.message ?? 'unreachable'
          this.emit('shardDown', { shard: e.shard, error: e.error ?? new Error('unreachable') })
        } else if (event === 'shardUp') {
          this.emit('shardUp', { shard: e.shard })
        }
      },
    }
    this.#members = map.shards.map((spec) => this.#member(spec))
    await Promise.all(this.#members.map(async (m) => {
      try {
        await m.client?.connect()
      } catch {
        // Reported through shardDown and stat(); the client keeps reconnecting and assigns on the way up.
      }
    }))
    if (pending !== null) {
      recovered = { epoch: map.epoch, reshard: pending.cutOver ? 'finished' : 'rolled-back' }
      try {
        await this.#settle(pending)
      } catch (err) {
        await this.close()
        throw new ShardUnavailableError(`the reshard to epoch ${pending.next.epoch} recorded in ${this.#options.dataDir} had begun its cut-over and could not be finished (${(err as Error).message}); start this server again once every shard server of both maps is up`, { cause: err })
      }
    }
    // What do the reachable servers hold? Entries under another range: refuse (nothing assigned yet).
    const held = await Promise.all(this.#members.map((m) => this.#held(m)))
    const conflicts: string[] = []
    held.forEach((st, i) => {
      const m = this.#members[i] as Member
      const problem = st === null ? null : this.#conflict(m.spec, st, map.epoch)
      if (problem !== null) conflicts.push(problem)
    })
    if (conflicts.length > 0) {
      await this.close()
      throw new BadConfigError(`${conflicts.join('; ')}. Starting with this config would strand those entries: start the bootstrap server with the config the cluster runs, then move to this one with \`pyshard reshard --config NEW.json\` (BootstrapServer.reshard)`)
    }
    await this.#learnIndexes(held)
    if (recovered !== null) this.emit('recovered', recovered)
    this.#ready = true
    await Promise.all(this.#members.map((m) => (m.client?.up ? this.#configure(m, map.epoch) : undefined)))
    this.#timer = setInterval(() => void this.#check(), this.#healthInterval)
    this.#timer.unref()
    return address
  }

  /**
   * A reshard recorded in the data dir when this server stopped: before its cut-over it is rolled
   * back (the sources end the move, the destinations drop what they received); after, finished
   * (every shard gets its assignment at the new epoch, the sources end the move and drop what
   * they handed over). Shards of the other map are reached for the while.
   */
  async #settle(p: { old: ShardMap; next: ShardMap; cutOver: boolean }): Promise<void> {
    const store = this.#store as MapStore
    const served = new Set(this.#members.map((m) => m.spec.name))
    const extra = (p.cutOver ? p.old : p.next).shards.filter((s) => !served.has(s.name)).map((spec) => this.#member(spec))
    await Promise.all(extra.map((m) => m.client?.connect().catch(() => {})))
    const all = [...this.#members, ...extra]
    const driver: ReshardDriver = {
      call: (name, req) => call(all.find((m) => m.spec.name === name)?.client as TcpShardClient, req),
      indexes: [...this.#indexes],
      publish: () => store.setMap(p.next.config),
    }
    try {
      if (p.cutOver) await finishReshard(p.old.shards, p.next.shards, p.next.epoch, driver)
      else {
        await rollBackReshard(p.old.shards, p.next.shards, driver)
        await store.setMap(p.old.config)
      }
      await store.setReshard(undefined)
    } finally {
      for (const m of extra) m.client?.destroy()
    }
  }

  /** Records the index list in the data dir when it changed. */
  #saveIndexes(): void {
    const store = this.#store
    if (store === null) return
    const list = this.indexes
    const json = JSON.stringify(list)
    if (json === this.#savedIndexes) return
    this.#savedIndexes = json
    store.setIndexes(list).catch(() => {
      // Recorded again at the next change; the list is also learnt from the shard servers.
      this.#savedIndexes = ''
    })
  }

  #member(spec: ShardSpec): Member {
    const health: ShardHealth = { name: spec.name, transport: spec.transport, start: spec.start, end: spec.end, up: false, configured: false }
    if (spec.host !== undefined) health.host = spec.host
    if (spec.port !== undefined) health.port = spec.port
    const member: Member = { spec, client: null, health, configuring: null }
    if (spec.transport === 'tcp') {
      member.client = new TcpShardClient(spec, this.#ctx as TransportContext, {
        onUp: () => {
          member.health.up = true
          delete member.health.error
          if (this.#ready && this.#resharding === null) void this.#configure(member, this.map.epoch)
        },
      })
    }
    return member
  }

  /** The server's stat, or null when it cannot be had. */
  async #held(m: Member): Promise<ShardStat | null> {
    if (m.client === null || !m.client.up) return null
    try {
      return (await call(m.client, { op: 'stat' })) as ShardStat
    } catch {
      return null
    }
  }

  /** Why assigning `spec` to a server that holds `st` would strand entries, or null. */
  #conflict(spec: ShardSpec, st: ShardStat, epoch: number): string | null {
    const entries = st.count + (st.handover ?? 0)
    const heldEpoch = st.epoch ?? 0
    if (heldEpoch > epoch) {
      return `shard server ${spec.host}:${spec.port} holds a map of epoch ${heldEpoch}, newer than this config's ${epoch}`
    }
    if (heldEpoch === 0 || entries === 0 || sameRange(st, spec)) return null
    return `shard server ${spec.host}:${spec.port} holds ${entries} entries of "${st.name}" [${st.start}, ${st.end}) (epoch ${heldEpoch}); this config gives it "${spec.name}" [${spec.start}, ${spec.end})`
  }

  /** Per shard: reachable, assigned, and its figures from the last health check. */
  stat(): ShardHealth[] {
    return this.#members.map((m) => ({ ...m.health }))
  }

  /** Stops serving and drops the connections to the shard servers. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== null) clearInterval(this.#timer)
    for (const m of this.#members) m.client?.destroy()
    await this.#host?.close()
    await this.#store?.close()
  }

  #answer(raw: unknown, admin: boolean): Response {
    const op = (raw as { op?: unknown } | null)?.op
    if (op === 'getMap') return { ok: true, value: this.#served }
    if (op === 'stat') return { ok: true, value: this.stat() }
    if (op === 'indexes') return { ok: true, value: this.indexes }
    if (op === 'reshard') {
      if (!admin) return errorResponse(new AuthFailedError('reshard needs the admin token (--admin-token, config "adminToken")'))
      const config = (raw as { config?: unknown }).config
      if (config === null || typeof config !== 'object') return errorResponse(new BadRequestError('reshard needs a config object'))
      // Started here; its progress and result are read with `reshardStatus`.
      this.#lastReshard = { running: true }
      this.reshard(config as ClusterConfig).then(
        (result) => { this.#lastReshard = { running: false, result } },
        (err: unknown) => { this.#lastReshard = { running: false, error: { code: (err as PyshardError).code ?? 'BAD_REQUEST', message: (err as Error).message } } },
      )
      return { ok: true, value: true }
    }
    if (op === 'reshardStatus') return { ok: true, value: { ...this.#lastReshard, progress: this.#progress } }
    return errorResponse(new BadRequestError(`unknown bootstrap operation ${JSON.stringify(op)} (known: getMap, stat, indexes, reshard, reshardStatus)`))
  }

  #lastReshard: { running: boolean; result?: ReshardResult; error?: { code: string; message: string } } = { running: false }
  #progress: ReshardProgress | null = null

  /** Assigns the member its settings unless an assignment is already in flight. */
  #configure(m: Member, epoch: number): Promise<void> {
    if (m.configuring !== null) return m.configuring
    const p = this.#assign(m, epoch).finally(() => {
      if (m.configuring === p) m.configuring = null
    })
    m.configuring = p
    return p
  }

  async #assign(m: Member, epoch: number): Promise<void> {
    const s = m.spec
    const client = m.client as TcpShardClient
    try {
      // A server that came back with entries of another range is not reassigned over them.
      const st = (await call(client, { op: 'stat' })) as ShardStat
      const problem = this.#conflict(s, st, epoch)
      if (problem !== null) throw new BadConfigError(`${problem}; not assigned (move data with \`pyshard reshard\`)`)
      // Every index of the cluster first: an index never answers INDEX_NOT_FOUND on one shard.
      await this.#createIndexes(client)
      const settings: ShardSettings = { name: s.name, start: s.start, end: s.end, size: s.size, onFull: s.onFull, epoch }
      await call(client, { op: 'configure', settings })
      const was = m.health.configured
      m.health.configured = true
      delete m.health.error
      if (!was) this.emit('configured', { shard: s.name, epoch })
    } catch (err) {
      m.health.configured = false
      m.health.error = `assignment failed: ${(err as Error).message}`
      if (this.listenerCount('shardDown') > 0) this.emit('shardDown', { shard: s.name, error: err as Error })
    }
  }

  async #createIndexes(client: TcpShardClient, only?: Iterable<string>): Promise<void> {
    const names = [...(only ?? this.#indexes)]
    if (names.length === 0) return
    const answers = await client.send(names.map((index) => ({ op: 'createIndex', index })))
    for (const r of answers) if (!r.ok && r.code !== 'INDEX_EXISTS') throw errorFromCode(r.code, r.message, r.epoch)
  }

  /**
   * Learns the index list from the servers' answers. An index no server has leaves the list; one
   * that some up servers lack at two checks in a row (not a create or drop in progress) is
   * created on them.
   */
  async #learnIndexes(held: (ShardStat | null)[] | null): Promise<void> {
    const up = this.#members.filter((m, i) => m.client !== null && m.client.up && (held === null || held[i] !== null))
    const lists = await Promise.all(up.map(async (m) => {
      try {
        return (await call(m.client as TcpShardClient, { op: 'indexes' })) as string[]
      } catch {
        return null
      }
    }))
    const seen = new Set<string>()
    for (const l of lists) for (const i of l ?? []) seen.add(i)
    if (held !== null) {
      // Start-up: what the servers hold is the list, and (with a data dir) what was recorded
      // unless every server answered (then an index none of them has was dropped meanwhile).
      const recorded = JSON.parse(this.#savedIndexes || '[]') as string[]
      if (up.length < this.#members.length) for (const i of recorded) seen.add(i)
      this.#indexes = seen
    } else {
      for (const i of this.#indexes) if (!seen.has(i)) this.#indexes.delete(i)
      for (const i of seen) this.#indexes.add(i)
    }
    const partial = new Map<string, string>()
    for (const index of this.#indexes) {
      const lacking = up.filter((_, j) => lists[j] !== null && !(lists[j] as string[]).includes(index))
      if (lacking.length === 0) continue
      const who = lacking.map((m) => m.spec.name).join(',')
      partial.set(index, who)
      if (held !== null || this.#partial.get(index) === who) {
        await Promise.all(lacking.map((m) => this.#createIndexes(m.client as TcpShardClient, [index]).catch(() => {})))
        partial.delete(index)
      }
    }
    this.#partial = partial
    this.#saveIndexes()
  }

  async #check(): Promise<void> {
    if (this.#resharding !== null || this.#closed) return
    await Promise.all(this.#members.map(async (m) => {
      if (m.client === null || this.#closed) return
      try {
        const st = (await call(m.client, { op: 'stat' })) as ShardStat
        m.health.count = st.count
        if (st.handover !== undefined) m.health.handover = st.handover
        m.health.bytes = st.bytes
        m.health.maxSize = st.maxSize
        m.health.checkedAt = Date.now()
        m.health.up = true
        // A server restarted between two checks comes back unassigned, and an assignment that
        // failed (a timeout, say) is retried: assign whenever its settings are not the map's.
        const assigned = st.name === m.spec.name && sameRange(st, m.spec) && st.maxSize === m.spec.size &&
          st.onFull === m.spec.onFull && (st.epoch ?? 0) === this.map.epoch
        if ((!assigned || !m.health.configured) && this.#resharding === null) void this.#configure(m, this.map.epoch)
      } catch (err) {
        m.health.up = false
        m.health.error = (err as Error).message
      }
    }))
    if (this.#resharding === null && !this.#closed) await this.#learnIndexes(null)
  }

  /**
   * Moves the cluster to `config`'s map while clients read and write: for every range that
   * changes owner, copy it (the source logs the writes meanwhile), catch up, pause the writes to
   * the moving ranges (they answer TRY_AGAIN, which clients retry), copy the last changes, cut
   * over at a new epoch (destinations first, then the sources; then the map is published), and
   * only then delete the moved entries from their sources. Before the cut-over a failure rolls
   * back (the sources keep everything); after it, the new map stands. Every shard server of
   * both maps must be up. Shard servers are matched by name; the new epoch is the config's
   * `epoch` or the current one plus 1, whichever is higher. One reshard at a time.
   */
  reshard(config: ClusterConfig | string): Promise<ReshardResult> {
    if (this.#map === null || this.#closed) return Promise.reject(new ShardUnavailableError('BootstrapServer: reshard needs a listening server'))
    if (this.#resharding !== null) return Promise.reject(new BadRequestError('a reshard is already in progress'))
    const p = this.#reshard(config).finally(() => {
      this.#resharding = null
    })
    this.#resharding = p
    return p
  }

  async #reshard(config: ClusterConfig | string): Promise<ReshardResult> {
    const old = this.map
    const next = await loadMap(config)
    const epoch = Math.max(next.epoch, old.epoch + 1)
    for (const s of [...old.shards, ...next.shards]) {
      if (s.transport !== 'tcp') throw new BadConfigError(`shard "${s.name}": reshard moves data between tcp shard servers only (transport "${s.transport}")`)
    }
    // Wait for assignments in flight: the sources must hold the old map.
    await Promise.allSettled(this.#members.map((m) => m.configuring))
    const byName = new Map(this.#members.map((m) => [m.spec.name, m]))
    for (const spec of next.shards) {
      const m = byName.get(spec.name)
      if (m !== undefined && (m.spec.host !== spec.host || m.spec.port !== spec.port)) {
        throw new BadConfigError(`shard "${spec.name}" is at ${m.spec.host}:${m.spec.port} in the current map and at ${spec.host}:${spec.port} in the new one: shard servers are matched by name`)
      }
    }
    // New members connect; every server of both maps must answer.
    const fresh = next.shards.filter((s) => !byName.has(s.name)).map((spec) => this.#member(spec))
    const all = [...this.#members, ...fresh]
    const dropFresh = (): void => { for (const m of fresh) m.client?.destroy() }
    try {
      await Promise.all(all.map(async (m) => {
        try {
          await m.client?.connect()
          await call(m.client as TcpShardClient, { op: 'stat' })
        } catch (err) {
          throw new ShardUnavailableError(`reshard needs every shard server up; "${m.spec.name}" (${m.spec.host}:${m.spec.port}): ${(err as Error).message}`)
        }
      }))
    } catch (err) {
      dropFresh()
      throw err
    }
    const member = (name: string): Member => all.find((m) => m.spec.name === name) as Member
    const retired = this.#members.filter((m) => !next.shards.some((s) => s.name === m.spec.name))
    const store = this.#store
    const nextConfig: ClusterConfig = { ...next.config, epoch }
    const record = { old: { ...old.config, epoch: old.epoch }, next: nextConfig, cutOver: false }
    let cutOver = false
    const hold = testHold()
    try {
      // Recorded before any shard hears of it: a restart rolls it back, or finishes it.
      await store?.setReshard(record)
    } catch (err) {
      dropFresh()
      throw err
    }
    try {
      const result = await reshardData(old.shards, old.epoch, next.shards, epoch, {
        call: async (name, req) => {
          if (hold === 'copy' && req.op === 'exportRange' && req.cursor !== 0) await holdHere(hold)
          return call(member(name).client as TcpShardClient, req)
        },
        opens: (name) => member(name).client?.opens(),
        checkpoint: async () => {
          await store?.setReshard({ ...record, cutOver: true })
          cutOver = true
          if (hold === 'cut-over') await holdHere(hold)
        },
        indexes: [...this.#indexes],
        pageSize: this.#pageSize, pageDelay: this.#pageDelay,
        report: (progress) => {
          this.#progress = progress
          if (this.listenerCount('reshard') > 0) this.emit('reshard', progress)
        },
        publish: async () => {
          const checked = await checkMap(ShardMap.parse(nextConfig, transportNames()))
          await store?.setMap(nextConfig)
          this.#map = checked
          this.#served = publicConfig(checked)
          this.#members = next.shards.map((spec) => {
            const m = member(spec.name)
            m.spec = spec
            m.health = { ...m.health, start: spec.start, end: spec.end, configured: true }
            return m
          })
        },
      })
      for (const m of retired) m.client?.destroy()
      await store?.setReshard(undefined).catch(() => {})
      for (const m of this.#members) this.emit('configured', { shard: m.spec.name, epoch })
      return result
    } catch (err) {
      // Rolled back (the new servers are not members), or the new map stands with cleanup
      // pending: then the record stays, and a restart with the data dir finishes the move.
      if (!cutOver) {
        dropFresh()
        await store?.setReshard(undefined).catch(() => {})
      }
      throw err
    }
  }
}

/**
 * Test hook: with PYSHARD_TEST_HOLD_RESHARD=copy (after the first copied page) or =cut-over
 * (once the cut-over is recorded, before any shard is assigned), a reshard stops there for good
 * and says so on stderr, so that a crash test can kill this process at a known step.
 */
function testHold(): 'copy' | 'cut-over' | null {
  const v = process.env.PYSHARD_TEST_HOLD_RESHARD
  return v === 'copy' || v === 'cut-over' ? v : null
}

function holdHere(phase: string): Promise<never> {
  process.stderr.write(`pyshard: reshard held at ${phase} (PYSHARD_TEST_HOLD_RESHARD)\n`)
  return new Promise<never>(() => {})
}

/** Loads and checks a config a bootstrap server can serve (tcp and redis shards only). */
async function loadMap(config: string | ClusterConfig): Promise<ShardMap> {
  const known = transportNames()
  const parsed = typeof config === 'string' ? ShardMap.load(config, known) : ShardMap.parse(config, known)
  for (const s of parsed.shards) {
    if (s.transport === 'memory' || s.transport === 'worker') {
      throw new BadConfigError(`shard "${s.name}": transport "${s.transport}" lives inside each client and cannot be served by a bootstrap server (use "tcp" or "redis")`)
    }
  }
  // Each transport checks its own fields (a tcp shard's "host": "" becomes 127.0.0.1).
  return checkMap(parsed)
}
