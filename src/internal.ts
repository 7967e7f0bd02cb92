/**
 * What transports (in transports/) use from the core. Not part of the public
 * surface: the package exports only src/index.ts and the transports.
 */
export { Shard } from './shard.js'
export { ShardHost, FSYNC_POLICIES, shardDataDir } from './host.js'
export type { ShardHostOptions, HostEvent, Fsync, Persistence, AssignmentStore } from './host.js'
export type { ShardOptions, ShardSettings, ShardStat, ShardEvent, Processor, OnFull, ShardJournal } from './shard.js'
export { execute, errorResponse, ADMIN_OPS } from './protocol.js'
export type { Request, Response, ErrorResponse, OkResponse, Json, ScanPage, Op } from './protocol.js'
export type { ShardClient, Transport, TransportContext, MapSourceOptions } from './transport.js'
export { checkMap, transportNames } from './transport.js'
export { Link } from './link.js'
export type { Channel, ChannelEvents, LinkOptions } from './link.js'
export type { ShardSpec, ClusterConfig, ShardConfig } from './shard-map.js'
export { ShardMap } from './shard-map.js'
export { loadProcessors, processorsHref } from './processors.js'
export { hashKey } from './hash.js'
export { ManualClock, sharedClock } from './clock.js'
export { measure } from './measure.js'
export {
  PyshardError, ShardUnavailableError, TimeoutError, BadRequestError, AuthFailedError, FrameTooLargeError,
  BadConfigError, DataDirError, StaleEpochError, TryAgainError, errorFromCode,
} from './errors.js'
export type { ErrorCode } from './errors.js'
export type { PyshardEvents } from './events.js'
export { deliver } from './events.js'
export { positiveInt } from './options.js'
export type { WorkerTransportOptions, TcpClientOptions, RedisTransportOptions } from './transport-options.js'
