/** Loading a processors module: every function it exports becomes a processor. */
import { pathToFileURL } from 'node:url'
import { isAbsolute, resolve } from 'node:path'
import { BadConfigError } from './errors.js'
import type { Processor } from './shard.js'

/** Turns a module path (relative to the working directory) or URL into a URL string importable from anywhere. */
export function processorsHref(spec: string | URL): string {
  if (spec instanceof URL) return spec.href
  if (typeof spec !== 'string' || spec === '') throw new TypeError('options.processors must be a module path or URL')
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)) return spec
  return pathToFileURL(isAbsolute(spec) ? spec : resolve(spec)).href
}

/** Imports a processors module and keeps its exported functions. */
export async function loadProcessors(href: string): Promise<Record<string, Processor>> {
  let mod: Record<string, unknown>
  try {
    mod = (await import(href)) as Record<string, unknown>
  } catch (err) {
    throw new BadConfigError(`cannot load processors module ${href}: ${(err as Error).message}`, { cause: err })
  }
  const out: Record<string, Processor> = Object.create(null)
  for (const [name, value] of Object.entries(mod)) {
    if (typeof value === 'function' && name !== 'default') out[name] = value as Processor
  }
  const def = mod.default
  if (def !== null && typeof def === 'object') {
    for (const [name, value] of Object.entries(def)) {
      if (typeof value === 'function' && !(name in out)) out[name] = value as Processor
    }
  }
  return out
}
