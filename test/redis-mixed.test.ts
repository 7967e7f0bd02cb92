import RedisMock from 'ioredis-mock'
import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'

// Two in-process shards and one redis shard (ioredis-mock, so this always runs) in one store.
conformance('mixed: two memory shards and one redis shard', () => Pyshard.open({
  config: {
    shards: [
      { name: 'm0', transport: 'memory' },
      { name: 'r1', transport: 'redis', url: 'redis://127.0.0.1:40003/0', prefix: 'mixed' },
      { name: 'm2', transport: 'memory' },
    ],
  },
  transportOptions: { redisClient: RedisMock },
}))
