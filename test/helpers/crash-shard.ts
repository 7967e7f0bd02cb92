/**
 * A shard server in a child process (the built `pyshard shard --data DIR`), for crash tests:
 * the test writes to it over TCP, kills it with SIGKILL and starts another on the same dir.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import type { Test } from 'uvu'
import { Pyshard } from '../../src/index.js'
import type { ClusterConfig } from '../../src/index.js'
import { spawnCli } from './cli.js'

export interface ChildShard {
  child: ChildProcess
  port: number
  /** kill -9, then waits until the process is gone (reaped). */
  kill(): Promise<void>
}

/** Starts `pyshard shard --port 0 --data dir --fsync fsync`; resolves once it listens. Rejects with its stderr if it exits first. */
export function startChildShard(dir: string, fsync: 'always' | 'everysec' | 'no'): Promise<ChildShard> {
  const child = spawnCli(['shard', '--port', '0', '--data', dir, '--fsync', fsync])
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d })
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out)
      if (m !== null) {
        resolve({
          child, port: Number(m[1]),
          kill: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
            await gone
          },
        })
      }
    })
    child.once('exit', (code, signal) => reject(new Error(`shard exited (${code ?? signal}) before listening: ${err.trim()}`)))
  })
}

/** Runs `pyshard shard --data dir` expecting it to fail at start-up; resolves with its exit code and stderr. */
export async function failingChildShard(dir: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawnCli(['shard', '--port', '0', '--data', dir])
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdout?.on('data', () => {})
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  return { code, stderr }
}

/** A store over the one child shard (its default name and the whole range). */
export function openOn(port: number): Promise<Pyshard> {
  return Pyshard.open({ config: { shards: [{ name: 'shard', host: '127.0.0.1', port }] }, requestTimeout: 10_000 })
}

/** Context of a crash suite: a temp dir, the child shard servers and the stores it opened. */
export interface CrashCtx { dir: string; shards: ChildShard[]; stores: Pyshard[] }

/** A suite whose hooks make a temp dir and, afterwards, close its stores, kill its children and remove the dir. */
export function crashSuite(name: string, prefix: string): Test<CrashCtx> {
  const test = suite<CrashCtx>(name, {} as CrashCtx)
  test.before((ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), prefix))
    ctx.shards = []
    ctx.stores = []
  })
  test.after(async (ctx) => {
    for (const db of ctx.stores) await db.close().catch(() => {})
    for (const s of ctx.shards) await s.kill()
    rmSync(ctx.dir, { recursive: true, force: true })
  })
  return test
}

/**
 * Three child shard servers (a, b, c) under the suite's dir, stopped by its after hook, and the
 * maps a reshard test moves between: `two` (a, b halves) and `three(cPort)` (a, b, c at 0.3/0.7).
 */
export async function reshardCluster(ctx: CrashCtx, fsync: 'always' | 'everysec' | 'no'): Promise<{
  shards: [ChildShard, ChildShard, ChildShard]; two: ClusterConfig; three: (cPort: number) => ClusterConfig
}> {
  const shards: [ChildShard, ChildShard, ChildShard] = [
    await startChildShard(join(ctx.dir, 'a'), fsync),
    await startChildShard(join(ctx.dir, 'b'), fsync),
    await startChildShard(join(ctx.dir, 'c'), fsync),
  ]
  ctx.shards.push(...shards)
  const [a, b] = shards
  const at = (name: string, start: number, end: number, port: number): ClusterConfig['shards'][number] => ({ name, start, end, host: '127.0.0.1', port })
  return {
    shards,
    two: { transport: 'tcp', shards: [at('shard0', 0, 0.5, a.port), at('shard1', 0.5, 1, b.port)] },
    three: (cPort) => ({ transport: 'tcp', shards: [at('shard0', 0, 0.3, a.port), at('shard1', 0.3, 0.7, b.port), at('shard2', 0.7, 1, cPort)] }),
  }
}
