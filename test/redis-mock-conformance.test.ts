import RedisMock from 'ioredis-mock'
import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'

// ioredis-mock instances on one host:port share data, so each store gets its own port.
const config = (port: number, shards: number) => ({
  transport: 'redis',
  shards: Array.from({ length: shards }, (_, i) => ({ name: `r${i}`, url: `redis://127.0.0.1:${port}/0`, prefix: `mock${port}` })),
})

conformance('redis over ioredis-mock, 1 shard', () => Pyshard.open({ config: config(40001, 1), transportOptions: { redisClient: RedisMock } }))
conformance('redis over ioredis-mock, 3 shards on one Redis', () => Pyshard.open({ config: config(40002, 3), transportOptions: { redisClient: RedisMock } }))
