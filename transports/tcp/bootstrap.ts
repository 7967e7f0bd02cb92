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
import type { ClusterConfig, ShardSpec } from '../../src/shard-map.js'
import { checkMap, transportNames } from '../../src/transport.js'
import type { TransportContext } from '../../src/transport.js'
import { BadConfigError, BadRequestError, PyshardError, errorFromCode } from '../../src/errors.js'
import { errorResponse } from '../../src/protocol.js'
import type { Response } from '../../src/protocol.js'
import type { ShardSettings, ShardStat } from '../../src/shard.js'

/** Options of `BootstrapServer`. */
export interface BootstrapServerOptions extends HostOptions {
  /** The cluster config: a path to its JSON file, or the parsed object. Validated by `listen()` (BAD_CONFIG). */
  config: string | ClusterConfig
  /**
   * Token presented to the shard servers (the admin token for `configure`) and required from this server's
   * own clients. @default the config's `token`
   */
  token?: string
  /** Connect to the shard servers with TLS (`true` or `node:tls` connect options). @default false */
  shardTls?: boolean | tls.ConnectionOptions
  /** How long connecting to a shard server may take (ms). @default 3000 */
  connectTimeout?: number
  /** How long a request to a shard server may take (ms). @default 5000 */
  requestTimeout?: number
  /** How often each shard server's health is checked (ms). @default 2000 */
  healthInterval?: number
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
  /** Figures from its last health check. */
  count?: number
  bytes?: number
  maxSize?: number
  /** When it last answered a health check (ms since the epoch). */
  checkedAt?: number
}

/** Events of `BootstrapServer`. */
export interface BootstrapServerEvents {
  /** A shard server accepted its name, range, size and policy. */
  configured: [event: { shard: string }]
  /** A shard server became unreachable (or refused its assignment). */
  shardDown: [event: { shard: string; error: Error }]
  /** A shard server answers again. */
  shardUp: [event: { shard: string }]
}


/** The config as served to clients: everything but tokens. */
function publicConfig(map: ShardMap): ClusterConfig {
  const { token: _t, ...top } = map.config
  return { ...top, shards: map.shards.map(({ token: _s, ...shard }) => shard) }
}

interface Member {
  spec: ShardSpec
  client: TcpShardClient | null
  health: ShardHealth
  /** The assignment in flight, null when none is. */
  configuring: Promise<void> | null
}

function int(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback
  if (!(Number.isSafeInteger(v) && (v as number) > 0)) throw new TypeError(`options.${name} must be a positive integer, got ${String(v)}`)
  return v as number
}

/** Loads a cluster config, assigns its shard servers, and serves the map. */
export class BootstrapServer extends EventEmitter<BootstrapServerEvents> {
  readonly #options: BootstrapServerOptions
  readonly #connectTimeout: number
  readonly #requestTimeout: number
  readonly #healthInterval: number
  #map: ShardMap | null = null
  #host: FrameHost | null = null
  #members: Member[] = []
  #timer: NodeJS.Timeout | null = null
  #closed = false

  constructor(options: BootstrapServerOptions) {
    super()
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
    if (typeof options.config !== 'string' && (options.config === null || typeof options.config !== 'object')) {
      throw new TypeError('options.config must be a path to a config file or a config object')
    }
    // Type checks now; the loopback rule waits for the config's token in listen().
    resolveHostOptions({ ...options, insecure: true })
    this.#connectTimeout = int('connectTimeout', options.connectTimeout, 3000)
    this.#requestTimeout = int('requestTimeout', options.requestTimeout, 5000)
    this.#healthInterval = int('healthInterval', options.healthInterval, 2000)
    this.#options = options
  }

  /** The validated map (after `listen()`). */
  get map(): ShardMap {
    if (this.#map === null) throw new Error('BootstrapServer: the map is loaded by listen()')
    return this.#map
  }

  /** The bound address, or null before `listen()` / after close. */
  get address(): { host: string; port: number } | null { return this.#host?.address ?? null }

  /**
   * Loads and validates the config (rejects BAD_CONFIG), binds, then connects to every
   * TCP shard server and assigns it its settings. A shard server that cannot be reached
   * yet is reported (`shardDown`, `stat()`) and assigned as soon as it comes up.
   */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.#host !== null) throw new Error('BootstrapServer: already listening')
    const config = this.#options.config
    const known = transportNames()
    const parsed = typeof config === 'string' ? ShardMap.load(config, known) : ShardMap.parse(config, known)
    for (const s of parsed.shards) {
      if (s.transport === 'memory' || s.transport === 'worker') {
        throw new BadConfigError(`shard "${s.name}": transport "${s.transport}" lives inside each client and cannot be served by a bootstrap server (use "tcp" or "redis")`)
      }
    }
    // Each transport checks its own fields (a tcp shard's "host": "" becomes 127.0.0.1).
    const map = await checkMap(parsed)
    const token = this.#options.token ?? map.config.token
    const hostOptions = resolveHostOptions({ ...this.#options, ...(token !== undefined ? { token } : {}) })
    this.#map = map
    const served = publicConfig(map)
    const host = new FrameHost(hostOptions, 'bootstrap', { batch: (requests) => requests.map((r) => this.#answer(r, served)) })
    const address = await host.listen()
    this.#host = host

    const ctx: TransportContext = {
      processors: undefined, now: undefined, workers: undefined, token,
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
    this.#members = map.shards.map((spec) => {
      const health: ShardHealth = { name: spec.name, transport: spec.transport, start: spec.start, end: spec.end, up: false, configured: false }
      if (spec.host !== undefined) health.host = spec.host
      if (spec.port !== undefined) health.port = spec.port
      const member: Member = { spec, client: null, health, configuring: null }
      if (spec.transport === 'tcp') {
        member.client = new TcpShardClient(spec, ctx, {
          onUp: () => {
            member.health.up = true
            delete member.health.error
            void this.#configure(member, map.epoch)
          },
        })
      }
      return member
    })
    await Promise.all(this.#members.map(async (m) => {
      if (m.client === null) return
      try {
        await m.client.connect()
        await m.configuring
      } catch {
        // Reported through shardDown and stat(); the client keeps reconnecting and assigns on the way up.
      }
    }))
    this.#timer = setInterval(() => void this.#check(), this.#healthInterval)
    this.#timer.unref()
    return address
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
    await Promise.allSettled(this.#members.map((m) => {
      m.client?.destroy()
      return Promise.resolve()
    }))
    await this.#host?.close()
  }

  #answer(raw: unknown, served: ClusterConfig): Response {
    const op = (raw as { op?: unknown } | null)?.op
    if (op === 'getMap') return { ok: true, value: served }
    if (op === 'stat') return { ok: true, value: this.stat() }
    return errorResponse(new BadRequestError(`unknown bootstrap operation ${JSON.stringify(op)} (known: getMap, stat)`))
  }

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
    const settings: ShardSettings = { name: s.name, start: s.start, end: s.end, size: s.size, onFull: s.onFull, epoch }
    try {
      const [r] = await (m.client as TcpShardClient).send([{ op: 'configure', settings }])
      if (r === undefined || !r.ok) {
        throw r === undefined ? new PyshardError('BAD_REQUEST', 'no answer') : errorFromCode(r.code, r.message, r.epoch)
      }
      m.health.configured = true
      delete m.health.error
      this.emit('configured', { shard: s.name })
    } catch (err) {
      m.health.configured = false
      m.health.error = `assignment failed: ${(err as Error).message}`
      if (this.listenerCount('shardDown') > 0) this.emit('shardDown', { shard: s.name, error: err as Error })
    }
  }

  async #check(): Promise<void> {
    await Promise.all(this.#members.map(async (m) => {
      if (m.client === null || this.#closed) return
      try {
        const [r] = await m.client.send([{ op: 'stat' }])
        if (r?.ok) {
          const st = r.value as ShardStat
          m.health.count = st.count
          m.health.bytes = st.bytes
          m.health.maxSize = st.maxSize
          m.health.checkedAt = Date.now()
          m.health.up = true
          // A server restarted between two checks comes back unassigned, and an assignment that
          // failed (a timeout, say) is retried: assign whenever its settings are not the map's.
          const assigned = st.name === m.spec.name && st.start === m.spec.start && st.end === m.spec.end &&
            st.maxSize === m.spec.size && st.onFull === m.spec.onFull
          if (!assigned || !m.health.configured) void this.#configure(m, this.map.epoch)
        }
      } catch (err) {
        m.health.up = false
        m.health.error = (err as Error).message
      }
    }))
  }
}

