/** The CLI as a new user meets it: --version, help that lists only real flags, --json, its own words, pyshard set. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, parseCat, runCli, startCluster } from './helpers/cli.js'
import type { Cluster } from './helpers/cli.js'
import type { Command } from '../cli/command.js'
import { bootstrap, shard, up } from '../cli/servers.js'
import { set, write } from '../cli/write.js'
import { cat } from '../cli/cat.js'
import { pop, read, remove } from '../cli/keys.js'
import { createIndex, dropIndex, indexes } from '../cli/index-admin.js'
import { stat } from '../cli/stat.js'

const test = suite<{ cluster: Cluster | null }>('cli: usability', { cluster: null })
const COMMANDS: Command[] = [up, shard, bootstrap, write, set, cat, read, pop, remove, indexes, createIndex, dropIndex, stat]

test.before(async (ctx) => {
  ctx.cluster = await startCluster()
})
test.after(async (ctx) => {
  if (ctx.cluster !== null) await ctx.cluster.stop()
})
const b = (ctx: { cluster: Cluster | null }): string[] => (ctx.cluster as Cluster).bootstrap

test('--version prints the package version', async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  for (const flag of ['--version', '-V']) {
    const r = await runCli([flag])
    assert.is(r.code, 0)
    assert.is(r.stdout, `${version}\n`)
  }
})

test('every flag a help text lists is one the command takes, and every flag it takes is listed; no empty "Options:" heading', () => {
  for (const cmd of COMMANDS) {
    const help = cmd.help
    assert.not.match(help, /Options:\n\s*\n/, `${cmd.name}: empty Options: heading`)
    assert.not.match(help, /Options:\n(?! {2})/, `${cmd.name}: Options: heading without options under it`)
    const listed = new Set([...help.matchAll(/(?:^|[\s[(])--([a-z][a-z-]*)/g)].map((m) => m[1] as string))
    const taken = new Set([...Object.keys(cmd.options), 'help'])
    for (const flag of listed) assert.ok(taken.has(flag), `pyshard ${cmd.name} --help lists --${flag}, which it does not take`)
    for (const flag of taken) assert.ok(listed.has(flag), `pyshard ${cmd.name} takes --${flag}, which its help does not list`)
  }
})

test('the main help lists every command', async () => {
  const top = (await runCli(['--help'])).stdout
  for (const cmd of COMMANDS) assert.match(top, new RegExp(`^  ${cmd.name} `, 'm'))
})

test('bootstrap --help offers --data for the cluster metadata, and --fsync is not a bootstrap flag', async () => {
  const help = (await runCli(['bootstrap', '--help'])).stdout
  assert.match(help, /--data DIR/)
  assert.not.match(help, /--fsync/)
})

test('--host 0.0.0.0 without a token says --insecure, in the CLI\'s words', async () => {
  const r = await runCli(['shard', '--port', '0', '--host', '0.0.0.0'])
  assert.is(r.code, 2)
  assert.match(r.stderr, /--insecure/)
  assert.match(r.stderr, /--token is required/)
  assert.not.match(r.stderr, /options\./)
})

test('relative paths are documented as resolving against the current directory', async () => {
  for (const name of ['up', 'shard', 'bootstrap', 'read']) {
    assert.match((await runCli([name, '--help'])).stdout, /resolves? against the current directory/, name)
  }
})

test('pyshard set INDEX KEY VALUE writes one key (JSON, number or string); --json on set, read, pop, indexes, cat', async (ctx) => {
  const s = await runCli(['set', 'people', 'ada', '{"born":1815}', '--force', '--json', ...b(ctx)])
  assert.is(s.code, 0, s.stderr)
  const written = JSON.parse(s.stdout) as { key: string; hash: number; size: number }
  assert.is(written.key, 'ada')
  assert.ok(written.size > 0)
  assert.is((await runCli(['set', 'people', 'n', '42', ...b(ctx)])).code, 0)
  assert.is((await runCli(['set', 'people', 's', 'hello world', ...b(ctx)])).code, 0)

  const r = await runCli(['read', 'people', 'ada', '--json', ...b(ctx)])
  assert.equal(JSON.parse(r.stdout), { key: 'ada', hash: written.hash, record: { born: 1815 } })
  assert.equal(JSON.parse((await runCli(['indexes', '--json', ...b(ctx)])).stdout), ['people'])
  const cat = (await runCli(['cat', 'people', '--json', ...b(ctx)])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; record: unknown })
  assert.equal(Object.fromEntries(cat.map((e) => [e.key, e.record])), { ada: { born: 1815 }, n: 42, s: 'hello world' })
  const p = await runCli(['pop', 'people', 'n', '--json', ...b(ctx)])
  assert.is((JSON.parse(p.stdout) as { record: unknown }).record, 42)
  assert.is(parseCat((await runCli(['cat', 'people', ...b(ctx)])).stdout).size, 2)
})

test('set into a missing index without --force fails naming --force; bad JSON is bad usage', async (ctx) => {
  const missing = await runCli(['set', 'nope', 'k', 'v', ...b(ctx)])
  assert.is(missing.code, 1)
  assert.match(missing.stderr, /--force/)
  const bad = await runCli(['set', 'people', 'k', '{oops', ...b(ctx)])
  assert.is(bad.code, 2)
  assert.match(bad.stderr, /not valid JSON/)
})

test.run()
