// docs/redis.md's redis-cli lines print what their comments say, against a real redis-server
// holding the documented config's data (skipped, with the reason, when redis-server is missing).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Pyshard } from '../src/index.js'
import { redisMissing, skipAll, startRedis } from './helpers/redis-server.js'
import type { RedisProcess } from './helpers/redis-server.js'

const NAME = 'docs/redis.md redis-cli example'
const TESTS = ['each redis-cli line of the key layout section prints what its comment says']
const missing = redisMissing()
let cliMissing: string | null = null
try {
  execFileSync('redis-cli', ['--version'], { stdio: 'ignore' })
} catch {
  cliMissing = 'redis-cli is not installed'
}

if (missing !== null || cliMissing !== null) skipAll(NAME, (missing ?? cliMissing) as string, TESTS)
else {
  const test = suite<{ redis: RedisProcess | null }>(NAME, { redis: null })
  test.before(async (ctx) => {
    ctx.redis = await startRedis()
  })
  test.after(async (ctx) => {
    await ctx.redis?.stop()
  })

  test(TESTS[0] as string, async (ctx) => {
    const url = (ctx.redis as RedisProcess).url
    // The documented config, both shards on the test server (users-b keeps its own prefix).
    const db = await Pyshard.open({
      config: {
        transport: 'redis',
        shards: [
          { name: 'users-a', start: 0, end: 0.5, url },
          { name: 'users-b', start: 0.5, end: 1, url, prefix: 'app1' },
        ],
      },
    })
    try {
      await db.createIndex('users')
      await db.write('users', 'grace', { born: 1906 })
      await db.write('users', 'ada', { born: 1815 })
    } finally {
      await db.close()
    }
    const doc = readFileSync('docs/redis.md', 'utf8')
    const lines = [...doc.matchAll(/^redis-cli (\w+) (.+?)\s+# (\S+)/gm)]
    assert.ok(lines.length >= 3, 'the doc has its redis-cli lines')
    for (const [line, command, args, expected] of lines) {
      const argv = [...(args as string).matchAll(/'([^']*)'|(\S+)/g)].map((m) => (m[1] ?? m[2]) as string)
      const out = execFileSync('redis-cli', ['-p', String((ctx.redis as RedisProcess).port), command as string, ...argv], { encoding: 'utf8' })
      assert.is(out.trim().split('\n')[0], expected, line)
    }
    // The aside: ada is on users-b, under its prefix.
    const ada = execFileSync('redis-cli', ['-p', String((ctx.redis as RedisProcess).port), 'GET', 'app1:{users-b:users}:ada'], { encoding: 'utf8' })
    assert.is(ada.trim(), '{"born":1815}')
  })
  test.run()
}
