import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'
import { OWN_SHARDS, openOptions } from './conformance/context.js'
import type { Caps } from './conformance/suite.js'

const processors = 'test/fixtures/processors.ts'
// In-process shards sweep on the default timer (1 s): the ttl concern waits for its events.
const caps: Caps = { processors: true, sweepTimer: true, staleStore: OWN_SHARDS }

conformance('memory, 4 shards (default)', async (s) => ({ db: await Pyshard.open({ processors, ...openOptions(s) }) }), caps)
conformance('memory, 1 shard', async (s) => ({ db: await Pyshard.open({ shards: 1, processors, ...openOptions(s) }) }), caps)
