/**
 * The settings each built-in transport reads from `transportOptions` (types only:
 * the core describes them, each transport implements them). Declared here so the
 * core's option types never import a transport.
 */
import type { ResourceLimits } from 'node:worker_threads'
import type { ConnectionOptions } from 'node:tls'

/**
 * Settings of the worker transport, given as `transportOptions` to `Pyshard.open`.
 * Every one is optional.
 */
export interface WorkerTransportOptions {
  /**
   * How batches cross threads: `'columns'` (structured clone of the requests
   * and answers laid out in columns), `'clone'` (structured clone of the
   * request and response objects as they are) or `'msgpack'` (one MessagePack
   * buffer per message, transferred). All carry any JSON document; columns
   * measured fastest on the bench workload (docs/workers.md).
   * @default 'columns'
   */
  codec?: 'clone' | 'columns' | 'msgpack'
  /**
   * Most requests held for one worker at once (sent and unanswered, or waiting for it to
   * restart). A batch that would pass it rejects at once with SHARD_UNAVAILABLE naming
   * `maxInFlight`, instead of queueing without bound (no back-pressure queue). The same option
   * as the tcp and redis transports'. @default 65536
   */
  maxInFlight?: number
  /** V8 heap limits of each worker; a worker that runs out of memory is restarted (empty). @default Node's defaults */
  resourceLimits?: ResourceLimits
  /** How long a worker may take to start before `open` rejects SHARD_UNAVAILABLE (ms). @default 30000 */
  startTimeout?: number
  /** How often each worker reclaims expired entries in the background (ms). @default 1000 */
  sweepInterval?: number
}

/** Settings of the TCP transport, given as `transportOptions` (or per shard in the config). */
export interface TcpClientOptions {
  /** Connect with TLS: `true`, or `node:tls` connect options (ca, servername, ...). @default false */
  tls?: boolean | ConnectionOptions
  /** Largest frame sent or accepted (bytes). A bigger batch is split; a single bigger request answers FRAME_TOO_LARGE. @default 67108864 */
  maxFrameSize?: number
  /**
   * Requests that may wait for a shard while it is unreachable (after a failed connect or a lost
   * connection); beyond it they reject SHARD_UNAVAILABLE at once. The lazy first connect is not
   * limited by it. @default 1000
   */
  maxQueue?: number
  /**
   * Most requests held for one shard at once (sent and unanswered, or waiting for the connection).
   * A batch that would pass it rejects at once with SHARD_UNAVAILABLE naming `maxInFlight`: there is
   * no back-pressure queue, so a caller that issues more in one tick than this gets that error for the
   * excess while the client's memory stays bounded (1,000,000 un-awaited writes in one tick stay under
   * 300 MB of heap). The same option as the worker and redis transports'. @default 65536
   */
  maxInFlight?: number
  /** How long a request may wait for an unreachable shard; once it has been down that long requests reject at once (ms). @default connectTimeout */
  queueTimeout?: number
  /** First reconnect delay (ms), doubled per failed attempt. @default 50 */
  reconnectDelay?: number
  /** Cap of the reconnect delay (ms). @default 2000 */
  maxReconnectDelay?: number
  /**
   * Ask the server for the shapes extension (requests and answers of known shapes travel without
   * key names; docs/wire.md). Off, the connection speaks standard MessagePack only. @default true
   */
  shapes?: boolean
}

/**
 * Settings read from `transportOptions` of `Pyshard.open` (all optional).
 */
export interface RedisTransportOptions {
  /**
   * Most requests in flight on one redis shard; a batch that would pass it is refused at once with
   * SHARD_UNAVAILABLE naming `maxInFlight` (bounds memory when Redis stalls). The same option as the
   * tcp and worker transports'. @default 65536
   */
  maxInFlight?: number
  /** @deprecated the old name of `maxInFlight`, still accepted; `maxInFlight` wins when both are set. */
  redisMaxPending?: number
  /** Scan cursors a redis shard client keeps open at once. @default 1024 */
  redisMaxCursors?: number
  /** A scan cursor unused for this long is dropped (ms). @default 60000 */
  redisCursorIdleMs?: number
  /** Longest wait between reconnect attempts (ms); attempts back off 100, 200, ... up to this. @default 1000 */
  redisMaxReconnectDelay?: number
  /**
   * Test seam, not for production: a constructor used instead of ioredis' `Redis` for `url` shards
   * (e.g. ioredis-mock), called as `new redisClient(url, options)`.
   * @internal
   */
  redisClient?: new (url: string, options: never) => unknown
}
