import { conformance } from './conformance/suite.js'
import { WORKER_CAPS, workerStores } from './helpers/worker-stores.js'

conformance('worker, 3 shards, msgpack codec', workerStores({ shards: 3, workers: 3 }, 'msgpack'), WORKER_CAPS)
conformance('worker, 2 shards, clone codec', workerStores({ shards: 2 }, 'clone'), WORKER_CAPS)
