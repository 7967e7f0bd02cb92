import { BadRequestError } from './errors.js'

/** Deepest nesting a document may have (also stops cycles). */
export const MAX_DEPTH = 64

/**
 * Checks that `doc` is a JSON value and returns the bytes the shard accounts
 * for it: about the length of its JSON text (strings count their UTF-16 length,
 * numbers 8). One walk does both, so validation costs nothing extra.
 * Throws BAD_REQUEST naming the first thing that is not JSON.
 */
export function measure(doc: unknown, depth = 0): number {
  switch (typeof doc) {
    case 'string': return doc.length + 2
    case 'number':
      if (!Number.isFinite(doc)) throw new BadRequestError(`document holds ${doc}, which is not a JSON number`)
      return 8
    case 'boolean': return doc ? 4 : 5
    case 'object': {
      if (doc === null) return 4
      if (depth >= MAX_DEPTH) throw new BadRequestError(`document nests deeper than ${MAX_DEPTH} levels (or is cyclic)`)
      if (Array.isArray(doc)) {
        let size = 2
        for (let i = 0; i < doc.length; i++) size += measure(doc[i], depth + 1) + 1
        return size
      }
      const proto = Object.getPrototypeOf(doc)
      if (proto !== Object.prototype && proto !== null) {
        throw new BadRequestError(`document holds a ${proto?.constructor?.name ?? 'non-plain'} object, which is not JSON`)
      }
      let size = 2
      for (const k in doc) {
        size += k.length + 4 + measure((doc as Record<string, unknown>)[k], depth + 1)
      }
      return size
    }
    default:
      throw new BadRequestError(`document holds a value of type ${typeof doc}, which is not JSON`)
  }
}
