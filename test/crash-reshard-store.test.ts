// db.reshard on a store with a data dir, the process killed (SIGKILL) mid-move: opened again
// with only its dataDir, the store rolls the move back (killed before the cut-over) or finishes
// it (killed after), every acknowledged write is there, and the next reshard completes.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'

const CHILD = fileURLToPath(new URL('./helpers/reshard-store-child.mjs', import.meta.url))
const KEYS = 3000

interface Ctx { dir: string }
const test = suite<Ctx>('db.reshard with a data dir: a crash mid-move', {} as Ctx)

test.before((ctx) => { ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-crash-reshard-store-')) })
test.after((ctx) => { rmSync(ctx.dir, { recursive: true, force: true }) })

/** Runs the child until it kills itself; resolves with the last acknowledged value of each key written during the move. */
function runChild(args: string[]): Promise<{ acked: Map<string, string>; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      if (!out.includes('filled')) return reject(new Error(`child failed (${code ?? signal}): ${err}`))
      const acked = new Map<string, string>()
      for (const line of out.split('\n')) {
        const m = /^ack (\S+) (\S+)$/.exec(line)
        if (m) acked.set(m[1] as string, m[2] as string)
      }
      resolve({ acked, signal, out })
    })
  })
}

/**
 * Every key is there. With `always` it holds its last acknowledged value or a later write's (one
 * in flight at the kill, or whose `ack` line the kill cut off); with `everysec` the last
 * milliseconds of acknowledged writes may be lost, so any value written to it passes.
 */
async function check(db: Pyshard, acked: Map<string, string>, exact: boolean): Promise<void> {
  const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`)
  const got = await db.readMany('k', keys)
  const seq = (v: string): number => (v.startsWith('w') ? Number(v.split('-')[1]) : -1)
  const wrong: string[] = []
  got.forEach((e, i) => {
    const key = keys[i] as string
    const value = e?.record as string | undefined
    const want = acked.get(key) ?? `v${i}`
    if (value !== undefined && (value === want || seq(value) > seq(want) || (!exact && (value === `v${i}` || seq(value) >= 0)))) return
    wrong.push(`${key}: ${String(value)} (want ${want})`)
  })
  assert.is(wrong.length, 0, `${wrong.length} keys wrong: ${wrong.slice(0, 5).join('; ')}`)
}

const cases: Array<{ name: string; transport: 'memory' | 'worker'; fsync: 'always' | 'everysec'; from: number; to: number; phase: string; after: number }> = [
  { name: 'killed mid-copy: rolled back', transport: 'memory', fsync: 'always', from: 2, to: 3, phase: 'copy', after: 2 },
  { name: 'killed at the cut-over: finished', transport: 'memory', fsync: 'always', from: 2, to: 3, phase: 'cut-over', after: 3 },
  { name: 'killed while the sources drop what they handed over: finished', transport: 'memory', fsync: 'everysec', from: 3, to: 2, phase: 'cleanup', after: 2 },
  { name: 'worker shards, killed at the cut-over: finished', transport: 'worker', fsync: 'everysec', from: 2, to: 3, phase: 'cut-over', after: 3 },
]

for (const c of cases) {
  test(`${c.name} (${c.transport}, fsync ${c.fsync}, ${c.from} -> ${c.to} shards)`, async (ctx) => {
    const dataDir = join(ctx.dir, `${c.transport}-${c.phase}-${c.from}-${c.to}`)
    const { acked, signal, out } = await runChild([dataDir, c.fsync, c.transport, String(c.from), String(c.to), c.phase])
    assert.is(signal, 'SIGKILL', `the child was not killed at ${c.phase}: ${out.slice(-200)}`)
    // Only the data dir: the map in force and the move come from it.
    const db = await Pyshard.open({ dataDir, transport: c.transport })
    try {
      assert.is(db.map.shards.length, c.after, `the map in force after recovery: ${JSON.stringify(db.map.config.shards)}`)
      await check(db, acked, c.fsync === 'always')
      assert.is((await db.stat()).reduce((n, s) => n + s.count + (s.handover ?? 0), 0), KEYS, 'each key once, nothing left over')
      // The shards of the other map are gone from the dir.
      assert.equal(readdirSync(dataDir).filter((d) => d !== '%store').sort(), db.map.shards.map((s) => s.name).sort())
      const before = db.map.epoch
      const back = await db.reshard({ shards: c.after === c.to ? c.from : c.to })
      assert.ok(back.epoch > before, `the second reshard raised the epoch (${before} -> ${back.epoch})`)
      await check(db, acked, c.fsync === 'always')
    } finally {
      await db.close()
    }
    // The finished reshard is recorded: opened again with only the dir, the store has its map.
    const again = await Pyshard.open({ dataDir, transport: c.transport })
    try {
      assert.is(again.map.shards.length, c.after === c.to ? c.from : c.to)
      assert.is((await again.stat()).reduce((n, s) => n + s.count, 0), KEYS)
    } finally {
      await again.close()
    }
  })
}

test('worker shards sharing one worker: a retired shard gives its dir back, and a later reshard brings the name back empty', async (ctx) => {
  const dataDir = join(ctx.dir, 'shared-worker')
  const db = await Pyshard.open({ transport: 'worker', shards: 3, workers: 1, dataDir })
  try {
    await db.createIndex('k')
    await db.writeMany('k', Array.from({ length: KEYS }, (_, i) => [`k${i}`, `v${i}`] as [string, string]))
    const epoch = db.map.epoch
    // shard2 leaves; its worker goes on for shard0 and shard1.
    await db.reshard({ shards: 2 })
    // shard2 comes back in a new worker, on the dir the old one had to give back.
    const back = await db.reshard({ shards: 3 })
    assert.ok(back.epoch >= epoch + 2, `epoch ${back.epoch} after two reshards from ${epoch}`)
    await check(db, new Map(), true)
    assert.is((await db.stat()).reduce((n, s) => n + s.count, 0), KEYS)
  } finally {
    await db.close()
  }
  const again = await Pyshard.open({ dataDir, transport: 'worker' })
  try {
    assert.is(again.map.shards.length, 3)
    await check(again, new Map(), true)
  } finally {
    await again.close()
  }
})

test.run()
