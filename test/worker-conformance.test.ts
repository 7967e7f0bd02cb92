import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'

const processors = 'test/fixtures/processors.ts'

conformance('worker, 4 shards on 2 workers (default columns codec)', () => Pyshard.open({ shards: 4, workers: 2, transport: 'worker', processors }), { processors: true })
conformance('worker, 1 shard on 1 worker', () => Pyshard.open({ shards: 1, transport: 'worker', processors }), { processors: true })
conformance('worker, 3 shards, msgpack codec', () => Pyshard.open({
  shards: 3, workers: 3, transport: 'worker', processors, transportOptions: { codec: 'msgpack' },
}), { processors: true })
conformance('worker, 2 shards, clone codec', () => Pyshard.open({
  shards: 2, transport: 'worker', processors, transportOptions: { codec: 'clone' },
}), { processors: true })
