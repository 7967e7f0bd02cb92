/** The public surface of pyshard: every exported value and type is named here. */
export { Pyshard } from './pyshard.js'
export type { WriteResult, ShardStats } from './pyshard.js'
export type {
  OpenOptions, WriteOptions, CreateIndexOptions, ScanOptions, CallOptions, TransportRegistry, TransportOptions, MemoryTransportOptions,
  ReshardOptions,
} from './options.js'
export type { ReshardMove, ReshardProgress, ReshardResult } from './reshard.js'
export { ShardMap, DEFAULT_SHARD_SIZE } from './shard-map.js'
export type { ClusterConfig, ShardConfig, ShardSpec, TransportName, BuiltinTransport } from './shard-map.js'
export { Shard } from './shard.js'
export type { ShardOptions, ShardSettings, ShardStat, ShardEvent, OnFull, Processor } from './shard.js'
export { hashKey, murmur3 } from './hash.js'
export { ManualClock } from './clock.js'
export { execute } from './protocol.js'
export type { Json, JsonShaped, Doc, Entry, Request, Response, ScanPage } from './protocol.js'
export { registerTransport } from './transport.js'
export type { Transport, ShardClient, TransportContext, MapSourceOptions } from './transport.js'
export {
  PyshardError, IndexNotFoundError, IndexExistsError, ShardFullError, ShardUnavailableError, TimeoutError,
  BadConfigError, BadRequestError, AuthFailedError, FrameTooLargeError, MovedError, DataDirError,
  StaleEpochError, TryAgainError, AbortedError,
} from './errors.js'
export type { ErrorCode } from './errors.js'
export type { PyshardEvents, EvictEvent, ExpireEvent, ShardDownEvent, ShardUpEvent, MapChangedEvent } from './events.js'
