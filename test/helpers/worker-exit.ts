// Child process for test/worker-lifecycle.test.ts: opens a worker store, uses it,
// closes it (or not, with `open`), then returns without calling process.exit.
// The test checks that the process exits by itself.
import { Pyshard } from '../../src/index.js'

const mode = process.argv[2] ?? 'closed'
const db = await Pyshard.open({ shards: 4, workers: 2, transport: 'worker', processors: 'test/helpers/worker-processors.ts' })
await db.createIndex('exit')
await db.writeMany('exit', Array.from({ length: 100 }, (_, i): [string, number] => [`k${i}`, i]))
const [first] = await db.run('exit', 'sumScores', { field: 'x' })
if (mode === 'closed') await db.close()
process.stdout.write(`done ${JSON.stringify(first)}\n`)
