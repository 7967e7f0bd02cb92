/**
 * `pyshard/transports/tcp`: the TCP transport (client side) and the shard
 * server that hosts one Shard behind a port.
 */
import type { Transport } from '../../src/transport.js'
import { clientTransport } from './client.js'
import { fetchMap, parseAddress } from './bootstrap-client.js'
import type { BootstrapClientOptions } from './bootstrap-client.js'

/** The TCP transport: shard servers reached over TCP (or TLS), and maps fetched from a bootstrap server. */
export const transport: Transport = {
  ...clientTransport,
  mapSource(address, options) {
    parseAddress(address)
    const tls = options.options.tls as BootstrapClientOptions['tls']
    return () => fetchMap(address, { token: options.token, connectTimeout: options.connectTimeout, requestTimeout: options.requestTimeout, tls })
  },
}
export { TcpShardClient, openTcpChannel, checkTcpSpec } from './client.js'
export type { TcpClientOptions, TcpTarget } from './client.js'
export { ShardServer } from './server.js'
export type { ShardServerOptions, ShardServerEvents, ClientErrorEvent } from './server.js'
export { FrameHost, isLoopback } from './host.js'
export type { HostOptions, HostHandler } from './host.js'
export { BootstrapServer } from './bootstrap.js'
export { BootstrapClient, fetchMap, parseAddress } from './bootstrap-client.js'
