import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'

conformance('memory, 4 shards (default)', () => Pyshard.open({ processors: 'test/fixtures/processors.ts' }), { processors: true })
conformance('memory, 1 shard', () => Pyshard.open({ shards: 1, processors: 'test/fixtures/processors.ts' }), { processors: true })
