import { Pyshard } from '../src/index.js'
import type { OpenOptions } from '../src/index.js'
import { conformance } from './conformance/suite.js'
import { OWN_SHARDS, openOptions } from './conformance/context.js'
import type { Caps, MakeStore } from './conformance/suite.js'

const processors = 'test/fixtures/processors.ts'
const caps: Caps = { processors: true, sweepTimer: true, staleStore: OWN_SHARDS }

/** Worker stores of `base`; the hosts sweep (and report what they reclaimed) every 20 ms and read the clock from shared memory. */
function worker(base: OpenOptions, codec?: string): MakeStore {
  return async (s) => ({
    db: await Pyshard.open({
      ...base, transport: 'worker', processors, ...openOptions(s),
      transportOptions: { sweepInterval: 20, ...(codec !== undefined ? { codec } : {}) },
    }),
  })
}

conformance('worker, 4 shards on 2 workers (default columns codec)', worker({ shards: 4, workers: 2 }), caps)
conformance('worker, 1 shard on 1 worker', worker({ shards: 1 }), caps)
conformance('worker, 3 shards, msgpack codec', worker({ shards: 3, workers: 3 }, 'msgpack'), caps)
conformance('worker, 2 shards, clone codec', worker({ shards: 2 }, 'clone'), caps)
