// A store with a data dir that reshards itself and is killed (SIGKILL, by itself) at a chosen
// point of the move, for test/crash-reshard-store.test.ts. Runs the BUILT package.
//   node reshard-store-child.mjs DIR FSYNC TRANSPORT FROM TO PHASE
// Prints `filled`, then one line per acknowledged write during the move: `ack KEY VALUE`.
import { Pyshard } from '../../dist/src/index.js'

const [dir, fsync, transport, from, to, phase] = process.argv.slice(2)
const KEYS = 3000
const db = await Pyshard.open({ transport, shards: Number(from), dataDir: dir, fsync })
await db.createIndex('k')
await db.writeMany('k', Array.from({ length: KEYS }, (_, i) => [`k${i}`, `v${i}`]))
// Everything written so far is committed well before the kill, whatever the policy.
await new Promise((resolve) => setTimeout(resolve, 300))
process.stdout.write('filled\n')

let stop = false
let n = 0
const writer = async (w) => {
  while (!stop) {
    const key = `k${(n++ * 7 + w) % KEYS}`
    const value = `w${w}-${n}`
    try {
      await db.write('k', key, value)
      process.stdout.write(`ack ${key} ${value}\n`)
    } catch {
      // A write refused during the move is not acknowledged: nothing to check.
    }
    // In-process shards answer without a turn of the event loop: let the move's steps run.
    await new Promise((resolve) => setImmediate(resolve))
  }
}
const writers = Array.from({ length: 4 }, (_, w) => writer(w))
await db.reshard({ shards: Number(to) }, {
  onProgress: (p) => {
    if (p.phase === phase && (phase !== 'copy' || p.moved > 0)) process.kill(process.pid, 'SIGKILL')
  },
})
stop = true
await Promise.all(writers)
process.stdout.write('not killed\n')
await db.close()
