/**
 * A TCP cluster on free loopback ports for tests and benchmarks: shard servers
 * plus a bootstrap server whose config names them. `stop()` closes everything.
 */
import { ShardServer, BootstrapServer } from '../../transports/tcp/servers.js'
import type { ClusterConfig, OnFull } from '../../src/index.js'
import type { ShardServerOptions } from '../../transports/tcp/servers.js'

export interface TcpClusterOptions {
  /** Number of shard servers. @default 2 */
  shards?: number
  /** Token every server requires. */
  token?: string
  /** Admin token of every shard server (config `adminToken`). */
  adminToken?: string
  /** Map epoch of the config. @default 1 */
  epoch?: number
  /** Processors module the shard servers load. */
  processors?: string
  /** Byte limit of each shard. @default 64 MiB */
  size?: number
  onFull?: OnFull
  /** Further options of every shard server. */
  server?: Partial<ShardServerOptions>
  /** How often the bootstrap server checks health (ms). @default 60000 */
  healthInterval?: number
}

export interface TcpCluster {
  servers: ShardServer[]
  bootstrap: BootstrapServer
  /** The bootstrap server's 'host:port'. */
  target: string
  config: ClusterConfig
  stop(): Promise<void>
}

export async function startTcpCluster(options: TcpClusterOptions = {}): Promise<TcpCluster> {
  const n = options.shards ?? 2
  const servers: ShardServer[] = []
  try {
    for (let i = 0; i < n; i++) {
      const server = new ShardServer({
        ...(options.token ? { token: options.token } : {}),
        ...(options.adminToken ? { adminToken: options.adminToken } : {}),
        ...(options.processors ? { processors: options.processors } : {}),
        ...options.server,
      })
      servers.push(server)
      await server.listen()
    }
    const config: ClusterConfig = {
      transport: 'tcp',
      shards: servers.map((s, i) => ({
        name: `shard${i}`, host: '127.0.0.1', port: (s.address as { port: number }).port,
        size: options.size ?? 64 * 1024 * 1024, onFull: options.onFull ?? 'reject',
      })),
    }
    if (options.token) config.token = options.token
    if (options.adminToken) config.adminToken = options.adminToken
    if (options.epoch !== undefined) config.epoch = options.epoch
    const bootstrap = new BootstrapServer({ config, healthInterval: options.healthInterval ?? 60_000 })
    const { host, port } = await bootstrap.listen()
    const cluster: TcpCluster = {
      servers, bootstrap, config, target: `${host}:${port}`,
      // Tests may swap in a restarted server or bootstrap server: stop whatever is there now.
      async stop() {
        await cluster.bootstrap.close()
        await Promise.allSettled(cluster.servers.map((s) => s.destroy()))
      },
    }
    return cluster
  } catch (err) {
    await Promise.allSettled(servers.map((s) => s.destroy()))
    throw err
  }
}
