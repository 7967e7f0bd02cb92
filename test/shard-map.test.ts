import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BadConfigError, ShardMap, DEFAULT_SHARD_SIZE, Pyshard } from '../src/index.js'

const test = suite('shard map')

function rejects(config: unknown, ...fragments: string[]): void {
  try {
    ShardMap.parse(config)
  } catch (err) {
    assert.instance(err, BadConfigError)
    assert.is((err as BadConfigError).code, 'BAD_CONFIG')
    for (const f of fragments) assert.match((err as Error).message, f)
    return
  }
  assert.unreachable(`config accepted: ${JSON.stringify(config)}`)
}

const seed = {
  shards: [
    { name: 'shard0-0.5', start: 0.0, end: 0.5, size: 1024, host: '127.0.0.1', port: 5050 },
    { name: 'shard0.5-1', start: 0.5, end: 1.0, size: 1024, host: '127.0.0.1', port: 5051 },
  ],
}

test('the seed\'s config parses, sorted, with defaults resolved; a shard with host and port is a tcp shard', () => {
  const map = ShardMap.parse({ ...seed, shards: [...seed.shards].reverse() })
  assert.equal(map.shards.map((s) => s.name), ['shard0-0.5', 'shard0.5-1'])
  assert.is(map.shards[0]?.transport, 'tcp')
  assert.is(ShardMap.parse({ shards: [{ name: 'a' }] }).shards[0]?.transport, 'memory')
  // A config-wide transport wins over the inference.
  assert.is(ShardMap.parse({ transport: 'memory', shards: [{ name: 'a', host: 'x', port: 1 }] }).shards[0]?.transport, 'memory')
  assert.is(map.shards[0]?.onFull, 'reject')
  assert.is(map.shards[1]?.size, 1024)
  assert.is(map.epoch, 1)
})

test('JSON text and files parse; unreadable files and bad JSON are BAD_CONFIG', () => {
  assert.is(ShardMap.parse(JSON.stringify(seed)).shards.length, 2)
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-map-'))
  try {
    const file = join(dir, 'cluster.json')
    writeFileSync(file, JSON.stringify({ ...seed, transport: 'tcp', epoch: 7 }))
    const map = ShardMap.load(file)
    assert.is(map.epoch, 7)
    assert.is(map.shards[1]?.transport, 'tcp')
    writeFileSync(file, '{"shards": [')
    assert.throws(() => ShardMap.load(file), (e: Error) => e instanceof BadConfigError && e.message.includes('not valid JSON'))
    assert.throws(() => ShardMap.load(join(dir, 'missing.json')), (e: Error) => e instanceof BadConfigError && e.message.includes('cannot read'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('unmarked shards split [0,1) evenly', () => {
  const map = ShardMap.parse({ shards: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] })
  assert.equal(map.shards.map((s) => [s.start, s.end]), [[0, 1 / 3], [1 / 3, 2 / 3], [2 / 3, 1]])
  assert.is(map.shards[0]?.size, DEFAULT_SHARD_SIZE)
})

test('each rule is named in its error', () => {
  rejects(null, 'must be a JSON object')
  rejects({}, '"shards" must be a non-empty array')
  rejects({ shards: [] }, 'non-empty array')
  rejects({ shards: [{}] }, 'shards[0]', '"name"')
  rejects({ shards: [{ name: 'a' }, { name: 'a' }] }, 'shard "a"', 'duplicate name')
  rejects({ shards: [{ name: 'a', start: 0, end: 0.5 }, { name: 'b', start: 0.5, end: 0.5 }] }, 'shard "b"', 'end (0.5) must be greater than start (0.5)')
  rejects({ shards: [{ name: 'a', start: 0.6, end: 0.2 }] }, 'shard "a"', 'greater than start')
  rejects({ shards: [{ name: 'a', start: 0, end: 0.4 }, { name: 'b', start: 0.5, end: 1 }] }, 'shard "b"', 'gap between 0.4')
  rejects({ shards: [{ name: 'a', start: 0, end: 0.6 }, { name: 'b', start: 0.5, end: 1 }] }, 'shard "b"', 'overlaps "a"')
  rejects({ shards: [{ name: 'a', start: 0.1, end: 1 }] }, 'shard "a"', 'cover [0, 1) from 0')
  rejects({ shards: [{ name: 'a', start: 0, end: 0.9 }] }, 'shard "a"', 'up to 1')
  rejects({ shards: [{ name: 'a', start: 0, end: 0.5 }, { name: 'b' }] }, 'shard "b"', 'mark every shard or none')
  rejects({ shards: [{ name: 'a', start: 0 }] }, 'shard "a"', 'start without end')
  rejects({ shards: [{ name: 'a', start: -0.5, end: 1 }] }, 'shard "a"', 'within [0, 1]')
  rejects({ shards: [{ name: 'a', start: '0', end: 1 }] }, 'shard "a"', 'must be numbers')
  rejects({ shards: [{ name: 'a', size: 0 }] }, 'shard "a"', 'size must be a positive integer')
  rejects({ shards: [{ name: 'a', size: 1.5 }] }, 'shard "a"', 'size must be a positive integer')
  rejects({ shards: [{ name: 'a', size: '1024' }] }, 'shard "a"', 'size must be a positive integer')
  rejects({ shards: [{ name: 'a', onFull: 'drop' }] }, 'shard "a"', 'onFull')
  rejects({ transport: 'carrier-pigeon', shards: [{ name: 'a' }] }, 'unknown transport "carrier-pigeon"')
  rejects({ shards: [{ name: 'a', transport: 'udp' }] }, 'shard "a"', 'unknown transport "udp"')
  rejects({ epoch: -1, shards: [{ name: 'a' }] }, '"epoch"')
})

test('each transport checks its own fields when the store opens (BAD_CONFIG naming shard and field)', async () => {
  const opens = async (config: unknown, ...fragments: string[]): Promise<void> => {
    try {
      const db = await Pyshard.open({ config: config as never })
      await db.close()
    } catch (err) {
      assert.instance(err, BadConfigError)
      for (const f of fragments) assert.match((err as Error).message, f)
      return
    }
    assert.unreachable(`config accepted: ${JSON.stringify(config)}`)
  }
  await opens({ transport: 'tcp', shards: [{ name: 'a', port: 5050 }] }, 'shard "a"', 'needs a "host"')
  await opens({ transport: 'tcp', shards: [{ name: 'a', host: '127.0.0.1' }] }, 'shard "a"', 'needs a "port"')
  await opens({ transport: 'tcp', shards: [{ name: 'a', host: '127.0.0.1', port: 70000 }] }, 'shard "a"', 'port')
  await opens({ shards: [{ name: 'a', transport: 'redis' }] }, 'shard "a"', 'needs a "url" or a non-empty "cluster"')
  await opens({ shards: [{ name: 'a', transport: 'redis', cluster: [] }] }, 'shard "a"', '"cluster"')
  await opens({ shards: [{ name: 'a', transport: 'redis', url: 'redis://127.0.0.1:1', prefix: 'a{b' }] }, 'shard "a"', '"prefix"')
})

test('lookup finds the shard whose range holds a hash (binary search)', () => {
  const map = ShardMap.parse({
    shards: [
      { name: 'c', start: 0.5, end: 0.75 }, { name: 'a', start: 0, end: 0.1 },
      { name: 'b', start: 0.1, end: 0.5 }, { name: 'd', start: 0.75, end: 1 },
    ],
  })
  const names = (h: number): string | undefined => map.shards[map.lookup(h)]?.name
  assert.is(names(0), 'a')
  assert.is(names(0.0999), 'a')
  assert.is(names(0.1), 'b')
  assert.is(names(0.4999), 'b')
  assert.is(names(0.5), 'c')
  assert.is(names(0.75), 'd')
  assert.is(names(0.9999999), 'd')
  for (let i = 0; i < 1000; i++) {
    const h = i / 1000
    const s = map.shards[map.lookup(h)]
    assert.ok(s !== undefined && h >= s.start && h < s.end)
  }
})

test('Pyshard.open rejects a bad config with BAD_CONFIG and bad options with TypeError', async () => {
  try {
    await Pyshard.open({ config: { shards: [{ name: 'a', start: 0, end: 0.5 }] } })
    assert.unreachable('opened')
  } catch (err) {
    assert.instance(err, BadConfigError)
  }
  for (const bad of [{ shards: 0 }, { size: -1 }, { onFull: 'x' }, { maxBatch: 1.5 }, { config: seed, shards: 2 }]) {
    try {
      await Pyshard.open(bad as never)
      assert.unreachable(`opened with ${JSON.stringify(bad)}`)
    } catch (err) {
      assert.instance(err, TypeError)
      assert.match((err as Error).message, 'options.')
    }
  }
})

test.run()
