/**
 * In-process shards: a ShardHost per shard in this thread; the router calls it
 * directly. No serialisation: documents are stored and returned by reference
 * (like lru-cache), so treat what you write and read as immutable.
 */
import { ShardHost, loadProcessors } from '../../src/internal.js'
import type { ShardClient, Transport, TransportContext, ShardSpec, Request, Response, Processor } from '../../src/internal.js'

class MemoryClient implements ShardClient {
  readonly #host: ShardHost

  constructor(spec: ShardSpec, ctx: TransportContext, processors: Record<string, Processor>) {
    this.#host = new ShardHost({
      name: spec.name, start: spec.start, end: spec.end, size: spec.size, onFull: spec.onFull,
      epoch: 0, processors,
      ...(ctx.now ? { now: ctx.now } : {}),
      onEvent: (e) => {
        if (e.type !== 'configured') ctx.emit(e.type, { shard: e.shard, index: e.index, key: e.key })
      },
    })
    this.#host.start()
  }

  execute(req: Request): Response {
    return this.#host.execute(req)
  }

  send(batch: Request[]): Promise<Response[]> {
    return Promise.resolve(this.#host.answer(batch))
  }

  close(): Promise<void> {
    this.#host.close()
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
