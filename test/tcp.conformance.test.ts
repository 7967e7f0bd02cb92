import { Pyshard } from '../src/index.js'
import { conformance } from './conformance/suite.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

const processors = 'test/fixtures/processors.ts'

let plain: TcpCluster | undefined
conformance('tcp, 2 shard servers behind a bootstrap server', async () => {
  plain = await startTcpCluster({ shards: 2, processors })
  return Pyshard.connect(plain.target)
}, { processors: true, teardown: async () => plain?.stop() })

let secured: TcpCluster | undefined
conformance('tcp with a token, 2 shard servers', async () => {
  secured = await startTcpCluster({ shards: 2, processors, token: 's3cret-token' })
  return Pyshard.connect({ bootstrap: secured.target, token: 's3cret-token' })
}, { processors: true, teardown: async () => secured?.stop() })
