// The README's in-process examples run as written and print what it says.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const test = suite('examples')
const run = (file: string): string => execFileSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 60_000 })

test('examples/quickstart.ts prints the seed\'s records with their hashes', () => {
  const out = run('examples/quickstart.ts')
  assert.match(out, "{ hash: 0.38755105808377266, record: 'hello world' }")
  assert.match(out, "{ hash: 0.029390326933935285, record: { hello: 'world' } }")
  assert.match(out, /\nnull\n/)
})

test('examples/cache.ts stays within its byte limits and evicts', () => {
  const out = run('examples/cache.ts')
  const m = /(\d+) pages cached in (\d+) bytes \(limit (\d+)\), (\d+) evicted/.exec(out)
  assert.ok(m, out)
  const [, , bytes, limit, evicted] = m.map(Number)
  assert.ok((bytes as number) <= (limit as number))
  assert.ok((evicted as number) > 0)
})

test('examples/workers.ts runs the processor over memory and worker shards, with the same answer', () => {
  const out = run('examples/workers.ts')
  const memory = /4 memory shards.*?(\d+) ms\s+\((\d+) products, best: (.*)\)/.exec(out)
  const worker = /4 worker shards.*?(\d+) ms\s+\((\d+) products, best: (.*)\)/.exec(out)
  assert.ok(memory && worker, out)
  assert.is(memory[2], worker[2], 'both scored every product')
  assert.is(memory[3], worker[3], 'both found the same best products')
})

// The README's JavaScript samples are these files, run as plain Node (no tsx), importing the built package by its name.
const node = (file: string): string => execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 })
const readme = readFileSync('README.md', 'utf8')
for (const file of ['examples/quickstart.mjs', 'examples/servers.mjs', 'examples/keyv.mjs']) {
  test(`${file} is in the README as written, runs on plain Node and exits`, () => {
    assert.ok(readme.includes(readFileSync(file, 'utf8').trimEnd()), `README shows ${file} as it is`)
    const out = node(file)
    assert.match(out, file.endsWith('keyv.mjs') ? "{ name: 'Ada' }\n[ { name: 'Ada' }, undefined ]\nuser:1 { name: 'Ada' }" : "{ hash: 0.38755105808377266, record: 'hello world' }")
  })
}

test('the README quick start has no `await using` in its JavaScript sample (a SyntaxError on Node 20)', () => {
  const js = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] as string)
  assert.ok(js.length >= 3)
  for (const block of js) assert.not.match(block, /await using/)
})

test.run()
