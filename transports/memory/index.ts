/**
 * In-process shards: a ShardHost per shard in this thread; the router calls it
 * directly. No serialisation: documents are stored and returned by reference
 * (like lru-cache), so treat what you write and read as immutable. With a data
 * dir each shard is also recorded on disk, in a subfolder named after it.
 */
import { ShardHost, loadProcessors, shardDataDir } from '../../src/internal.js'
import type { ShardClient, Transport, TransportContext, ShardSpec, Request, Response, Processor } from '../../src/internal.js'

class MemoryClient implements ShardClient {
  readonly #host: ShardHost
  /** The synchronous path; absent with `fsync: 'always'`, where a write answers only once on disk. */
  execute?: (req: Request) => Response
  perform?: (req: Request) => unknown

  constructor(spec: ShardSpec, ctx: TransportContext, processors: Record<string, Processor>) {
    this.#host = new ShardHost({
      name: spec.name, start: spec.start, end: spec.end, size: spec.size, onFull: spec.onFull,
      epoch: 0, processors,
      ...(ctx.now ? { now: ctx.now } : {}),
      onEvent: (e) => {
        if (e.type !== 'configured') ctx.emit(e.type, { shard: e.shard, index: e.index, key: e.key })
      },
    })
    if (ctx.fsync !== 'always' || ctx.dataDir === undefined) {
      const host = this.#host
      this.execute = (req) => host.execute(req)
      this.perform = (req) => host.perform(req)
    }
  }

  /** Loads the shard from its data dir (when the store has one), then starts the sweep. */
  async start(ctx: TransportContext): Promise<void> {
    if (ctx.dataDir !== undefined) {
      await this.#host.persist({
        dir: shardDataDir(ctx.dataDir, this.#host.settings.name),
        fsync: ctx.fsync, assignment: ctx.adopt === true ? 'adopt' : 'given',
        onError: (error) => ctx.emit('error', error),
      })
    }
    this.#host.start()
  }

  send(batch: Request[]): Promise<Response[]> {
    const answers = this.#host.answer(batch)
    const durable = this.#host.durable()
    return durable === null ? Promise.resolve(answers) : durable.then(() => answers)
  }

  close(): Promise<void> {
    return this.#host.close()
  }
}

/** The in-process transport. */
export const transport: Transport = {
  async connect(specs: readonly ShardSpec[], ctx: TransportContext): Promise<ShardClient[]> {
    const processors = ctx.processors ? await loadProcessors(ctx.processors) : {}
    const clients = specs.map((spec) => new MemoryClient(spec, ctx, processors))
    const started: MemoryClient[] = []
    try {
      for (const c of clients) {
        await c.start(ctx)
        started.push(c)
      }
    } catch (err) {
      // One unusable dir: nothing is served, and the dirs already opened are given back.
      await Promise.all(started.map((c) => c.close()))
      throw err
    }
    return clients
  },
}
