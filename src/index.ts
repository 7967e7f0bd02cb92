/** The public surface of pyshard: every exported value and type is named here. */
export { Pyshard } from './pyshard.js'
export type { OpenOptions, WriteOptions, WriteResult, CreateIndexOptions, ScanOptions, ShardStats } from './pyshard.js'
export { ShardMap, DEFAULT_SHARD_SIZE } from './shard-map.js'
export type { ClusterConfig, ShardConfig, ShardSpec } from './shard-map.js'
export { Shard } from './shard.js'
export type { ShardOptions, ShardSettings, ShardStat, ShardEvent, OnFull, Processor } from './shard.js'
export { hashKey, murmur3 } from './hash.js'
export { execute } from './protocol.js'
export type { Json, Entry, Request, Response, ScanPage } from './protocol.js'
export { registerTransport } from './transport.js'
export type { Transport, ShardClient, TransportContext } from './transport.js'
export {
  PyshardError, IndexNotFoundError, IndexExistsError, ShardFullError, ShardUnavailableError, TimeoutError,
  BadConfigError, BadRequestError, AuthFailedError, FrameTooLargeError, MovedError,
} from './errors.js'
export type { ErrorCode } from './errors.js'
export type { PyshardEvents, EvictEvent, ExpireEvent, ShardDownEvent, ShardUpEvent, MapChangedEvent } from './events.js'
export { ShardServer } from '../transports/tcp/server.js'
export type { ShardServerOptions, ShardServerEvents, ClientErrorEvent } from '../transports/tcp/server.js'
export type { HostOptions } from '../transports/tcp/host.js'
export { BootstrapServer, BootstrapClient, fetchMap } from './bootstrap.js'
export type { BootstrapServerOptions, BootstrapServerEvents, BootstrapClientOptions, ShardHealth } from './bootstrap.js'
