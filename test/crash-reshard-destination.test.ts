// kill -9 of the destination shard server (a `pyshard shard --data` process) in the middle of a
// reshard's copy, while 4 writers write: the reshard rolls back and the old map keeps serving;
// the destination restarts on its data dir (the copies it had received are gone: they lie
// outside its range), a second reshard completes, and every acknowledged write and removal
// matches the writers' log, from the client that lived through it all and from a fresh one,
// with no key on two owners.
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { BootstrapServer } from '../transports/tcp/servers.js'
import { crashSuite, reshardCluster, startChildShard } from './helpers/crash-shard.js'
import { checkAgainstLog, startWriters, until } from './helpers/reshard-writers.js'

const test = crashSuite('crash: kill -9 of the destination mid-reshard', 'pyshard-crash-reshard-dest-')

test('the reshard rolls back, nothing acknowledged is lost, and a second reshard completes', async (ctx) => {
  const { shards: [, , c], two, three } = await reshardCluster(ctx, 'always')
  const bootstrap = new BootstrapServer({ config: two, healthInterval: 60_000, requestTimeout: 2000 })
  const { port } = await bootstrap.listen()
  try {
    const db = await Pyshard.connect({ bootstrap: `127.0.0.1:${port}`, requestTimeout: 10_000 })
    ctx.stores.push(db)
    await db.createIndex('k')
    // 20,000 keys: the destination's 30% take several copied pages, so the kill lands mid-copy.
    const writers = await startWriters(db, 'k', 20_000)

    let killed = false
    bootstrap.on('reshard', (p) => {
      if (!killed && p.phase === 'copy' && p.moved > 0) {
        killed = true
        c.child.kill('SIGKILL')
      }
    })
    try {
      await bootstrap.reshard(three(c.port))
      assert.unreachable('the reshard must fail once its destination is gone')
    } catch (err) {
      assert.ok(killed, `failed before the copy: ${(err as Error).message}`)
    }
    await c.kill()
    assert.is(bootstrap.map.epoch, 1, 'the old map still serves')
    // Writes to the range that was moving are taken again.
    const before = writers.acked()
    await until(() => writers.acked() > before + 200, 'writers go on after the rollback')

    const c2 = await startChildShard(join(ctx.dir, 'c'), 'always')
    ctx.shards.push(c2)
    const again = await Pyshard.open({ config: { shards: [{ name: 'shard', host: '127.0.0.1', port: c2.port }] } })
    try {
      const st = (await again.stat())[0] as { count: number; handover?: number }
      assert.is(st.count + (st.handover ?? 0), 0, 'the restarted destination kept none of the copies')
    } finally {
      await again.close()
    }

    const result = await bootstrap.reshard(three(c2.port))
    assert.is(result.epoch, 2)
    assert.ok(result.moved > 0)
    await writers.stop()
    assert.ok(writers.acked() > before)

    await checkAgainstLog(db, 'k', writers, 'the client that lived through it')
    const fresh = await Pyshard.connect(`127.0.0.1:${port}`)
    ctx.stores.push(fresh)
    await checkAgainstLog(fresh, 'k', writers, 'a fresh client')
  } finally {
    await bootstrap.close()
  }
})

test.run()
