import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import diagnostics from 'node:diagnostics_channel'
import { Pyshard, registerTransport, execute, Shard, ShardUnavailableError, hashKey } from '../src/index.js'
import type { Request, Response, ShardClient, ClusterConfig } from '../src/index.js'

const test = suite('router')

/** A transport whose shards answer asynchronously through `send` only, recording every batch. */
const batches: { shard: string; size: number }[] = []
registerTransport('recording', {
  async connect(specs) {
    return specs.map((spec): ShardClient => {
      const shard = new Shard({ name: spec.name, start: spec.start, end: spec.end, size: spec.size, onFull: spec.onFull, epoch: 1 })
      return {
        send: async (batch: Request[]): Promise<Response[]> => {
          batches.push({ shard: spec.name, size: batch.length })
          return batch.map((r) => execute(shard, r))
        },
        close: async () => {},
      }
    })
  },
})

test('operations for one shard issued in one tick travel as one batch (auto-pipelining)', async () => {
  const db = await Pyshard.open({ config: { transport: 'recording', shards: [{ name: 'a' }, { name: 'b' }] } })
  try {
    await db.createIndex('p')
    const seen: { shard: string; size: number }[] = []
    const listener = (m: unknown): void => { seen.push(m as { shard: string; size: number }) }
    diagnostics.subscribe('pyshard:router:batch', listener)
    batches.length = 0
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
    await Promise.all(keys.map((k) => db.write('p', k, k)))
    diagnostics.unsubscribe('pyshard:router:batch', listener)
    assert.is(batches.length, 2, `one batch per shard, got ${JSON.stringify(batches)}`)
    assert.is(batches.reduce((a, b) => a + b.size, 0), 300)
    assert.equal(seen, batches, 'the diagnostics channel reports the same batches')
    const got = await db.readMany('p', keys)
    assert.ok(got.every((e, i) => e?.record === keys[i]))
  } finally {
    await db.close()
  }
})

test('a tick that issues more than maxBatch requests sends several batches', async () => {
  const db = await Pyshard.open({ maxBatch: 64, config: { transport: 'recording', shards: [{ name: 'only' }] } })
  try {
    await db.createIndex('p')
    batches.length = 0
    await db.writeMany('p', Array.from({ length: 200 }, (_, i): [string, number] => [`k${i}`, i]))
    assert.ok(batches.every((b) => b.size <= 64), JSON.stringify(batches))
    assert.is(batches.reduce((a, b) => a + b.size, 0), 200)
  } finally {
    await db.close()
  }
})

test('MOVED: a stale map is refreshed from mapSource and the request retried on the right shard', async () => {
  // The shards think the map has two halves; the client starts with a one-shard map of epoch 1.
  const halves: ClusterConfig = { epoch: 2, transport: 'moved-test', shards: [{ name: 'left', start: 0, end: 0.5 }, { name: 'right', start: 0.5, end: 1 }] }
  const shards = new Map([['left', new Shard({ name: 'left', start: 0, end: 0.5, epoch: 2 })], ['right', new Shard({ name: 'right', start: 0.5, end: 1, epoch: 2 })]])
  for (const s of shards.values()) s.createIndex('m')
  registerTransport('moved-test', {
    async connect(specs) {
      // A one-shard map reaches "left" for every key; "left" answers MOVED for the right half.
      return specs.map((spec): ShardClient => {
        const shard = shards.get(spec.name === 'all' ? 'left' : spec.name) as Shard
        return { send: async (batch) => batch.map((r) => execute(shard, r)), close: async () => {} }
      })
    },
  })
  let fetches = 0
  const db = await Pyshard.open({
    config: { epoch: 1, transport: 'moved-test', shards: [{ name: 'all' }] },
    mapSource: async () => { fetches++; return halves },
  })
  const changes: unknown[] = []
  db.on('mapChanged', (e) => changes.push(e))
  try {
    let key = 'x0'
    for (let i = 0; hashKey('m', key) < 0.5; i++) key = `x${i}`
    await db.write('m', key, 'right side')
    assert.is(fetches, 1)
    assert.equal(changes, [{ epoch: 2, previous: 1 }])
    assert.is(db.map.shards.length, 2)
    assert.is(shards.get('right')?.read('m', key, hashKey('m', key)), 'right side')
    assert.is((await db.read('m', key))?.record, 'right side')
  } finally {
    await db.close()
  }
})

test('MOVED without a newer map rejects with MOVED once retries run out', async () => {
  const left = new Shard({ name: 'left', start: 0, end: 0.5, epoch: 5 })
  left.createIndex('m')
  registerTransport('always-left', {
    async connect(specs) {
      return specs.map((): ShardClient => ({ send: async (batch) => batch.map((r) => execute(left, r)), close: async () => {} }))
    },
  })
  const db = await Pyshard.open({ config: { transport: 'always-left', shards: [{ name: 'all' }] }, mapSource: async () => ({ epoch: 1, transport: 'always-left', shards: [{ name: 'all' }] }) })
  try {
    let key = 'y0'
    for (let i = 0; hashKey('m', key) < 0.5; i++) key = `y${i}`
    try {
      await db.write('m', key, 1)
      assert.unreachable('written')
    } catch (err) {
      assert.is((err as { code?: string }).code, 'MOVED')
    }
  } finally {
    await db.close()
  }
})

test('a transport that fails a batch rejects every request of it with SHARD_UNAVAILABLE, and others keep working', async () => {
  let broken = true
  registerTransport('flaky', {
    async connect(specs) {
      return specs.map((spec): ShardClient => {
        const shard = new Shard({ name: spec.name, start: spec.start, end: spec.end })
        return {
          send: async (batch) => {
            if (broken && spec.name === 'bad') throw new Error('connection reset')
            return batch.map((r) => execute(shard, r))
          },
          close: async () => {},
        }
      })
    },
  })
  const db = await Pyshard.open({ config: { transport: 'flaky', shards: [{ name: 'good' }, { name: 'bad' }] } })
  try {
    await db.createIndex('f', { ifNotExists: true }).catch(() => {})
    broken = false
    await db.createIndex('f', { ifNotExists: true })
    broken = true
    const keys = Array.from({ length: 50 }, (_, i) => `f${i}`)
    const results = await Promise.allSettled(keys.map((k) => db.write('f', k, 1)))
    for (let i = 0; i < keys.length; i++) {
      const onBad = hashKey('f', keys[i] as string) >= 0.5
      const r = results[i] as PromiseSettledResult<unknown>
      if (onBad) {
        assert.is(r.status, 'rejected')
        assert.instance((r as PromiseRejectedResult).reason, ShardUnavailableError)
        assert.match(((r as PromiseRejectedResult).reason as Error).message, 'connection reset')
      } else assert.is(r.status, 'fulfilled')
    }
  } finally {
    await db.close()
  }
})

test('a transport with submit() is driven through its callbacks; a failing submit rejects its batch', async () => {
  let submits = 0
  let failNext = false
  registerTransport('callbacks', {
    async connect(specs) {
      return specs.map((spec): ShardClient => {
        const shard = new Shard({ name: spec.name, start: spec.start, end: spec.end })
        return {
          send: async () => { throw new Error('send must not be used when submit exists') },
          submit: (batch, done, fail) => {
            submits++
            if (failNext) return void setImmediate(() => fail(new Error('link down')))
            setImmediate(() => done(batch.map((r) => execute(shard, r))))
          },
          close: async () => {},
        }
      })
    },
  })
  const db = await Pyshard.open({ config: { transport: 'callbacks', shards: [{ name: 'one' }] } })
  try {
    await db.createIndex('s')
    await Promise.all([db.write('s', 'a', 1), db.write('s', 'b', 2)])
    assert.equal((await db.readMany('s', ['a', 'b'])).map((e) => e?.record), [1, 2])
    assert.is(submits, 3, 'one submit per tick')
    failNext = true
    const r = await Promise.allSettled([db.read('s', 'a'), db.read('s', 'b')])
    assert.ok(r.every((x) => x.status === 'rejected' && (x.reason as { code?: string }).code === 'SHARD_UNAVAILABLE'))
  } finally {
    await db.close()
  }
})

test.run()
