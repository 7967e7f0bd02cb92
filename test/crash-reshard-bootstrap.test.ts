// kill -9 of the bootstrap server (`pyshard bootstrap --data DIR`) in the middle of a reshard,
// while 4 writers write, at two known steps (the PYSHARD_TEST_HOLD_RESHARD hook stops the reshard
// there): in the copy, then once the cut-over has begun. Started again on the same --data, it
// rolls the first back (the old map serves) and finishes the second (the new map serves), says
// which, and nothing acknowledged is lost; writes are not left frozen.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { Pyshard, hashKey } from '../src/index.js'
import { BootstrapClient } from '../transports/tcp/bootstrap-client.js'
import { startRunning } from './helpers/cli.js'
import type { Running } from './helpers/cli.js'
import { crashSuite, reshardCluster } from './helpers/crash-shard.js'
import { freePort } from './helpers/ports.js'
import { checkAgainstLog, startWriters, until } from './helpers/reshard-writers.js'

const test = crashSuite('crash: kill -9 of the bootstrap server mid-reshard', 'pyshard-crash-reshard-boot-')

test('killed in the copy: rolled back on restart; killed after the cut-over began: finished on restart', async (ctx) => {
  const { shards: [, , c], two, three: threeAt } = await reshardCluster(ctx, 'everysec')
  const three = threeAt(c.port)
  const file = join(ctx.dir, 'cluster.json')
  writeFileSync(file, JSON.stringify(two))
  const port = await freePort()
  const target = `127.0.0.1:${port}`
  const data = join(ctx.dir, 'boot')
  const running: Running[] = []
  const boot = async (hold?: 'copy' | 'cut-over'): Promise<Running> => {
    const r = await startRunning(['bootstrap', '--config', file, '--port', String(port), '--data', data], /ready on/,
      hold === undefined ? undefined : { PYSHARD_TEST_HOLD_RESHARD: hold })
    running.push(r)
    return r
  }
  const kill9 = async (r: Running): Promise<void> => {
    r.child.kill('SIGKILL')
    await r.exited
  }
  try {
    let bootstrap = await boot('copy')
    const db = await Pyshard.connect({ bootstrap: target, requestTimeout: 10_000 })
    ctx.stores.push(db)
    await db.createIndex('k')
    const writers = await startWriters(db, 'k', 20_000)

    // 1. Killed in the copy phase.
    const admin = new BootstrapClient(target)
    admin.reshard(three).catch(() => {})
    await until(() => /held at copy/.test(bootstrap.out()), 'the reshard reaches its copy')
    await kill9(bootstrap)
    await admin.close()
    bootstrap = await boot('cut-over')
    assert.match(bootstrap.out(), /had not reached its cut-over: rolled back; serving the map of epoch 1/)
    const afterRollback = writers.acked()
    await until(() => writers.acked() > afterRollback + 200, 'writes go on after the rollback')
    const k = writers.keys.find((key) => hashKey('k', key) >= 0.7) as string
    await db.write('k', k, -1)
    writers.log.set(k, -1)

    // 2. Killed once the cut-over has begun (recorded, every source committed and frozen).
    const admin2 = new BootstrapClient(target)
    admin2.reshard(three).catch(() => {})
    await until(() => /held at cut-over/.test(bootstrap.out()), 'the reshard reaches its cut-over')
    await kill9(bootstrap)
    await admin2.close()
    bootstrap = await boot()
    assert.match(bootstrap.out(), /had begun its cut-over: finished; serving the map of epoch 2/)
    const afterFinish = writers.acked()
    await until(() => writers.acked() > afterFinish + 200, 'writes go on after the cut-over is finished')
    await writers.stop()
    assert.is(db.map.epoch, 2)

    await checkAgainstLog(db, 'k', writers, 'the client that lived through it')
    const fresh = await Pyshard.connect(target)
    ctx.stores.push(fresh)
    assert.is(fresh.map.shards.length, 3)
    await checkAgainstLog(fresh, 'k', writers, 'a fresh client')
  } finally {
    for (const r of running) await kill9(r)
  }
})

test.run()
