import RedisMock from 'ioredis-mock'
import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'
import { REDIS_CAPS } from './conformance/context.js'

// Two in-process shards and one redis shard (ioredis-mock, so this always runs) in one store.
// What a redis shard cannot do, the store as a whole cannot promise: the same caps as redis.
conformance('mixed: two memory shards and one redis shard', async () => ({
  db: await Pyshard.open({
    config: {
      shards: [
        { name: 'm0', transport: 'memory' },
        { name: 'r1', transport: 'redis', url: 'redis://127.0.0.1:40003/0', prefix: 'mixed' },
        { name: 'm2', transport: 'memory' },
      ],
    },
    transportOptions: { redisClient: RedisMock },
  }),
}), { ...REDIS_CAPS, clock: `one shard is a redis shard: ${REDIS_CAPS.clock}` })
