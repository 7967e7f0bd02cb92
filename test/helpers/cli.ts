/**
 * Runs the BUILT command line (`dist/cli/main.js`) as a real process, the
 * way a user does. `npm test` builds first; alone, run `npx tsup --silent`.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CLI = join(ROOT, 'dist/cli/main.js')

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsup --silent)`)

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Env for a child: no PYSHARD_* leaking in from the caller, plus `extra`. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' }
  for (const k of Object.keys(env)) if (k.startsWith('PYSHARD_')) delete env[k]
  return { ...env, ...extra }
}

/** Runs `pyshard ...args` to the end, feeding `input` on stdin. */
export function runCli(args: string[], options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`pyshard ${args.join(' ')} ran over ${options.timeoutMs ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, options.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin.on('error', () => {}) // a command that exits before reading all of its input
    child.stdin.end(options.input ?? '')
  })
}

/** Starts `pyshard ...args` and leaves it running (stdin, stdout, stderr piped). */
export function spawnCli(args: string[], env?: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] })
}

import { freePort } from './ports.js'

export { freePort }

/** A running `pyshard up` on free ports. */
export interface Cluster {
  child: ChildProcess
  /** `-b 127.0.0.1:PORT` for client commands. */
  bootstrap: string[]
  address: string
  /** What `up` printed so far. */
  output(): string
  /** SIGINT, then the exit code. */
  stop(): Promise<number | null>
  dir: string
}

/** Writes a 2-shard TCP config on free ports, starts `pyshard up` on it, and waits for its `ready` line. */
export async function startCluster(options: { size?: number; shards?: number } = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-cli-'))
  const n = options.shards ?? 2
  const shards = []
  for (let i = 0; i < n; i++) {
    shards.push({ name: `shard${i}`, host: '127.0.0.1', port: await freePort(), ...(options.size ? { size: options.size } : {}) })
  }
  const config = join(dir, 'cluster.json')
  writeFileSync(config, JSON.stringify({ transport: 'tcp', shards }))
  const port = await freePort()
  const child = spawnCli(['up', '--config', config, '--port', String(port)])
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pyshard up not ready after 20 s:\n${out}`)), 20_000)
    const check = (): void => {
      if (/ready on/.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`pyshard up exited with ${code} before ready:\n${out}`))
    })
  })
  const address = `127.0.0.1:${port}`
  return {
    child, address, dir, bootstrap: ['-b', address], output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      const code = await exited
      rmSync(dir, { recursive: true, force: true })
      return code
    },
  }
}

/** Parses `key|{"hash_":H,"record":R}` lines into a map by key. */
export function parseCat(stdout: string): Map<string, { hash_: number; record: unknown }> {
  const out = new Map<string, { hash_: number; record: unknown }>()
  for (const line of stdout.split('\n')) {
    if (line === '') continue
    const bar = line.indexOf('|')
    out.set(line.slice(0, bar), JSON.parse(line.slice(bar + 1)) as { hash_: number; record: unknown })
  }
  return out
}

/** A `pyshard` process left running, with what it printed so far. */
export interface Running { child: ChildProcess; exited: Promise<number | null>; out: () => string }

/** Starts `pyshard ...args` (with `env` added) and resolves once its output matches `readyRe`; rejects if it exits first. */
export function startRunning(args: string[], readyRe: RegExp, env?: Record<string, string>): Promise<Running> {
  const child = spawnCli(args, env)
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', () => { if (readyRe.test(out)) resolve({ child, exited, out: () => out }) })
    void exited.then((code) => reject(new Error(`pyshard ${args[0]} exited ${code}: ${out}`)))
  })
}
