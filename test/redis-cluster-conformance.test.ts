import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'
import { REDIS_CAPS } from './conformance/context.js'
import { redisMissing, skipAll, startRedisCluster } from './helpers/redis-server.js'

const missing = redisMissing()
if (missing !== null) {
  skipAll('conformance: redis over a 3-master Redis Cluster', missing, ['the conformance suite'])
} else {
  const cluster = await startRedisCluster(3)
  conformance('redis over a 3-master Redis Cluster (2 shards, each spread over the masters)', async () => ({
    db: await Pyshard.open({
      config: {
        transport: 'redis',
        shards: [
          { name: 'c0', cluster: cluster.urls },
          { name: 'c1', cluster: [cluster.urls[1] as string] },
        ],
      },
    }),
  }), { ...REDIS_CAPS, teardown: () => cluster.stop() })
}
