/**
 * `pyshard/transports/tcp`: the TCP transport (client side) and the shard
 * server that hosts one Shard behind a port.
 */
export { transport, TcpShardClient, openTcpChannel } from './client.js'
export type { TcpClientOptions, TcpTarget } from './client.js'
export { ShardServer } from './server.js'
export type { ShardServerOptions, ShardServerEvents, ClientErrorEvent } from './server.js'
export { FrameHost, isLoopback } from './host.js'
export type { HostOptions, HostHandler } from './host.js'
