import { Pyshard } from '../src/index.js'
import type { ShardConfig } from '../src/index.js'
import { conformance } from './conformance/suite.js'
import type { MakeStore, OpenedStore } from './conformance/suite.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

const processors = 'test/fixtures/processors.ts'

function connect(cluster: TcpCluster, token: string | undefined): Promise<Pyshard> {
  return Pyshard.connect(token === undefined ? cluster.target : { bootstrap: cluster.target, token })
}

/**
 * A fresh cluster of 2 shard servers (in this process, so they take the store's clock and
 * sweep every 20 ms) behind a bootstrap server, per store. Evict/expire are the servers' events.
 */
function tcp(token?: string): MakeStore {
  return async (s = {}) => {
    const cluster = await startTcpCluster({
      shards: 2, processors, size: s.size, onFull: s.onFull,
      ...(token !== undefined ? { token } : {}),
      server: { sweepInterval: 20, ...(s.clock !== undefined ? { now: s.clock.now } : {}) },
    })
    try {
      return { db: await connect(cluster, token), events: cluster.servers, stop: () => cluster.stop() }
    } catch (err) {
      await cluster.stop()
      throw err
    }
  }
}

/** A store whose map is the cluster's first shard alone at epoch 0; the cluster (epoch 1) has split [0, 1) in halves. */
function stale(token?: string): (index: string) => Promise<OpenedStore> {
  return async (index) => {
    const cluster = await startTcpCluster({ shards: 2, ...(token !== undefined ? { token } : {}) })
    try {
      const full = await connect(cluster, token)
      await full.createIndex(index)
      await full.close()
      const { name, host, port } = cluster.config.shards[0] as ShardConfig
      const db = await Pyshard.open({
        config: { transport: 'tcp', epoch: 0, ...(token !== undefined ? { token } : {}), shards: [{ name, host, port }] },
        mapSource: async () => cluster.config,
      })
      return { db, stop: () => cluster.stop() }
    } catch (err) {
      await cluster.stop()
      throw err
    }
  }
}

conformance('tcp, 2 shard servers behind a bootstrap server', tcp(), { processors: true, sweepTimer: true, staleStore: stale() })
conformance('tcp with a token, 2 shard servers', tcp('s3cret-token'), { processors: true, sweepTimer: true, staleStore: stale('s3cret-token') })
