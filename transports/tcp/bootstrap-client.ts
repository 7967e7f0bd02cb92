/**
 * The client of a bootstrap server: fetches the map (what `Pyshard.connect` and
 * the CLI use) and the cluster's health.
 */
import type tls from 'node:tls'
import { openTcpChannel } from './client.js'
import type { OutgoingBatch } from './client.js'
import { encodeBatchFrame } from './codec.js'
import { Link } from '../../src/link.js'
import type { ClusterConfig } from '../../src/shard-map.js'
import { BadRequestError, errorFromCode } from '../../src/errors.js'
import type { Response } from '../../src/protocol.js'
import type { ReshardProgress, ReshardResult, ShardHealth } from './bootstrap.js'

/** The operations a bootstrap server answers (`reshard` needs the admin token). */
export type BootstrapRequest =
  | { op: 'getMap' } | { op: 'stat' } | { op: 'indexes' } | { op: 'reshard'; config: ClusterConfig } | { op: 'reshardStatus' }

/** What `reshardStatus` answers. */
interface ReshardStatus {
  running: boolean
  result?: ReshardResult
  error?: { code: string; message: string }
  progress: ReshardProgress | null
}

/** Options of `BootstrapClient` and `fetchMap`. */
export interface BootstrapClientOptions {
  /** Token the bootstrap server requires (its admin token for `reshard`). */
  token?: string | undefined
  /** How long connecting may take (ms). @default 3000 */
  connectTimeout?: number | undefined
  /** How long a request may take (ms). @default 5000 */
  requestTimeout?: number | undefined
  /** Connect with TLS (`true` or `node:tls` connect options). @default false */
  tls?: boolean | tls.ConnectionOptions | undefined
}

/** Splits `'host:port'` (or `'[v6]:port'`). */
export function parseAddress(target: string): { host: string; port: number } {
  const m = typeof target === 'string' ? /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(target.trim()) : null
  const port = m ? Number(m[3]) : NaN
  if (m === null || !(port > 0 && port < 65536)) throw new TypeError(`bootstrap address must be "host:port", got ${JSON.stringify(target)}`)
  return { host: (m[1] ?? m[2]) as string, port }
}

/** A client of a bootstrap server: the map and the cluster's health. */
export class BootstrapClient {
  readonly #conn: Link<OutgoingBatch, unknown>

  constructor(target: string, options: BootstrapClientOptions = {}) {
    const { host, port } = parseAddress(target)
    this.#conn = new Link<OutgoingBatch, unknown>({
      name: `bootstrap ${target}`,
      open: (events, signal) => openTcpChannel({ host, port, token: options.token, tls: options.tls, role: 'bootstrap' }, events, signal),
      connectTimeout: options.connectTimeout ?? 3000,
      requestTimeout: options.requestTimeout ?? 5000,
      reconnect: false,
    })
  }

  async #call(req: BootstrapRequest): Promise<unknown> {
    const batch = [req]
    const answers = (await this.#conn.request({ frame: encodeBatchFrame(0, batch), shapes: false, batch })) as Response[]
    const r = answers[0]
    if (r === undefined) throw new BadRequestError('the bootstrap server sent no answer')
    if (!r.ok) throw errorFromCode(r.code, r.message, r.epoch)
    return r.value
  }

  /** The cluster map (without tokens). */
  async getMap(): Promise<ClusterConfig> {
    return (await this.#call({ op: 'getMap' })) as ClusterConfig
  }

  /** Health of every shard server. */
  async stat(): Promise<ShardHealth[]> {
    return (await this.#call({ op: 'stat' })) as ShardHealth[]
  }

  /** The cluster's index list, as the bootstrap server keeps it. */
  async indexes(): Promise<string[]> {
    return (await this.#call({ op: 'indexes' })) as string[]
  }

  /**
   * Moves the cluster to `config`'s map (see `BootstrapServer.reshard`); the client must hold
   * the admin token. Resolves once the new map is in force and the moved entries live on their
   * new owners; `onProgress` hears every `pollMs` while it runs.
   */
  async reshard(config: ClusterConfig, options: { onProgress?: (p: ReshardProgress) => void; pollMs?: number } = {}): Promise<ReshardResult> {
    await this.#call({ op: 'reshard', config })
    const pollMs = options.pollMs ?? 200
    for (;;) {
      const st = (await this.#call({ op: 'reshardStatus' })) as ReshardStatus
      if (st.progress !== null) options.onProgress?.(st.progress)
      if (!st.running) {
        if (st.error !== undefined) throw errorFromCode(st.error.code, st.error.message)
        if (st.result === undefined) throw new BadRequestError('the bootstrap server lost track of the reshard')
        return st.result
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs))
    }
  }

  close(): Promise<void> {
    return this.#conn.close()
  }
}

/** Fetches the map from a bootstrap server over one short-lived connection. */
export async function fetchMap(target: string, options: BootstrapClientOptions = {}): Promise<ClusterConfig> {
  const client = new BootstrapClient(target, options)
  try {
    return await client.getMap()
  } finally {
    await client.close()
  }
}

