// The package as npm publishes it: `npm pack`, then `npm install` of the tarball into a fresh
// project. ESM import, CJS require and a strict type check (NodeNext and Bundler resolution) run
// against the installed copy; ioredis (an optional peer) is absent there, so the redis transport
// must say how to add it.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve('.')
const test = suite<{ dir: string; tarball: string }>('package install', { dir: '', tarball: '' })
const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 })

test.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-install-'))
  // scripts/test.mjs has just built dist/; packing again through prepack would only rebuild it.
  if (!existsSync(join(root, 'dist/src/index.js'))) execFileSync('npx', ['tsup', '--silent'], { cwd: root, stdio: 'inherit' })
  const packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', ctx.dir], root)) as { filename: string }[]
  ctx.tarball = join(ctx.dir, (packed[0] as { filename: string }).filename)
  const app = join(ctx.dir, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
  npm(['install', ctx.tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], app)
})
test.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }))

test('the tarball holds the build, the license and no source maps or CommonJS CLI', ({ dir }) => {
  const pkg = join(dir, 'app/node_modules/pyshard')
  for (const f of ['LICENSE', 'dist/src/index.js', 'dist/src/index.cjs', 'dist/cli/main.js', 'dist/src/adapters/keyv.js', 'dist/transports/worker/host.js']) {
    assert.ok(existsSync(join(pkg, f)), `${f} is packed`)
  }
  assert.not.ok(existsSync(join(pkg, 'dist/cli/main.cjs')), 'no CommonJS CLI')
  const maps = execFileSync('find', [join(pkg, 'dist'), '-name', '*.map'], { encoding: 'utf8' })
  assert.is(maps.trim(), '', 'no source maps')
  assert.ok(existsSync(join(dir, 'app/node_modules/lmdb')), 'lmdb (a dependency) installed')
  assert.not.ok(existsSync(join(dir, 'app/node_modules/ioredis')), 'ioredis (an optional peer) not installed')
})

test('ESM: opens a store, the keyv store and the servers entry load; redis without ioredis says npm install ioredis', ({ dir }) => {
  const app = join(dir, 'app')
  writeFileSync(join(app, 'esm.mjs'), `
    import { Pyshard, PyshardError } from 'pyshard'
    import { KeyvPyshard } from 'pyshard/keyv'
    import { ShardServer } from 'pyshard/server'
    const db = await Pyshard.open({ shards: 2 })
    await db.createIndex('i')
    await db.write('i', 'k', { a: 1 })
    const r = await db.read('i', 'k')
    const kv = new KeyvPyshard(db, { index: 'kv' })
    await kv.set('x', 'y')
    let redis = ''
    try { await Pyshard.open({ config: { transport: 'redis', shards: [{ name: 'r', url: 'redis://127.0.0.1:1' }] } }) } catch (e) { redis = (e instanceof PyshardError ? e.code + ': ' : '') + e.message }
    console.log(JSON.stringify({ record: r.record, kv: await kv.get('x'), server: typeof ShardServer, redis }))
    await db.close()
  `)
  const out = JSON.parse(execFileSync(process.execPath, ['esm.mjs'], { cwd: app, encoding: 'utf8' }))
  assert.equal({ ...out, redis: undefined }, { record: { a: 1 }, kv: 'y', server: 'function', redis: undefined })
  assert.match(out.redis, /^BAD_CONFIG: .*npm install ioredis/)
})

test('CJS: require opens a store and shares one error class with the ESM-only worker host', ({ dir }) => {
  const app = join(dir, 'app')
  writeFileSync(join(app, 'cjs.cjs'), `
    const { Pyshard, PyshardError } = require('pyshard')
    const { KeyvPyshard } = require('pyshard/keyv')
    ;(async () => {
      const db = await Pyshard.open({ shards: 2, transport: 'worker' })
      await db.createIndex('i')
      await db.write('i', 'k', [1, 2])
      let code = ''
      try { await db.read('nope', 'k') } catch (e) { code = e instanceof PyshardError ? e.code : 'wrong class' }
      const record = (await db.read('i', 'k')).record
      await db.close()
      console.log(JSON.stringify({ code, record, keyv: typeof KeyvPyshard }))
    })()
  `)
  const out = JSON.parse(execFileSync(process.execPath, ['cjs.cjs'], { cwd: app, encoding: 'utf8' }))
  assert.equal(out, { code: 'INDEX_NOT_FOUND', record: [1, 2], keyv: 'function' })
})

test('the CLI runs from the installed package', ({ dir }) => {
  const out = execFileSync(join(dir, 'app/node_modules/.bin/pyshard'), ['--version'], { encoding: 'utf8' })
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
  assert.is(out.trim(), version)
})

for (const [module, moduleResolution] of [['NodeNext', 'NodeNext'], ['ESNext', 'Bundler']] as const) {
  test(`the installed types check a strict consumer under ${moduleResolution} resolution (test/types/consumer.ts)`, ({ dir }) => {
    const sub = join(dir, 'app', moduleResolution)
    mkdirSync(sub, { recursive: true })
    writeFileSync(join(sub, 'package.json'), JSON.stringify({ type: 'module' }))
    copyFileSync(join(root, 'test/types/consumer.ts'), join(sub, 'consumer.ts'))
    writeFileSync(join(sub, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module, moduleResolution, target: 'ES2022', lib: ['ES2023', 'ESNext.Disposable'], strict: true, noEmit: true,
        // The package's own .d.ts are checked too: no skipLibCheck.
        skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')],
      },
      files: ['consumer.ts'],
    }))
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    const res = spawnSync(process.execPath, [tsc, '-p', sub], { cwd: sub, encoding: 'utf8' })
    assert.is(res.status, 0, res.stdout + res.stderr)
  })
}

test.run()
