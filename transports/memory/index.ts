/**
 * In-process shards: the router calls `execute` directly on a Shard in this
 * thread. No serialisation: documents are stored and returned by reference
 * (like lru-cache), so treat what you write and read as immutable.
 */
import { Shard, execute, loadProcessors } from '../../src/internal.js'
import type { ShardClient, Transport, TransportContext, ShardSpec, Request, Response, Processor } from '../../src/internal.js'

/** How often each shard reclaims expired entries in the background (ms). */
const SWEEP_INTERVAL = 1000

class MemoryClient implements ShardClient {
  readonly shard: Shard
  #timer: NodeJS.Timeout

  constructor(spec: ShardSpec, ctx: TransportContext, processors: Record<string, Processor>) {
    this.shard = new Shard({
      name: spec.name, start: spec.start, end: spec.end, size: spec.size, onFull: spec.onFull,
      epoch: 0, processors,
      ...(ctx.now ? { now: ctx.now } : {}),
      onEvent: (e) => ctx.emit(e.type, { shard: spec.name, index: e.index, key: e.key }),
    })
    // One timer per shard, not per key; unref'd so it never keeps the process alive.
    this.#timer = setInterval(() => this.shard.sweep(10_000), SWEEP_INTERVAL).unref()
  }

  execute(req: Request): Response {
    return execute(this.shard, req)
  }

  send(batch: Request[]): Promise<Response[]> {
    const out = new Array<Response>(batch.length)
    for (let i = 0; i < batch.length; i++) out[i] = execute(this.shard, batch[i] as Request)
    return Promise.resolve(out)
  }

  close(): Promise<void> {
    clearInterval(this.#timer)
    return Promise.resolve()
  }
}

/** The in-process transport. */
export const transport: Transport = {
  async connect(specs: readonly ShardSpec[], ctx: TransportContext): Promise<ShardClient[]> {
    const processors = ctx.processors ? await loadProcessors(ctx.processors) : {}
    return specs.map((spec) => new MemoryClient(spec, ctx, processors))
  },
}
