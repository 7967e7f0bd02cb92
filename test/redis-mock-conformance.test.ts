import RedisMock from 'ioredis-mock'
import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'
import { REDIS_CAPS } from './conformance/context.js'

// ioredis-mock instances on one host:port share data, so each runner gets its own port (its stores share it;
// every test works in its own index).
const config = (port: number, shards: number) => ({
  transport: 'redis',
  shards: Array.from({ length: shards }, (_, i) => ({ name: `r${i}`, url: `redis://127.0.0.1:${port}/0`, prefix: `mock${port}` })),
})
const caps = { ...REDIS_CAPS, clock: 'ioredis-mock keeps its own time, as Redis does: an injected clock cannot drive its TTL' }

conformance('redis over ioredis-mock, 1 shard', async () => ({ db: await Pyshard.open({ config: config(40001, 1), transportOptions: { redisClient: RedisMock } }) }), caps)
conformance('redis over ioredis-mock, 3 shards on one Redis', async () => ({ db: await Pyshard.open({ config: config(40002, 3), transportOptions: { redisClient: RedisMock } }) }), caps)
