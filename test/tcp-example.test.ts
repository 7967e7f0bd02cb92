// examples/cluster.ts (the README's networked quick start) runs as written and prints what it says.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'

const test = suite('tcp example')

test('examples/cluster.ts runs the seed\'s quick start over two shard servers and a bootstrap server', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/cluster.ts'], { encoding: 'utf8', timeout: 60_000 })
  assert.match(out, "{ hash: 0.38755105808377266, record: 'hello world' }")
  assert.match(out, "{ hash: 0.029390326933935285, record: { hello: 'world' } }")
  assert.match(out, /\nnull\n/)
  assert.match(out, /shard0-0\.5 at 127\.0\.0\.1:\d+: up, assigned/)
  assert.match(out, /shard0\.5-1 at 127\.0\.0\.1:\d+: up, assigned/)
})

test.run()
