// 50 client connections at once, each writing and reading back 1,000 keys of its own.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Pyshard } from '../src/index.js'
import { startTcpCluster } from './helpers/tcp-cluster.js'
import type { TcpCluster } from './helpers/tcp-cluster.js'

const CLIENTS = 50
const KEYS = 1000

const test = suite<{ cluster: TcpCluster; dbs: Pyshard[] }>('tcp: 50 concurrent client connections', {} as never)

test.before(async (ctx) => {
  ctx.cluster = await startTcpCluster({ shards: 2 })
  ctx.dbs = await Promise.all(Array.from({ length: CLIENTS }, () => Pyshard.connect(ctx.cluster.target)))
  await ctx.dbs[0]?.createIndex('many')
})

test.after(async (ctx) => {
  await Promise.allSettled((ctx.dbs ?? []).map((db) => db.close()))
  await ctx.cluster?.stop()
})

test('each writes 1,000 keys and reads every value back intact', async ({ cluster, dbs }) => {
  await Promise.all(dbs.map(async (db, c) => {
    const keys = Array.from({ length: KEYS }, (_, i) => `c${c}-k${i}`)
    // Singles and batches mixed: half written one by one (all in flight at once), half with writeMany.
    await Promise.all(keys.slice(0, KEYS / 2).map((k, i) => db.write('many', k, { c, i, pad: 'x'.repeat(i % 200) })))
    await db.writeMany('many', keys.slice(KEYS / 2).map((k, j) => [k, { c, i: j + KEYS / 2, pad: 'x'.repeat((j + KEYS / 2) % 200) }]))
    const got = await Promise.all(keys.map((k) => db.read('many', k)))
    got.forEach((e, i) => assert.equal(e?.record, { c, i, pad: 'x'.repeat(i % 200) }, keys[i]))
    const again = await db.readMany('many', keys)
    again.forEach((e, i) => assert.equal(e?.record, got[i]?.record))
  }))
  const stat = await dbs[0]?.stat()
  assert.is(stat?.reduce((n, s) => n + s.count, 0), CLIENTS * KEYS)
  assert.ok(cluster.servers.every((s) => s.connections > 0))
})

test.run()
