// Regression: a Redis shard that is down at open printed ioredis's "Unhandled error event" on stderr,
// and the error said "Connection is closed." instead of the real ECONNREFUSED.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePort } from './helpers/ports.js'

const test = suite('redis open errors')
const ROOT = fileURLToPath(new URL('..', import.meta.url))

test('a Redis shard down at open: nothing printed by ioredis, and the error names ECONNREFUSED', async () => {
  const port = await freePort() // nothing listens there
  const script = `
    import { Pyshard } from './src/index.ts'
    try {
      await Pyshard.open({ config: { transport: 'redis', shards: [{ name: 'r', url: 'redis://127.0.0.1:${port}' }] }, connectTimeout: 2000 })
      console.log('OPENED')
    } catch (err) {
      console.log(JSON.stringify({ code: err.code, message: err.message }))
    }
    // Let any late ioredis error event surface before exiting.
    await new Promise((r) => setTimeout(r, 300))
  `
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
  assert.is(r.status, 0, r.stderr)
  const answer = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { code: string; message: string }
  assert.is(answer.code, 'SHARD_UNAVAILABLE')
  assert.match(answer.message, 'ECONNREFUSED')
  assert.not.match(r.stderr, 'Unhandled error event')
  assert.not.match(r.stderr, '[ioredis]')
})

test.run()
