/**
 * Real redis-server processes for tests: each on its own free loopback port,
 * no persistence, a temp dir, stopped by the test's `after` hook. Never port 6379.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'

/** Why real-Redis tests cannot run here, or null when redis-server and redis-cli are on the PATH. */
export function redisMissing(): string | null {
  for (const bin of ['redis-server', 'redis-cli']) {
    const r = spawnSync(bin, ['--version'], { stdio: 'ignore' })
    if (r.error !== undefined || r.status !== 0) return `${bin} is not on the PATH (install Redis, e.g. apt-get install redis-server)`
  }
  return null
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/** A free port whose +10000 neighbour (a cluster node's bus port) is free too. */
async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 20000)
    if ((await portFree(port)) && (await portFree(port + 10000))) return port
  }
  throw new Error('no free port pair found')
}

/** Sends one inline command and resolves with the raw reply text (or rejects when nothing listens). */
export function redisCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no reply from port ${port}`)) }, timeoutMs)
    socket.on('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (d) => {
      text += d.toString()
      // A bulk reply is complete once its announced length has arrived.
      const bulk = /^\$(\d+)\r\n/.exec(text)
      if (bulk === null ? text.endsWith('\r\n') : text.length >= bulk[0].length + Number(bulk[1]) + 2) {
        clearTimeout(timer)
        socket.destroy()
        resolve(text)
      }
    })
    socket.on('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await check()) return
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export interface RedisProcess {
  port: number
  url: string
  /** Stops the server (SIGKILL: nothing is saved anyway) and waits for it to exit. */
  stop(): Promise<void>
  /** Starts it again on the same port (empty: no persistence). */
  start(): Promise<void>
  /** Sends a signal (SIGSTOP / SIGCONT to make it hang and come back). */
  signal(sig: NodeJS.Signals): void
}

/** Starts redis-server on a free loopback port with `extra` arguments; resolves once it answers PING. */
export async function startRedis(extra: string[] = [], port?: number): Promise<RedisProcess> {
  const p = port ?? (await freePort())
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-redis-'))
  let child: ChildProcess | null = null
  const proc: RedisProcess = {
    port: p,
    url: `redis://127.0.0.1:${p}/0`,
    async start() {
      mkdirSync(dir, { recursive: true })
      const c = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
        stdio: 'ignore',
      })
      child = c
      await waitFor(`redis-server on port ${p}`, async () => (await redisCommand(p, 'PING')).startsWith('+PONG'))
    },
    signal(sig) {
      child?.kill(sig)
    },
    async stop() {
      const c = child
      child = null
      if (c === null || c.exitCode !== null) return
      const exited = new Promise((r) => c.once('exit', r))
      c.kill('SIGKILL')
      await exited
    },
  }
  await proc.start()
  const stop = proc.stop
  proc.stop = async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true }) // start() makes it again
  }
  return proc
}

export interface RedisClusterProcess {
  nodes: RedisProcess[]
  urls: string[]
  stop(): Promise<void>
}

/** Starts `n` cluster-enabled masters, joins them with `redis-cli --cluster create`, waits for cluster_state:ok on all. */
export async function startRedisCluster(n = 3): Promise<RedisClusterProcess> {
  const nodes: RedisProcess[] = []
  const stop = async (): Promise<void> => { await Promise.all(nodes.map((node) => node.stop())) }
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort()
      nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'], port))
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8', timeout: 30_000,
    })
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`)
    for (const node of nodes) {
      await waitFor(`cluster_state:ok on port ${node.port}`, async () => (await redisCommand(node.port, 'CLUSTER INFO')).includes('cluster_state:ok'), 20_000)
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, urls: nodes.map((node) => `redis://127.0.0.1:${node.port}`), stop }
}

/**
 * Registers `tests` as skipped (so uvu counts them) and says why on a line
 * starting with SKIP: a missing redis-server must never look like a pass.
 */
export function skipAll(name: string, reason: string, tests: string[]): void {
  console.log(`SKIP ${name}: ${reason}`)
  const s = suite(name)
  for (const t of tests) s.skip(t, () => {})
  s.run()
}
