// The built package as a consumer sees it: ESM and CJS entry points load, share
// one copy of the core, and the public .d.ts type-checks under both NodeNext and
// Bundler resolution (typed events included).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve('.')
const test = suite<{ dir: string }>('package', { dir: '' })

test.before((ctx) => {
  if (!existsSync(join(root, 'dist/src/index.js'))) execFileSync('npx', ['tsup', '--silent'], { cwd: root, stdio: 'inherit' })
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-consumer-'))
  mkdirSync(join(ctx.dir, 'node_modules'))
  symlinkSync(root, join(ctx.dir, 'node_modules', 'pyshard'), 'dir')
  symlinkSync(join(root, 'node_modules', '@types'), join(ctx.dir, 'node_modules', '@types'), 'dir')
})
test.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }))

test('ESM and CJS builds open a store and share one error class across entry points', ({ dir }) => {
  writeFileSync(join(dir, 'esm.mjs'), `
    import { Pyshard, PyshardError } from 'pyshard'
    import { transport } from 'pyshard/transports/memory'
    const db = await Pyshard.open({ shards: 2 })
    await db.createIndex('i')
    await db.write('i', 'k', { a: 1 })
    const r = await db.read('i', 'k')
    let code = ''
    try { await db.createIndex('i') } catch (e) { code = e instanceof PyshardError ? e.code : 'wrong class' }
    await db.close()
    console.log(JSON.stringify({ record: r.record, code, transport: typeof transport.connect }))
  `)
  writeFileSync(join(dir, 'cjs.cjs'), `
    const { Pyshard, PyshardError } = require('pyshard')
    ;(async () => {
      const db = await Pyshard.open()
      await db.createIndex('i')
      let code = ''
      try { await db.read('nope', 'k') } catch (e) { code = e instanceof PyshardError ? e.code : 'wrong class' }
      await db.close()
      console.log(JSON.stringify({ code }))
    })()
  `)
  const esm = JSON.parse(execFileSync(process.execPath, ['esm.mjs'], { cwd: dir, encoding: 'utf8' }))
  assert.equal(esm, { record: { a: 1 }, code: 'INDEX_EXISTS', transport: 'function' })
  const cjs = JSON.parse(execFileSync(process.execPath, ['cjs.cjs'], { cwd: dir, encoding: 'utf8' }))
  assert.equal(cjs, { code: 'INDEX_NOT_FOUND' })
})

for (const [module, moduleResolution] of [['NodeNext', 'NodeNext'], ['ESNext', 'Bundler']] as const) {
  test(`public types check for a consumer using ${moduleResolution} resolution`, ({ dir }) => {
    const sub = join(dir, moduleResolution)
    mkdirSync(sub, { recursive: true })
    writeFileSync(join(sub, 'package.json'), JSON.stringify({ type: 'module' }))
    writeFileSync(join(sub, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module, moduleResolution, target: 'ES2022', lib: ['ES2023', 'ESNext.Disposable'], strict: true, noEmit: true, types: ['node'], typeRoots: [join(dir, 'node_modules/@types')] },
      files: ['consumer.ts'],
    }))
    writeFileSync(join(sub, 'consumer.ts'), `
      import { Pyshard, PyshardError, type Entry, type EvictEvent, type ClusterConfig } from 'pyshard'
      const config: ClusterConfig = { shards: [{ name: 'a' }, { name: 'b', onFull: 'evict' }] }
      const db = await Pyshard.open({ config })
      db.on('evict', (e: EvictEvent) => console.log(e.shard, e.index, e.key))
      db.on('shardDown', (e) => console.log(e.shard, e.error.message))
      const r: Entry | null = await db.read('i', 'k')
      const w: { hash: number; size: number } = await db.write('i', 'k', { nested: [1, 'two', null] }, { ttl: 5 })
      // @ts-expect-error documents are JSON values
      await db.write('i', 'k', new Map())
      // @ts-expect-error unknown event
      db.on('nope', () => {})
      const err = new PyshardError('TIMEOUT', 'x')
      console.log(r, w, err.code satisfies string)
    `)
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    const res = spawnSync(process.execPath, [tsc, '-p', sub], { cwd: sub, encoding: 'utf8' })
    assert.is(res.status, 0, res.stdout + res.stderr)
  })
}

test.run()
