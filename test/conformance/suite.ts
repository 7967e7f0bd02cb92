/**
 * The one conformance suite every transport runs, split by concern (one module
 * each): the public contract through the public API, with TTL driven by an
 * injected clock, never by sleeping. A runner calls `conformance(name, makeStore, caps)`:
 * `makeStore` opens a fresh store honouring the settings a concern asks for, `caps`
 * says what the transport cannot do (those tests are skipped with the reason printed).
 */
import { suite } from 'uvu'
import { api } from './api.js'
import { ttl } from './ttl.js'
import { eviction } from './eviction.js'
import { events } from './events.js'
import { close } from './close.js'
import { values } from './values.js'
import type { Caps, Concern, Ctx, MakeStore } from './context.js'

export type { Caps, MakeStore, OpenedStore, StoreSettings } from './context.js'

/** Every concern, in the order they run. A new concern module is one more line here. */
const CONCERNS: Concern[] = [
  api,
  ttl,
  eviction,
  events,
  close,
]

export function conformance(name: string, makeStore: MakeStore, caps: Caps = {}): void {
  const test = suite<Ctx>(`conformance: ${name}`, {} as Ctx)

  test.before(async (ctx) => {
    ctx.opened = await makeStore()
    ctx.db = ctx.opened.db
  })
  test.after(async (ctx) => {
    await ctx.db?.close()
    await ctx.opened?.stop?.()
    await caps.teardown?.()
  })

  for (const concern of CONCERNS) concern(test, makeStore, { ...caps, name })
  values(test, caps)

  test.run()
}
