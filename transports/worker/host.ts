/**
 * The worker host: the entry point of each worker thread. It owns the Shards
 * listed in `workerData`, decodes each batch message and answers it by calling
 * `execute` for every request (it never interprets operations itself).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Packr } from 'msgpackr'
import { Shard, execute, errorResponse, loadProcessors, PyshardError } from '../../src/internal.js'
import type { Processor, Request, Response } from '../../src/internal.js'
import type { HostData, HostEvent, HostMessage, Part, StoreMessage } from './messages.js'

const port = parentPort
if (port === null) throw new Error('transports/worker/host runs only as a worker thread')

const data = workerData as HostData
// Records (msgpackr's shared-shape extension) keep the repeated request shapes small and fast to decode.
const packr = data.codec === 'msgpack' ? new Packr({ useRecords: true, moreTypes: true }) : null
let events: HostEvent[] = []

function post(msg: HostMessage): void {
  try {
    port!.postMessage(msg)
  } catch (err) {
    // A processor result that cannot cross threads (a function, say): answer BAD_REQUEST for the values that fail.
    if (msg.t !== 'reply' || msg.parts === undefined) throw err
    for (const answers of msg.parts) {
      for (let i = 0; i < answers.length; i++) {
        try {
          structuredClone(answers[i])
        } catch (e) {
          answers[i] = { ok: false, code: 'BAD_REQUEST', message: `the result cannot be sent back from the worker: ${(e as Error).message}` }
        }
      }
    }
    port!.postMessage(msg)
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
  const shards = data.shards.map((s, i) => new Shard({
    name: s.name, start: s.start, end: s.end, size: s.size, onFull: s.onFull, epoch: 0, processors,
    onEvent: (e) => { events.push({ type: e.type, shard: i, index: e.index, key: e.key }) },
  }))

  const answer = (parts: Part[]): Response[][] => {
    const out = new Array<Response[]>(parts.length)
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p] as Part
      const shard = shards[part.shard]
      const reqs = part.reqs
      const res = new Array<Response>(reqs.length)
      if (shard === undefined) {
        res.fill({ ok: false, code: 'BAD_REQUEST', message: `this worker has no shard #${part.shard}` })
      } else {
        for (let i = 0; i < reqs.length; i++) res[i] = execute(shard, reqs[i] as Request)
      }
      out[p] = res
    }
    return out
  }

  port!.on('message', (msg: StoreMessage) => {
    let parts: Part[]
    try {
      parts = 'packed' in msg ? (packr!.unpack(msg.packed) as Part[]) : msg.parts
    } catch (err) {
      // Undecodable input cannot be answered per request: the store fails the whole message.
      post({ t: 'reply', id: msg.id, error: `the worker could not decode a batch: ${(err as Error).message}` })
      return
    }
    const answers = answer(parts)
    const pending = events
    if (pending.length > 0) events = []
    if (packr !== null) {
      let packed: Uint8Array
      try {
        packed = packr.pack(answers)
      } catch (err) {
        packed = packr.pack(answers.map((a) => a.map((r) => {
          try {
            packr.pack(r)
            return r
          } catch {
            return errorResponse(new Error(`the result cannot be sent back from the worker: ${(err as Error).message}`))
          }
        })))
      }
      post(pending.length > 0 ? { t: 'reply', id: msg.id, packed, events: pending } : { t: 'reply', id: msg.id, packed })
    } else {
      post(pending.length > 0 ? { t: 'reply', id: msg.id, parts: answers, events: pending } : { t: 'reply', id: msg.id, parts: answers })
    }
  })

  // One timer for all the worker's shards; unref'd so an idle worker never holds its thread's loop open.
  setInterval(() => {
    for (const shard of shards) shard.sweep(10_000)
    if (events.length > 0) {
      const pending = events
      events = []
      post({ t: 'events', events: pending })
    }
  }, data.sweepInterval).unref()

  port!.postMessage({ t: 'ready' } satisfies HostMessage)
}

void main()
