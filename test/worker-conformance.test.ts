import { conformance } from './conformance/suite.js'
import { WORKER_CAPS, workerStores } from './helpers/worker-stores.js'

// The msgpack and clone codecs run in test/worker-codecs-conformance.test.ts: every concern opens
// stores of its own, and four worker configurations in one file outgrow the runner's per-file limit.
conformance('worker, 4 shards on 2 workers (default columns codec)', workerStores({ shards: 4, workers: 2 }), WORKER_CAPS)
conformance('worker, 1 shard on 1 worker', workerStores({ shards: 1 }), WORKER_CAPS)
