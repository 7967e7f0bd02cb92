/** The cluster `pyshard up` (and `npm start`) serves when no `--config` is given. */
import type { ClusterConfig } from '../src/index.js'

/** Bootstrap port of `pyshard up` without `--port`. */
export const DEFAULT_BOOTSTRAP_PORT = 5000

/** Two TCP shard servers on loopback, 64 MiB each, splitting [0,1) in half. */
export const DEFAULT_CLUSTER: ClusterConfig = {
  transport: 'tcp',
  shards: [
    { name: 'shard0-0.5', start: 0, end: 0.5, size: 64 * 1024 * 1024, host: '127.0.0.1', port: 5050 },
    { name: 'shard0.5-1', start: 0.5, end: 1, size: 64 * 1024 * 1024, host: '127.0.0.1', port: 5051 },
  ],
}
