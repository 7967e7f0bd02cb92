/**
 * How batches and answers cross between threads. Three interchangeable codecs,
 * all generic over the protocol's plain data (none looks at an operation):
 *
 * - `clone`: the Request/Response objects as they are, by structured clone.
 * - `columns`: still structured clone, but of columns instead of objects:
 *   requests grouped by shape, one column per property (a repeated value
 *   sent once, numbers as a Float64Array), answers as one
 *   column of values plus the few that are absent or errors. V8's serializer
 *   pays per value and writes every property name of every object, so a few
 *   big values clone much faster than many small objects.
 * - `msgpack`: one MessagePack buffer (the tcp wire's codec, with its shapes extension) per message,
 *   transferred, not copied.
 *
 * docs/workers.md has what each costs on the bench workload.
 */
import { decodeValue, encodeValue } from '../tcp/msgpack.js'
import type { ErrorResponse, Request, Response } from '../../src/internal.js'
import type { Codec, Part } from './messages.js'

/**
 * One column of values as it crosses: one value when they are all the same,
 * a Float64Array when they are all numbers (cloned as one block of bytes),
 * else the plain array. V8's serializer pays per value and per property
 * name, so fewer, bigger values are what make cloning cheap. Strings are not
 * joined into one: the pieces cut from it would be V8 sliced strings that
 * keep the whole joined string alive as long as any key or document does.
 */
type Column =
  | { k: 0; n: number; v: unknown }
  | { k: 1; v: Float64Array }
  | { k: 3; v: unknown[] }

function column(values: unknown[]): Column {
  const n = values.length
  if (n === 0) return { k: 3, v: values }
  const first = values[0]
  let i = 1
  while (i < n && values[i] === first) i++
  if (i === n) return { k: 0, n, v: first }
  if (typeof first === 'number') {
    for (i = 1; i < n; i++) if (typeof values[i] !== 'number') break
    if (i === n) return { k: 1, v: new Float64Array(values as number[]) }
  }
  return { k: 3, v: values }
}

function values(c: Column): ArrayLike<unknown> {
  switch (c.k) {
    case 0: return new Array<unknown>(c.n).fill(c.v)
    case 1: return c.v
    case 3: return c.v
  }
}

/**
 * Requests of one message in columns. Requests are grouped by shape (their
 * property names in order); `order` gives each request's shape, in message
 * order, and each shape has one column per property.
 */
interface ColumnBatch { shards: number[]; counts: number[]; order: Column; shapes: string[][]; columns: Column[][] }

/**
 * Answers of one message in columns: the values of all responses (all parts
 * in order, `lens[p]` per part); `absent` lists OK responses without a value,
 * `errors` the failed ones as `[position, response]`.
 */
interface ColumnReply { lens: number[]; vals: Column; absent?: number[]; errors?: [number, ErrorResponse][] }

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

/** Whether `obj`'s own properties are exactly `keys`, in order (for-in: no array allocated per request). */
function hasShape(obj: object, keys: string[]): boolean {
  let i = 0
  for (const key in obj) if (key !== keys[i++]) return false
  return i === keys.length
}

type RowBuilder = (cols: ArrayLike<unknown>[], row: number) => Request

/** Builders by shape: a compiled object literal gives every request of a shape one hidden class, fast to make and to read. */
const builders = new Map<string, RowBuilder>()
const MAX_BUILDERS = 256

function builder(keys: string[]): RowBuilder {
  const sig = keys.join('\u0000')
  let build = builders.get(sig)
  if (build === undefined) {
    // Property names go in as JSON string literals, so any name is safe in the generated source.
    const body = `return {${keys.map((k, i) => `${JSON.stringify(k)}: c[${i}][r]`).join(', ')}}`
    build = new Function('c', 'r', body) as RowBuilder
    if (builders.size >= MAX_BUILDERS) builders.clear()
    builders.set(sig, build)
  }
  return build
}

const columnsCodec: WireCodec = {
  encodeBatch(parts) {
    const shapes: string[][] = []
    const rows: unknown[][][] = [] // per shape, per property, the values
    const order: number[] = []
    const shards = new Array<number>(parts.length)
    const counts = new Array<number>(parts.length)
    let last = -1
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p] as Part
      shards[p] = part.shard
      counts[p] = part.reqs.length
      for (const req of part.reqs) {
        // Requests come in a handful of shapes, mostly runs of one: try the last one first.
        let s = last >= 0 && hasShape(req, shapes[last] as string[]) ? last : shapes.findIndex((k) => hasShape(req, k))
        if (s < 0) {
          s = shapes.length
          const keys = Object.keys(req)
          shapes.push(keys)
          rows.push(keys.map(() => []))
        }
        last = s
        order.push(s)
        const keys = shapes[s] as string[]
        const cols = rows[s] as unknown[][]
        const r = req as unknown as Record<string, unknown>
        for (let k = 0; k < keys.length; k++) (cols[k] as unknown[]).push(r[keys[k] as string])
      }
    }
    const body: ColumnBatch = { shards, counts, order: column(order), shapes, columns: rows.map((cols) => cols.map(column)) }
    return { body, transfer: NO_TRANSFER }
  },
  decodeBatch(body) {
    const { shards, counts, order, shapes, columns } = body as ColumnBatch
    const cols = columns.map((c) => c.map(values))
    const build = shapes.map(builder)
    const next = new Array<number>(shapes.length).fill(0)
    const shapeOf = values(order)
    const parts = new Array<Part>(shards.length)
    let at = 0
    for (let p = 0; p < shards.length; p++) {
      const n = counts[p] as number
      const reqs = new Array<Request>(n)
      for (let j = 0; j < n; j++) {
        const s = shapeOf[at++] as number
        const row = next[s] as number
        next[s] = row + 1
        reqs[j] = (build[s] as RowBuilder)(cols[s] as ArrayLike<unknown>[], row)
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
    const body: ColumnReply = { lens, vals: column(vals) }
    if (absent !== undefined) body.absent = absent
    if (errors !== undefined) body.errors = errors
    return { body, transfer: NO_TRANSFER }
  },
  decodeReply(body) {
    const { lens, vals: col, absent, errors } = body as ColumnReply
    const vals = values(col)
    const out = new Array<Response>(vals.length)
    for (let i = 0; i < vals.length; i++) out[i] = { ok: true, value: vals[i] }
    if (absent !== undefined) for (const i of absent) out[i] = { ok: true }
    if (errors !== undefined) for (const [i, e] of errors) out[i] = e
    if (lens.length === 1) return [out]
    const parts = new Array<Response[]>(lens.length)
    let at = 0
    for (let p = 0; p < lens.length; p++) {
      const n = lens[p] as number
      parts[p] = out.slice(at, at + n)
      at += n
    }
    return parts
  },
}

function msgpackCodec(): WireCodec {
  // The tcp wire's MessagePack (with its shapes extension: both ends are ours), so values cross
  // threads as they cross sockets: own __proto__ keys kept, lone surrogates lossless.
  const encode = (value: unknown): Encoded => {
    // Copy out of the encoder's reused buffer, then hand the copy over.
    const bytes = new Uint8Array(encodeValue(value, true))
    return { body: bytes, transfer: [bytes.buffer] }
  }
  const decode = (body: unknown): unknown => {
    const u8 = body as Uint8Array
    return decodeValue(Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength), true)
  }
  // A processor may return undefined: an answer without a value, as an absent read is.
  const defined = (r: Response): Response => (r.ok && 'value' in r && r.value === undefined ? { ok: true } : r)
  return {
    encodeBatch: encode,
    decodeBatch: (body) => decode(body) as Part[],
    encodeReply: (answers) => encode(answers.map((res) => res.map(defined))),
    decodeReply: (body) => decode(body) as Response[][],
  }
}

/** A fresh codec of the given kind (one per side: codecs may keep per-side caches). */
export function makeCodec(codec: Codec): WireCodec {
  switch (codec) {
    case 'clone': return cloneCodec
    case 'columns': return columnsCodec
    case 'msgpack': return msgpackCodec()
  }
}
