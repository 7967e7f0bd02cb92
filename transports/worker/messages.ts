/**
 * Every message that crosses between the store's thread and a worker host.
 * Both sides import these types, so a change to one kind shows up on both.
 */
import type { OnFull, Request } from '../../src/internal.js'

/** How batches travel (see codec.ts): structured clone of the objects, of flattened columns, or one MessagePack buffer. */
export type Codec = 'clone' | 'columns' | 'msgpack'

/** What a shard in a worker needs to be created (the serialisable part of a ShardSpec). */
export interface HostShard {
  name: string
  start: number
  end: number
  size: number
  onFull: OnFull
  /** The assignment's epoch (a reshard raises it). @default 0 */
  epoch?: number
  /** No longer the store's (a reshard retired it): a restarted worker does not open its data dir. */
  retired?: boolean
}

/** `workerData` of a host: its shards, the processors module and the codec. */
export interface HostData {
  shards: HostShard[]
  /** URL of the processors module, imported once in the worker. */
  processors: string | undefined
  codec: Codec
  /** How often the host reclaims expired entries (ms). */
  sweepInterval: number
  /** A `ManualClock`'s shared memory, when the store was opened with one: the hosts' clock for TTL. */
  clock?: SharedArrayBuffer | undefined
  /** The store's `dataDir`: each shard of the host keeps its data in a subfolder named after it. */
  dataDir?: string | undefined
  /** The store's fsync policy for `dataDir`. */
  fsync?: 'always' | 'everysec' | 'no' | undefined
  /** The shards take their given ranges whatever their dirs hold (a store finishing a recorded reshard). */
  adopt?: boolean | undefined
}

/** One shard's share of a message: `reqs` for the shard at `HostData.shards[shard]`. */
export interface Part {
  shard: number
  reqs: Request[]
}

/** Store → host: the batches of one tick for this worker's shards, `Part[]` encoded by the codec; `ids[i]` names part i. */
export interface BatchMessage {
  ids: number[]
  body: unknown
}

/** An evict/expire event of a shard in the worker, forwarded to the store. */
export interface HostEvent {
  type: 'evict' | 'expire'
  shard: number
  index: string
  key: string
}

/** Host → store: the answers to one batch message, one `Response[]` per part, in order (`ids` as sent). */
export interface ReplyMessage {
  t: 'reply'
  ids: number[]
  /** One `Response[]` per part, encoded by the codec (absent when `error` is set). */
  body?: unknown
  /** Events since the last message, when there were any. */
  events?: HostEvent[]
  /** Set when the message as a whole could not be answered (undecodable); every request of it fails. */
  error?: string
}

/** Host → store: the host has its shards and processors and takes batches. */
export interface ReadyMessage { t: 'ready' }

/** Host → store: events that happened outside a batch (background TTL sweep). */
export interface EventsMessage { t: 'events'; events: HostEvent[] }

/** Host → store: the host could not start (its processors module failed to load); it exits after this. */
export interface FatalMessage { t: 'fatal'; code: string; message: string }

/**
 * Store → host: close the data dirs (commit and flush what they hold) of shard `shard` (one the
 * store no longer uses, the worker going on for the others), or of every shard (the worker is
 * ended after); answered by `closed`.
 */
export interface CloseMessage { t: 'close'; shard?: number | undefined }

/** Host → store: the answer to `close`. */
export interface ClosedMessage { t: 'closed'; shard?: number | undefined }

export type HostMessage = ReplyMessage | ReadyMessage | EventsMessage | FatalMessage | ClosedMessage
export type StoreMessage = BatchMessage | CloseMessage
