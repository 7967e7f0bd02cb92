/**
 * How batches and answers cross between threads. Three interchangeable codecs,
 * all generic over the protocol's plain data (none looks at an operation):
 *
 * - `clone`: the Request/Response objects as they are, by structured clone.
 * - `columns`: still structured clone, but objects are flattened first: each
 *   request becomes its shape's number followed by its property values, and
 *   answers become one array of values plus the few that are absent or
 *   errors. V8's serializer writes every property name of every object, so a
 *   flat array of values is cheaper to clone on both sides.
 * - `msgpack`: one msgpackr buffer (with its record extension) per message,
 *   transferred, not copied.
 *
 * docs/workers.md has what each costs on the bench workload.
 */
import { Packr } from 'msgpackr'
import type { ErrorResponse, Request, Response } from '../../src/internal.js'
import type { Codec, Part } from './messages.js'

/** Shapes and values of flattened requests: `vals` holds, per request, its shape number then its values in shape order. */
interface FlatBatch { shards: number[]; counts: number[]; shapes: string[][]; vals: unknown[] }

/**
 * Answers of one message in columns: `vals[i]` is the value of the i-th response
 * (all parts in order, `lens[p]` per part); `absent` lists OK responses without
 * a value, `errors` the failed ones as `[position, response]`.
 */
interface FlatReply { lens: number[]; vals: unknown[]; absent?: number[]; errors?: [number, ErrorResponse][] }

/** What a codec produces for postMessage: the payload and what to transfer. */
export interface Encoded { body: unknown; transfer: ArrayBuffer[] | undefined }

export interface WireCodec {
  encodeBatch(parts: Part[]): Encoded
  decodeBatch(body: unknown): Part[]
  encodeReply(answers: Response[][]): Encoded
  decodeReply(body: unknown): Response[][]
}

const NO_TRANSFER: ArrayBuffer[] | undefined = undefined

const cloneCodec: WireCodec = {
  encodeBatch: (parts) => ({ body: parts, transfer: NO_TRANSFER }),
  decodeBatch: (body) => body as Part[],
  encodeReply: (answers) => ({ body: answers, transfer: NO_TRANSFER }),
  decodeReply: (body) => body as Response[][],
}

function columnsCodec(): WireCodec {
  // Shapes seen by this side; the list travels with every message (it is short), so the two sides need no shared state.
  const shapeIds = new Map<string, number>()
  let shapes: string[][] = []
  return {
    encodeBatch(parts) {
      const vals: unknown[] = []
      const used: string[][] = []
      const local = new Map<number, number>()
      const shards = new Array<number>(parts.length)
      const counts = new Array<number>(parts.length)
      for (let p = 0; p < parts.length; p++) {
        const part = parts[p] as Part
        shards[p] = part.shard
        counts[p] = part.reqs.length
        for (const req of part.reqs) {
          const keys = Object.keys(req)
          const sig = keys.join('\0')
          let id = shapeIds.get(sig)
          if (id === undefined) {
            if (shapeIds.size > 1024) {
              // Requests come in a handful of shapes; a flood of new ones (odd callers) must not grow this without bound.
              shapeIds.clear()
              shapes = []
            }
            id = shapes.length
            shapes.push(keys)
            shapeIds.set(sig, id)
          }
          let l = local.get(id)
          if (l === undefined) {
            l = used.length
            used.push(shapes[id] as string[])
            local.set(id, l)
          }
          vals.push(l)
          const r = req as unknown as Record<string, unknown>
          for (let k = 0; k < keys.length; k++) vals.push(r[keys[k] as string])
        }
      }
      return { body: { shards, counts, shapes: used, vals } satisfies FlatBatch, transfer: NO_TRANSFER }
    },
    decodeBatch(body) {
      const { shards, counts, shapes: used, vals } = body as FlatBatch
      const parts = new Array<Part>(shards.length)
      let i = 0
      for (let p = 0; p < shards.length; p++) {
        const n = counts[p] as number
        const reqs = new Array<Request>(n)
        for (let j = 0; j < n; j++) {
          const keys = used[vals[i++] as number] as string[]
          const req: Record<string, unknown> = {}
          for (let k = 0; k < keys.length; k++) req[keys[k] as string] = vals[i++]
          reqs[j] = req as unknown as Request
        }
        parts[p] = { shard: shards[p] as number, reqs }
      }
      return parts
    },
    encodeReply(answers) {
      const lens = new Array<number>(answers.length)
      const vals: unknown[] = []
      let absent: number[] | undefined
      let errors: [number, ErrorResponse][] | undefined
      for (let p = 0; p < answers.length; p++) {
        const res = answers[p] as Response[]
        lens[p] = res.length
        for (let i = 0; i < res.length; i++) {
          const r = res[i] as Response
          if (!r.ok) {
            ;(errors ??= []).push([vals.length, r])
            vals.push(null)
          } else if (!('value' in r)) {
            ;(absent ??= []).push(vals.length)
            vals.push(null)
          } else {
            vals.push(r.value)
          }
        }
      }
      const body: FlatReply = { lens, vals }
      if (absent !== undefined) body.absent = absent
      if (errors !== undefined) body.errors = errors
      return { body, transfer: NO_TRANSFER }
    },
    decodeReply(body) {
      const { lens, vals, absent, errors } = body as FlatReply
      const out = new Array<Response>(vals.length)
      for (let i = 0; i < vals.length; i++) out[i] = { ok: true, value: vals[i] }
      if (absent !== undefined) for (const i of absent) out[i] = { ok: true }
      if (errors !== undefined) for (const [i, e] of errors) out[i] = e
      const parts = new Array<Response[]>(lens.length)
      let at = 0
      for (let p = 0; p < lens.length; p++) {
        const n = lens[p] as number
        parts[p] = lens.length === 1 ? out : out.slice(at, at + n)
        at += n
      }
      return parts
    },
  }
}

function msgpackCodec(): WireCodec {
  // Records (msgpackr's shape extension) carry their definitions inline, so each side may have its own Packr.
  const packr = new Packr({ useRecords: true, moreTypes: true })
  const encode = (value: unknown): Encoded => {
    // Copy out of msgpackr's reused buffer (cloning a view would copy all of it), then hand the copy over.
    const bytes = new Uint8Array(packr.pack(value))
    return { body: bytes, transfer: [bytes.buffer] }
  }
  return {
    encodeBatch: encode,
    decodeBatch: (body) => packr.unpack(body as Uint8Array) as Part[],
    encodeReply: encode,
    decodeReply: (body) => packr.unpack(body as Uint8Array) as Response[][],
  }
}

/** A fresh codec of the given kind (one per side: codecs may keep per-side caches). */
export function makeCodec(codec: Codec): WireCodec {
  switch (codec) {
    case 'clone': return cloneCodec
    case 'columns': return columnsCodec()
    case 'msgpack': return msgpackCodec()
  }
}
