import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'
import { REDIS_CAPS } from './conformance/context.js'
import { redisMissing, skipAll, startRedis } from './helpers/redis-server.js'

const missing = redisMissing()
if (missing !== null) {
  skipAll('conformance: redis over a real redis-server', missing, ['the conformance suite'])
} else {
  const server = await startRedis()
  conformance('redis over a real redis-server, 2 shards sharing it', async () => ({
    db: await Pyshard.open({
      config: {
        transport: 'redis',
        shards: [
          { name: 'a', url: server.url },
          { name: 'b', url: server.url, prefix: 'other' },
        ],
      },
    }),
  }), { ...REDIS_CAPS, teardown: () => server.stop() })
}
