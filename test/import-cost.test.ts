// Importing `pyshard` loads the core only: no networking module, no worker_threads, no native
// addon and no npm package (ioredis, msgpackr, ...). Each probe is a fresh Node process that
// imports the built package (ESM and CJS entries) and reports what the import added: builtin
// modules (`process.moduleLoadList`), shared objects (`process.report`), and the files of the
// module graph (ESM resolve hooks; `require.cache` for CJS). The same probes run on the redis
// transport, which must show net and ioredis: a probe that can see nothing would pass anything.
// What the import costs in time is measured in bench/import-cost.bench.ts, never asserted here.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const root = resolve('.')
const test = suite('import-cost')

interface Loaded {
  /** Builtin modules the import loaded first (`NativeModule x` / `Internal Binding x`). */
  builtins: string[]
  /** Shared objects (native addons) the import opened. */
  addons: string[]
  /** Files of the module graph: resolved URLs (ESM) or `require.cache` paths (CJS). */
  files: string[]
  /** Builtins named in the ESM graph (`node:x` specifiers resolved). */
  specifiers: string[]
  /** Whether a forbidden builtin was already loaded before the import (the diff would then be blind to it). */
  preloaded: string[]
}

const NETWORK = /^NativeModule (net|tls|_tls_wrap|_tls_common|dgram|dns|http|https|http2|_http_\w+|worker_threads)$|^Internal Binding (tcp_wrap|udp_wrap|tls_wrap|pipe_wrap|cares_wrap)$/

// Builtins and shared objects before and after one import; writes JSON with fs.writeSync (touching
// process.stdout would itself load `net` when stdout is a pipe).
const DIFF = `
const first = (list) => new Set(list)
process.report.getReport()
const so0 = first(process.report.getReport().sharedObjects)
const before = first(process.moduleLoadList)
const preloaded = [...before].filter((m) => NETWORK.test(m))
await load(process.argv[1])
const builtins = process.moduleLoadList.filter((m) => !before.has(m))
const addons = process.report.getReport().sharedObjects.filter((s) => !so0.has(s))
`

const ESM_DIFF = `
import { writeSync } from 'node:fs'
const NETWORK = ${NETWORK}
const load = (url) => import(url)
${DIFF}
writeSync(1, JSON.stringify({ builtins, addons, files: [], specifiers: [], preloaded }))
`

const CJS_DIFF = `
const { writeSync } = require('node:fs')
const NETWORK = ${NETWORK}
const load = async (path) => require(path)
;(async () => {
  const cached = new Set(Object.keys(require.cache))
  ${DIFF}
  const files = Object.keys(require.cache).filter((f) => !cached.has(f))
  writeSync(1, JSON.stringify({ builtins, addons, files, specifiers: [], preloaded }))
})()
`

// A resolve hook (run by Node on its hooks thread) posts every resolved URL to this thread; a last
// import of a sentinel marks the end of the list (messages on one port arrive in order).
const HOOKS = `
let port
export function initialize(data) { port = data.port }
export async function resolve(specifier, context, next) {
  if (specifier === 'import-cost:done') { port.postMessage(null); return { url: 'data:text/javascript,', shortCircuit: true } }
  const r = await next(specifier, context)
  port.postMessage(r.url)
  return r
}
`

const ESM_GRAPH = `
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'
import { writeSync } from 'node:fs'
const { port1, port2 } = new MessageChannel()
const urls = []
const done = new Promise((resolve) => port1.on('message', (url) => (url === null ? resolve() : urls.push(url))))
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}), { data: { port: port2 }, transferList: [port2] })
await import(process.argv[1])
await import('import-cost:done')
await done
port1.close()
const files = urls.filter((u) => u.startsWith('file:'))
const specifiers = urls.filter((u) => u.startsWith('node:'))
writeSync(1, JSON.stringify({ builtins: [], addons: [], files, specifiers, preloaded: [] }))
`

function probe(kind: 'esm' | 'esm-graph' | 'cjs', target: string): Loaded {
  const script = kind === 'esm' ? ESM_DIFF : kind === 'esm-graph' ? ESM_GRAPH : CJS_DIFF
  const args = kind === 'cjs' ? ['-e', script, target] : ['--input-type=module', '-e', script, target]
  return JSON.parse(execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' })) as Loaded
}

/** Everything the ESM and CJS entries at `entry` (without extension, under dist/) load. */
function loads(entry: string): { esm: Loaded; graph: Loaded; cjs: Loaded } {
  const esm = pathToFileURL(join(root, 'dist', `${entry}.js`)).href
  return { esm: probe('esm', esm), graph: probe('esm-graph', esm), cjs: probe('cjs', join(root, 'dist', `${entry}.cjs`)) }
}

/** npm packages among `files` (the folder after the last node_modules/). */
function packages(files: string[]): string[] {
  const names = new Set<string>()
  for (const f of files) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(decodeURIComponent(f).replace(/.*node_modules\/(?=.*node_modules\/)/, ''))
    if (m !== null) names.add(m[1] as string)
  }
  return [...names].sort()
}

const nativeAddons = (l: Loaded): string[] => l.addons.filter((s) => s.endsWith('.node'))
const network = (l: Loaded): string[] => l.builtins.filter((m) => NETWORK.test(m))

test.before(() => {
  if (!existsSync(join(root, 'dist/src/index.js'))) execFileSync('npx', ['tsup', '--silent'], { cwd: root, stdio: 'inherit' })
})

test('importing pyshard (ESM and CJS) loads no networking module, no worker_threads, no native addon, no npm package', () => {
  const { esm, graph, cjs } = loads('src/index')
  for (const [name, l] of [['ESM', esm], ['CJS', cjs]] as const) {
    assert.equal(l.preloaded, [], `${name}: already loaded before the import, so this probe could not see it`)
    assert.equal(network(l), [], `${name} import loaded networking or worker modules`)
    assert.equal(nativeAddons(l), [], `${name} import opened native addons`)
  }
  assert.equal(packages(graph.files), [], 'ESM import loaded npm packages')
  assert.equal(packages(cjs.files), [], 'CJS import loaded npm packages')
  const forbidden = graph.specifiers.filter((s) => /^node:(net|tls|dgram|dns|http|https|http2|worker_threads|child_process)$/.test(s))
  assert.equal(forbidden, [], 'the ESM graph imports networking or worker builtins')
  // The graph really was observed: the entry and the core it imports are in it.
  assert.ok(graph.files.some((f) => f.endsWith('/dist/src/index.js')), 'the resolve hook saw the entry')
  assert.ok(cjs.files.some((f) => f.endsWith('/dist/src/index.cjs')), 'require.cache holds the entry')
})

test('the probes see what a transport loads: the tcp transport pulls in net', () => {
  // (The redis transport no longer serves as this control: it loads ioredis only when a redis shard opens.)
  const { esm, cjs } = loads('transports/tcp/index')
  assert.ok(network(esm).includes('NativeModule net'), `ESM probe saw: ${network(esm).join(', ')}`)
  assert.ok(network(cjs).includes('NativeModule net'), `CJS probe saw: ${network(cjs).join(', ')}`)
})

test.run()
