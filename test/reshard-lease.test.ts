// A move's source never stays frozen once its coordinator is gone (the lease), a committed move
// holds its freeze until the new assignment, and a source restarted mid-move comes back frozen
// (its move recorded in the data dir) instead of taking writes to a range it may have handed over.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ShardHost } from '../src/host.js'
import { hashKey } from '../src/index.js'
import { errorFromCode } from '../src/errors.js'
import { finishReshard, reshardData } from '../src/reshard.js'
import type { ReshardDriver } from '../src/reshard.js'
import type { Request, Response } from '../src/protocol.js'
import type { ShardSpec } from '../src/shard-map.js'

interface Ctx { dir: string; hosts: ShardHost[] }
const test = suite<Ctx>('reshard: source lease and recorded move', {} as Ctx)
test.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pyshard-lease-'))
  ctx.hosts = []
})
test.after(async (ctx) => {
  for (const h of ctx.hosts) await h.close()
  rmSync(ctx.dir, { recursive: true, force: true })
})

const ALL: [number, number][] = [[0, 1]]

function host(ctx: Ctx, name = 'a'): ShardHost {
  const h = new ShardHost({ name, sweepInterval: 0 })
  ctx.hosts.push(h)
  h.execute({ op: 'createIndex', index: 'i' })
  return h
}

function write(h: ShardHost, key: string, doc: number): Response {
  return h.execute({ op: 'write', index: 'i', key, hash: hashKey('i', key), doc })
}

function code(r: Response): string {
  return r.ok ? 'ok' : r.code
}

/** Polls until `cond` holds (no bound on how soon: the test asserts what happens, not when). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.unreachable(`never happened: ${what}`)
}

test('a frozen move whose coordinator stops calling ends by itself: the freeze lifts', async (ctx) => {
  const h = host(ctx)
  assert.ok(h.execute({ op: 'migrateStart', ranges: ALL, lease: 30 }).ok)
  assert.ok(h.execute({ op: 'migrateFreeze' }).ok)
  assert.is(code(write(h, 'k', 1)), 'TRY_AGAIN')
  await until(() => code(write(h, 'k', 1)) === 'ok', 'the write is taken again')
  // The move is over: a late coordinator learns it and rolls back.
  assert.is(code(h.execute({ op: 'migrateTouch' })), 'BAD_REQUEST')
  assert.is(code(h.execute({ op: 'migrateCommit' })), 'BAD_REQUEST')
  assert.is(code(h.execute({ op: 'migrateDirty' })), 'BAD_REQUEST')
})

test('migrate ops renew the lease; a committed move keeps its freeze past it until the new assignment', async (ctx) => {
  const h = host(ctx)
  assert.ok(h.execute({ op: 'migrateStart', ranges: ALL, lease: 40 }).ok)
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    assert.ok(h.execute({ op: 'migrateTouch' }).ok, 'touched within the lease')
  }
  assert.ok(h.execute({ op: 'migrateFreeze' }).ok)
  assert.ok(h.execute({ op: 'migrateCommit' }).ok)
  await new Promise((resolve) => setTimeout(resolve, 120))
  assert.is(code(write(h, 'k', 1)), 'TRY_AGAIN', 'still frozen after three leases')
  assert.ok(h.execute({ op: 'configure', settings: { name: 'a', start: 0, end: 1, size: 1e9, onFull: 'reject', epoch: 2 } }).ok)
  // The assignment at the new epoch ends the move even if migrateEnd never comes (a coordinator that died).
  assert.is(code(h.execute({ op: 'remove', index: 'i', key: 'k', hash: hashKey('i', 'k') })), 'ok')
  assert.is(code(write(h, 'k', 1)), 'ok')
  assert.ok(h.execute({ op: 'migrateEnd' }).ok, 'a late migrateEnd is harmless')
})

test('migrateCommit needs a frozen move', (ctx) => {
  const h = host(ctx)
  assert.is(code(h.execute({ op: 'migrateCommit' })), 'BAD_REQUEST')
  assert.ok(h.execute({ op: 'migrateStart', ranges: ALL }).ok)
  assert.is(code(h.execute({ op: 'migrateCommit' })), 'BAD_REQUEST')
  assert.is(code(h.execute({ op: 'migrateStart', ranges: ALL, lease: 0 })), 'BAD_REQUEST')
  assert.ok(h.execute({ op: 'migrateEnd' }).ok)
})

async function persisted(ctx: Ctx, dir: string): Promise<ShardHost> {
  const h = new ShardHost({ name: 'a', sweepInterval: 0 })
  ctx.hosts.push(h)
  await h.persist({ dir, fsync: 'no' })
  return h
}

async function reopen(ctx: Ctx, h: ShardHost, dir: string): Promise<ShardHost> {
  await h.close()
  ctx.hosts.splice(ctx.hosts.indexOf(h), 1)
  return persisted(ctx, dir)
}

test('a source restarted after the freeze comes back frozen; its logged changes are gone, so migrateDirty refuses', async (ctx) => {
  const dir = join(ctx.dir, 'frozen')
  let h = await persisted(ctx, dir)
  h.execute({ op: 'configure', settings: { name: 'a', start: 0, end: 1, size: 1e9, onFull: 'reject', epoch: 1 } })
  h.execute({ op: 'createIndex', index: 'i' })
  assert.ok(code(write(h, 'k', 1)) === 'ok')
  assert.ok(h.execute({ op: 'migrateStart', ranges: ALL, lease: 60_000 }).ok)
  assert.ok(h.execute({ op: 'migrateFreeze' }).ok)
  h = await reopen(ctx, h, dir)
  assert.is(code(write(h, 'k', 2)), 'TRY_AGAIN', 'frozen after the restart')
  assert.is(code(h.execute({ op: 'migrateDirty' })), 'BAD_REQUEST')
  assert.equal(h.execute({ op: 'read', index: 'i', key: 'k', hash: hashKey('i', 'k') }), { ok: true, value: 1 }, 'reads go on')
  // The coordinator rolls back: the move ends, writes are taken, and a restart stays unfrozen.
  assert.ok(h.execute({ op: 'migrateEnd' }).ok)
  assert.is(code(write(h, 'k', 3)), 'ok')
  h = await reopen(ctx, h, dir)
  assert.is(code(write(h, 'k', 4)), 'ok')
})

test('a restored move lifts with its lease unless committed; an assignment ends a restored move', async (ctx) => {
  const dir = join(ctx.dir, 'lease')
  let h = await persisted(ctx, dir)
  h.execute({ op: 'configure', settings: { name: 'a', start: 0, end: 1, size: 1e9, onFull: 'reject', epoch: 1 } })
  h.execute({ op: 'createIndex', index: 'i' })
  assert.ok(h.execute({ op: 'migrateStart', ranges: ALL, lease: 30 }).ok)
  assert.ok(h.execute({ op: 'migrateFreeze' }).ok)
  h = await reopen(ctx, h, dir)
  assert.is(code(write(h, 'k', 1)), 'TRY_AGAIN')
  await until(() => code(write(h, 'k', 1)) === 'ok', 'the restored freeze lifts with its lease')

  assert.ok(h.execute({ op: 'migrateStart', ranges: ALL, lease: 30 }).ok)
  assert.ok(h.execute({ op: 'migrateFreeze' }).ok)
  assert.ok(h.execute({ op: 'migrateCommit' }).ok)
  h = await reopen(ctx, h, dir)
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.is(code(write(h, 'k', 2)), 'TRY_AGAIN', 'a committed move stays frozen across the restart, past its lease')
  // The old assignment again (a bootstrap that re-assigns a restarted server) must not lift it.
  assert.ok(h.execute({ op: 'configure', settings: { name: 'a', start: 0, end: 1, size: 1e9, onFull: 'reject', epoch: 1 } }).ok)
  assert.is(code(write(h, 'k', 2)), 'TRY_AGAIN', 'a committed move is not ended by the assignment it was moving away from')
  // The cut-over's assignment (a narrower range at the new epoch) ends it.
  const mid = hashKey('i', 'k') < 0.5 ? 0.75 : 0.25
  const settings = { name: 'a', start: 0, end: 1, size: 1e9, onFull: 'reject' as const, epoch: 2 }
  assert.ok(h.execute({ op: 'configure', settings: mid === 0.75 ? { ...settings, end: mid } : { ...settings, start: mid } }).ok)
  assert.is(code(write(h, 'k', 3)), 'ok', 'the key stays in the narrowed range')
  h = await reopen(ctx, h, dir)
  assert.is(code(write(h, 'k', 4)), 'ok', 'no move after the next restart')
})

test('reshardData commits every source, then calls the checkpoint, before any new assignment', async (ctx) => {
  const a = host(ctx, 'a')
  const b = host(ctx, 'b')
  a.execute({ op: 'configure', settings: { name: 'a', start: 0, end: 1, size: 1e9, onFull: 'reject', epoch: 1 } })
  for (let i = 0; i < 500; i++) write(a, `k${i}`, i)
  const hosts: Record<string, ShardHost> = { a, b }
  const seen: string[] = []
  const driver: ReshardDriver = {
    indexes: ['i'],
    pageSize: 50,
    lease: 1000,
    call: async (name, req: Request) => {
      if (req.op === 'migrateCommit' || req.op === 'configure') seen.push(`${req.op}:${name}`)
      const r = (hosts[name] as ShardHost).execute(req)
      if (!r.ok) throw errorFromCode(r.code, r.message, r.epoch)
      return r.value
    },
    checkpoint: (phase) => { seen.push(`checkpoint:${phase}`) },
    publish: () => { seen.push('publish') },
  }
  const old: ShardSpec[] = [{ name: 'a', start: 0, end: 1, size: 1e9, onFull: 'reject', transport: 'memory' } as ShardSpec]
  const next: ShardSpec[] = [
    { name: 'a', start: 0, end: 0.5, size: 1e9, onFull: 'reject', transport: 'memory' } as ShardSpec,
    { name: 'b', start: 0.5, end: 1, size: 1e9, onFull: 'reject', transport: 'memory' } as ShardSpec,
  ]
  const result = await reshardData(old, 1, next, 2, driver)
  // b configured at the old epoch owning nothing first (a fresh shard), then the cut-over.
  assert.equal(seen.slice(1), ['migrateCommit:a', 'checkpoint:cut-over', 'configure:b', 'configure:a', 'publish'])
  const counts = [a, b].map((h) => (h.execute({ op: 'stat' }) as { value: { count: number; handover: number } }).value)
  assert.is(counts[0]!.count + counts[1]!.count, 500)
  assert.is(counts[0]!.handover + counts[1]!.handover, 0)
  assert.is(result.dropped, counts[1]!.count)
  // Finishing again (a coordinator resuming after its checkpoint) changes nothing.
  const again = await finishReshard(old, next, 2, driver)
  assert.is(again.dropped, 0)
})

test.run()
