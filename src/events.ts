/**
 * Event types of `Pyshard` and the servers. Node's own generic `EventEmitter`
 * types them (typed-emitter's default-export types break either NodeNext or
 * Bundler consumers). No event is the only way to learn of a failure: the
 * operations that fail reject too.
 */

/** An entry left a shard because of its byte limit (`onFull: 'evict'`). */
export interface EvictEvent { shard: string; index: string; key: string }
/** An entry's TTL ran out and the shard reclaimed it. */
export interface ExpireEvent { shard: string; index: string; key: string }
/** A shard stopped answering (connection lost, worker died). */
export interface ShardDownEvent { shard: string; error: Error }
/** A shard answers again after `shardDown`. */
export interface ShardUpEvent { shard: string }
/** The store took a newer shard map. */
export interface MapChangedEvent { epoch: number; previous: number }

/** Events of `Pyshard`. */
export interface PyshardEvents {
  evict: [event: EvictEvent]
  expire: [event: ExpireEvent]
  shardDown: [event: ShardDownEvent]
  shardUp: [event: ShardUpEvent]
  mapChanged: [event: MapChangedEvent]
  /** A background failure with no caller to reject (emitted only when someone listens). */
  error: [error: Error]
}

/** The smallest emitter `deliver` needs (an `EventEmitter`). */
export interface EventSink {
  emit(event: string | symbol, ...args: unknown[]): boolean
  listenerCount(event: string | symbol): number
}

/**
 * The one way pyshard emits an event: in a microtask, off the data path, so a listener never
 * runs inside an operation; a listener that throws becomes an `error` event (or, with no
 * `error` listener, a process warning) and never fails an operation or changes a state.
 * An `error` nobody listens to is a process warning when `warnUnheard`, else dropped.
 */
export function deliver(target: EventSink, event: string, args: unknown[], warnUnheard = false): void {
  queueMicrotask(() => {
    if (event === 'error' && target.listenerCount('error') === 0) {
      if (warnUnheard) process.emitWarning(args[0] as Error)
      return
    }
    try {
      target.emit(event, ...args)
    } catch (err) {
      let unheard = err
      if (event !== 'error' && target.listenerCount('error') > 0) {
        try {
          target.emit('error', err as Error)
          return
        } catch (again) {
          unheard = again
        }
      }
      process.emitWarning(unheard as Error)
    }
  })
}
