/**
 * Worker stores for the conformance runners: the hosts sweep (and report what they
 * reclaimed) every 20 ms and read the store's ManualClock from shared memory.
 */
import { Pyshard } from '../../src/index.js'
import type { OpenOptions } from '../../src/index.js'
import { OWN_SHARDS, openOptions } from '../conformance/context.js'
import type { Caps, MakeStore } from '../conformance/suite.js'

const processors = 'test/fixtures/processors.ts'

/** What worker stores can and cannot do. */
export const WORKER_CAPS: Caps = { processors: true, sweepTimer: true, staleStore: OWN_SHARDS }

/** Opens worker stores of `base` (with `codec`, when given) honouring each concern's settings. */
export function workerStores(base: OpenOptions, codec?: 'clone' | 'columns' | 'msgpack'): MakeStore {
  return async (s) => ({
    db: await Pyshard.open({
      ...base, transport: 'worker', processors, ...openOptions(s),
      transportOptions: { sweepInterval: 20, ...(codec !== undefined ? { codec } : {}) },
    }),
  })
}
