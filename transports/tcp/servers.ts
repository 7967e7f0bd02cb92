/**
 * `pyshard/server`: the servers of a networked cluster. A shard server hosts one
 * shard behind a TCP (or TLS) port; a bootstrap server assigns the shard servers
 * their ranges and hands the map to clients. Importing `pyshard` alone loads none
 * of this.
 */
export { ShardServer } from './server.js'
export type { ShardServerOptions, ShardServerEvents, ClientErrorEvent } from './server.js'
export type { HostOptions } from './host.js'
export { BootstrapServer } from './bootstrap.js'
export type { BootstrapServerOptions, BootstrapServerEvents, ShardHealth, ReshardMove, ReshardProgress, ReshardResult } from './bootstrap.js'
export { BootstrapClient, fetchMap } from './bootstrap-client.js'
export type { BootstrapClientOptions } from './bootstrap-client.js'
