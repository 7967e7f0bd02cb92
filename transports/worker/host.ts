/**
 * The worker host: the entry point of each worker thread. It owns the Shards
 * listed in `workerData`, decodes each batch message and answers it by calling
 * `execute` for every request (it never interprets operations itself).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { ShardHost, loadProcessors, sharedClock, shardDataDir, PyshardError } from '../../src/internal.js'
import { makeCodec } from './codec.js'
import type { Processor, Response } from '../../src/internal.js'
import type { HostData, HostEvent, HostMessage, HostShard, Part, StoreMessage } from './messages.js'

const port = parentPort
if (port === null) throw new Error('transports/worker/host runs only as a worker thread')

const data = workerData as HostData
const codec = makeCodec(data.codec)
let events: HostEvent[] = []

function reply(ids: number[], answers: Response[][]): void {
  const pending = events
  if (pending.length > 0) events = []
  try {
    const { body, transfer } = codec.encodeReply(answers)
    const msg: HostMessage = pending.length > 0 ? { t: 'reply', ids, body, events: pending } : { t: 'reply', ids, body }
    port!.postMessage(msg, transfer)
  } catch {
    // A processor result that cannot cross threads (a function, say): those answers become BAD_REQUEST.
    const safe = answers.map((res) => res.map((r): Response => {
      try {
        structuredClone(codec.encodeReply([[r]]).body)
        return r
      } catch (err) {
        return { ok: false, code: 'BAD_REQUEST', message: `the result cannot be sent back from the worker: ${(err as Error).message}` }
      }
    }))
    const { body, transfer } = codec.encodeReply(safe)
    port!.postMessage({ t: 'reply', ids, body, events: pending } satisfies HostMessage, transfer)
  }
}

async function main(): Promise<void> {
  let processors: Record<string, Processor> = {}
  try {
    if (data.processors !== undefined) processors = await loadProcessors(data.processors)
  } catch (err) {
    const code = err instanceof PyshardError ? err.code : 'BAD_CONFIG'
    port!.postMessage({ t: 'fatal', code, message: (err as Error).message } satisfies HostMessage)
    return
  }
  const shards = data.shards.map((s, i) => {
    const host = new ShardHost({
      name: s.name, start: s.start, end: s.end, size: s.size, onFull: s.onFull, epoch: s.epoch ?? 0, processors,
      sweepInterval: data.sweepInterval,
      ...(data.clock !== undefined ? { now: sharedClock(data.clock) } : {}),
      onEvent: (e) => {
        if (e.type !== 'configured') events.push({ type: e.type, shard: i, index: e.index, key: e.key })
      },
    })
    return host
  })
  try {
    // With a data dir each shard loads what it had (a restarted worker comes back with its data).
    if (data.dataDir !== undefined) {
      for (const [i, host] of shards.entries()) {
        if (data.shards[i]?.retired === true) continue
        await host.persist({ dir: shardDataDir(data.dataDir, (data.shards[i] as HostShard).name), fsync: data.fsync, assignment: data.adopt === true ? 'adopt' : 'given' })
      }
    }
  } catch (err) {
    const code = err instanceof PyshardError ? err.code : 'DATA_DIR'
    port!.postMessage({ t: 'fatal', code, message: (err as Error).message } satisfies HostMessage)
    return
  }
  for (const host of shards) host.start()

  const answer = (parts: Part[]): Response[][] => {
    const out = new Array<Response[]>(parts.length)
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p] as Part
      const shard = shards[part.shard]
      out[p] = shard !== undefined
        ? shard.answer(part.reqs)
        : new Array<Response>(part.reqs.length).fill({ ok: false, code: 'BAD_REQUEST', message: `this worker has no shard #${part.shard}` })
    }
    return out
  }

  port!.on('message', (msg: StoreMessage) => {
    if ('t' in msg) {
      // The store closes (or retires one shard): what the data dirs hold is committed and flushed first.
      const closing = msg.shard === undefined ? shards : shards.slice(msg.shard, msg.shard + 1)
      void Promise.allSettled(closing.map((host) => host.close())).then(() => port!.postMessage({ t: 'closed', shard: msg.shard } satisfies HostMessage))
      return
    }
    let parts: Part[]
    try {
      parts = codec.decodeBatch(msg.body)
    } catch (err) {
      // Undecodable input cannot be answered per request: the store fails the whole message.
      port!.postMessage({ t: 'reply', ids: msg.ids, error: `the worker could not decode a batch: ${(err as Error).message}` } satisfies HostMessage)
      return
    }
    const answers = answer(parts)
    // fsync 'always': the reply waits for the commit holding this batch's writes to be on disk.
    const all = parts.map((part) => shards[part.shard]?.durable() ?? null).filter((d) => d !== null)
    if (all.length === 0) reply(msg.ids, answers)
    else {
      Promise.all(all).then(() => reply(msg.ids, answers), (err: unknown) => {
        port!.postMessage({ t: 'reply', ids: msg.ids, error: `the worker could not make writes durable: ${(err as Error).message}` } satisfies HostMessage)
      })
    }
  })

  // Each host sweeps on its own timer; events of a sweep travel on the next reply, or on this timer.
  setInterval(() => {
    if (events.length > 0) {
      const pending = events
      events = []
      port!.postMessage({ t: 'events', events: pending } satisfies HostMessage)
    }
  }, data.sweepInterval).unref()

  port!.postMessage({ t: 'ready' } satisfies HostMessage)
}

void main()
