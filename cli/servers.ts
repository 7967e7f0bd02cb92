/**
 * The server commands: `up` (every shard server of a config plus the bootstrap
 * server, in one process), `shard` and `bootstrap` (one server each, for
 * multi-host setups). Each serves until SIGINT/SIGTERM, then closes cleanly
 * (in-flight requests drain) and exits 0; a second signal stops at once.
 */
import { join } from 'node:path'
import { ShardMap } from '../src/index.js'
import { BootstrapServer, ShardServer } from '../transports/tcp/servers.js'
import { checkTcpSpec } from '../transports/tcp/client.js'
import type { ShardSpec } from '../src/index.js'
import type { BootstrapServerOptions, ShardServerOptions } from '../transports/tcp/servers.js'
import { CommandFailed, EXIT_FAILED, EXIT_OK, UsageError, portOption, stringOption } from './command.js'
import type { Command, Values } from './command.js'
import { describe } from './client.js'
import { DEFAULT_BOOTSTRAP_PORT, DEFAULT_CLUSTER } from './default-cluster.js'
import { formatBytes } from './stat.js'

/** What the CLI needs of a server. */
interface Server {
  listen(): Promise<{ host: string; port: number }>
  close(): Promise<void>
  destroy?(): Promise<void>
}

const SERVE_HELP = `Serves until Ctrl-C (SIGINT) or SIGTERM, then closes cleanly and exits 0;
a second signal stops at once.`

const PATHS_HELP = 'Relative paths (FILE, MODULE, DIR) resolve against the current directory.'

const DATA_HELP = `With --data, a shard server records every change in an lmdb database there as
it happens and loads it when it starts: a restart, even after kill -9, keeps
every committed write. --fsync says when a commit reaches the disk: always
(a write is answered only once it is on disk), everysec (the default: each
commit is flushed right after it, so a crash loses the last tens of ms at
most) or no (the OS decides; a power cut can damage the dir). A data dir that
cannot be used stops start-up with exit 1.`

const BOOTSTRAP_DATA_HELP = `With --data, the bootstrap server keeps the cluster's metadata in an lmdb
database there: the map in force (a restart serves the map the last reshard
put in force, even when --config still holds the older one), the index list,
and the reshard in progress: if it stopped mid-reshard, a restart rolls the
reshard back when its cut-over had not begun (the old map is served) and
finishes it when it had (the new map is served), and says which on stderr.`

/** Where \`up\` keeps its bootstrap server's metadata under --data (a shard server's dir is DIR/<shard name>). */
export const UP_BOOTSTRAP_DIR = '_bootstrap'

const FSYNC = ['always', 'everysec', 'no'] as const

/** --fsync, checked in the CLI's own words. */
function fsyncOption(values: Values): (typeof FSYNC)[number] | undefined {
  const v = stringOption(values, 'fsync')
  if (v === undefined) return undefined
  if (!(FSYNC as readonly string[]).includes(v)) throw new UsageError(`--fsync must be always, everysec or no, got "${v}"`)
  if (stringOption(values, 'data') === undefined) throw new UsageError('--fsync needs --data DIR')
  return v as (typeof FSYNC)[number]
}

export const up: Command = {
  name: 'up',
  summary: 'start every shard server of a config and a bootstrap server, in one process',
  positionals: [],
  options: {
    config: { type: 'string', short: 'c' },
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    processors: { type: 'string' },
    data: { type: 'string' },
    fsync: { type: 'string' },
    'admin-token': { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `Usage: pyshard up [--config FILE] [--port N] [--data DIR [--fsync POLICY]] [options]

Starts a shard server for every "tcp" shard of the config (at its host and
port), then a bootstrap server that assigns them their names, ranges and sizes
and serves the map to clients, and prints the map. Without --config it serves
the built-in cluster: 2 shards on 127.0.0.1:5050 and :5051, bootstrap on :5000.
${SERVE_HELP}
${DATA_HELP}
${BOOTSTRAP_DATA_HELP}

Options:
  -c, --config FILE          cluster config (JSON); its "token" protects every server
  -p, --port N               bootstrap server port, 0 for any free one (default ${DEFAULT_BOOTSTRAP_PORT})
      --host HOST            bootstrap server address (default 127.0.0.1)
      --processors MODULE    processors module the shard servers may run
      --data DIR             keep each shard on disk in DIR/<shard name>, and the
                             bootstrap server's metadata in DIR/${UP_BOOTSTRAP_DIR}
      --fsync POLICY         always, everysec or no (default everysec)
      --admin-token T        token needed to assign the shard servers or move data
                             (default the config's "adminToken")
      --json                 print the map as one line of JSON instead of a table
  -h, --help                 this help
${PATHS_HELP}

Exit: 0 stopped by a signal, 1 could not start (bad config, port in use,
unusable data dir), 2 bad usage.`,
  async run(values) {
    const file = stringOption(values, 'config')
    const config = file ?? DEFAULT_CLUSTER
    const map = typeof config === 'string' ? ShardMap.load(config) : ShardMap.parse(config)
    // The tcp transport checks the shard's address (the seed's "host": "" is 127.0.0.1).
    const local = map.shards.filter((s) => s.transport === 'tcp').map(checkTcpSpec)
    if (local.length === 0) throw new CommandFailed(`${file ?? 'the config'} has no "tcp" shard for pyshard up to serve`)
    if (local.some((s) => s.name === UP_BOOTSTRAP_DIR) && stringOption(values, 'data') !== undefined) {
      throw new CommandFailed(`a shard named "${UP_BOOTSTRAP_DIR}" would share --data with the bootstrap server's metadata; rename it`)
    }
    const token = map.config.token
    const adminToken = stringOption(values, 'admin-token') ?? map.config.adminToken
    const processors = stringOption(values, 'processors')
    const data = stringOption(values, 'data')
    const fsync = fsyncOption(values)
    const started: Server[] = []
    try {
      for (const spec of local) {
        let server: Server
        try {
          server = new ShardServer({
            host: spec.host as string, port: spec.port as number,
            ...(token !== undefined ? { token } : {}), ...(adminToken !== undefined ? { adminToken } : {}),
            ...(processors !== undefined ? { processors } : {}),
            ...(data !== undefined ? { dataDir: join(data, spec.name) } : {}), ...(fsync !== undefined ? { fsync } : {}),
          })
        } catch (err) {
          throw new CommandFailed(`shard "${spec.name}": ${describe(err)}`)
        }
        await listenOrExplain(server, `shard server "${spec.name}" on ${spec.host}:${spec.port}`)
        started.push(server)
      }
      const bootstrap = new BootstrapServer({
        host: stringOption(values, 'host') ?? '127.0.0.1',
        port: portOption(values, 'port', DEFAULT_BOOTSTRAP_PORT),
        config,
        ...(token !== undefined ? { token } : {}), ...(adminToken !== undefined ? { adminToken } : {}),
        ...(data !== undefined ? { dataDir: join(data, UP_BOOTSTRAP_DIR) } : {}),
      })
      logShardEvents(bootstrap, 'up')
      const address = await listenOrExplain(bootstrap, 'bootstrap server')
      started.push(bootstrap)
      process.stdout.write(values.json === true ? formatMapJson(bootstrap.map, address) : formatMap(bootstrap.map, address))
    } catch (err) {
      await closeAll(started.reverse())
      throw err
    }
    // Clients first (the bootstrap server holds connections to the shards), then the shards.
    return serveUntilSignal('up', started.reverse())
  },
}

export const shard: Command = {
  name: 'shard',
  summary: 'run one shard server (multi-host setups)',
  positionals: [],
  options: {
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    token: { type: 'string' },
    insecure: { type: 'boolean' },
    processors: { type: 'string' },
    data: { type: 'string' },
    fsync: { type: 'string' },
    'admin-token': { type: 'string' },
  },
  help: `Usage: pyshard shard --port N [--host HOST] [--data DIR [--fsync POLICY]] [--token TOKEN] [options]

Runs one shard server. It holds no data until a bootstrap server (pyshard
bootstrap, whose config lists this HOST:PORT) assigns its name, range and size.
${SERVE_HELP}
${DATA_HELP}

Options:
  -p, --port N               port to listen on, 0 for any free one (required)
      --host HOST            address to bind (default 127.0.0.1)
      --token TOKEN          token clients and the bootstrap server must present
                             (default $PYSHARD_TOKEN); required off loopback
      --admin-token T        token a bootstrap server must present to assign this
                             server or move its data (the --token cannot then)
      --insecure             allow a non-loopback HOST without a token
      --processors MODULE    the processors module this server may run
      --data DIR             keep this shard on disk in DIR
      --fsync POLICY         always, everysec or no (default everysec)
  -h, --help                 this help
${PATHS_HELP}

Exit: 0 stopped by a signal, 1 could not start (port in use, unusable data
dir), 2 bad usage.`,
  async run(values) {
    if (values.port === undefined) throw new UsageError('--port is required')
    const options: ShardServerOptions = { host: stringOption(values, 'host') ?? '127.0.0.1', port: portOption(values, 'port', 0) }
    const token = stringOption(values, 'token') ?? envToken()
    if (token !== undefined) options.token = token
    const adminToken = stringOption(values, 'admin-token')
    if (adminToken !== undefined) options.adminToken = adminToken
    if (values.insecure === true) options.insecure = true
    const processors = stringOption(values, 'processors')
    if (processors !== undefined) options.processors = processors
    const data = stringOption(values, 'data')
    if (data !== undefined) options.dataDir = data
    const fsync = fsyncOption(values)
    if (fsync !== undefined) options.fsync = fsync
    const server = newServer(() => new ShardServer(options))
    const address = await listenOrExplain(server, 'shard server')
    process.stdout.write(`pyshard shard: listening on ${hostPort(address)}\npyshard shard: ready; stop with Ctrl-C\n`)
    return serveUntilSignal('shard', [server])
  },
}

export const bootstrap: Command = {
  name: 'bootstrap',
  summary: 'run a bootstrap server for a config (multi-host setups)',
  positionals: [],
  options: {
    config: { type: 'string', short: 'c' },
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    token: { type: 'string' },
    'admin-token': { type: 'string' },
    insecure: { type: 'boolean' },
    data: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `Usage: pyshard bootstrap --config FILE [--port N] [--host HOST] [--data DIR] [options]

Runs a bootstrap server: loads the config, assigns every shard server in it its
name, range and size (a shard server that is not up yet is assigned when it
comes up), serves the map to clients, and prints it.
${SERVE_HELP}
${BOOTSTRAP_DATA_HELP}

Options:
  -c, --config FILE          cluster config (JSON) (required)
  -p, --port N               port to listen on, 0 for any free one (default ${DEFAULT_BOOTSTRAP_PORT})
      --host HOST            address to bind (default 127.0.0.1)
      --token TOKEN          token for the shard servers and this server's clients
                             (default $PYSHARD_TOKEN, else the config's "token")
      --admin-token T        token presented to the shard servers to assign them
                             (default the config's "adminToken", else the token)
      --insecure             allow a non-loopback HOST without a token
      --data DIR             keep the map, the index list and a reshard in progress in DIR
      --json                 print the map as one line of JSON instead of a table
  -h, --help                 this help
${PATHS_HELP}

Exit: 0 stopped by a signal, 1 could not start (bad config, port in use,
unusable data dir, an interrupted reshard that cannot be finished yet), 2 bad usage.`,
  async run(values) {
    const config = stringOption(values, 'config')
    if (config === undefined) throw new UsageError('--config is required')
    const options: BootstrapServerOptions = {
      config, host: stringOption(values, 'host') ?? '127.0.0.1', port: portOption(values, 'port', DEFAULT_BOOTSTRAP_PORT),
    }
    const token = stringOption(values, 'token') ?? envToken()
    if (token !== undefined) options.token = token
    const adminToken = stringOption(values, 'admin-token')
    if (adminToken !== undefined) options.adminToken = adminToken
    if (values.insecure === true) options.insecure = true
    const data = stringOption(values, 'data')
    if (data !== undefined) options.dataDir = data
    const server = newServer(() => new BootstrapServer(options))
    logShardEvents(server, 'bootstrap')
    const address = await listenOrExplain(server, 'bootstrap server')
    process.stdout.write(values.json === true ? formatMapJson(server.map, address) : formatMap(server.map, address).replace(/^pyshard up:/gm, 'pyshard bootstrap:'))
    return serveUntilSignal('bootstrap', [server])
  },
}

/** One line on stderr per shard server going down, coming back, or accepting its assignment. */
function logShardEvents(server: BootstrapServer, command: string): void {
  const say = (line: string): void => { process.stderr.write(`pyshard ${command}: ${line}\n`) }
  server.on('shardDown', (e) => say(`shard "${e.shard}" down: ${e.error.message}`))
  server.on('shardUp', (e) => say(`shard "${e.shard}" up`))
  server.on('configured', (e) => say(`shard "${e.shard}" assigned (epoch ${e.epoch})`))
  server.on('reshard', (p) => {
    if (p.phase !== 'copy') say(`reshard to epoch ${p.epoch}: ${p.phase} (${p.moved} entries moved)`)
  })
  server.on('recovered', (e) => {
    if (e.reshard === null) say(`serving the map of epoch ${e.epoch} kept in --data (a reshard put it in force)`)
    else if (e.reshard === 'rolled-back') say(`an interrupted reshard had not reached its cut-over: rolled back; serving the map of epoch ${e.epoch}`)
    else say(`an interrupted reshard had begun its cut-over: finished; serving the map of epoch ${e.epoch}`)
  })
}

function envToken(): string | undefined {
  const t = process.env.PYSHARD_TOKEN
  return t === undefined || t === '' ? undefined : t
}

/**
 * Constructor option errors name the library's options (`options.insecure: true`); the CLI's user
 * gave flags, so the message names the flags (`--insecure`).
 */
export function inFlagWords(message: string): string {
  return message.replace(/options\.([A-Za-z]+)(?:: true)?/g, (_, name: string) => `--${FLAG_OF[name] ?? name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)
}

/** Library options whose flag has another name. */
const FLAG_OF: Record<string, string> = { dataDir: 'data' }

function newServer<T>(make: () => T): T {
  try {
    return make()
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(inFlagWords(err.message))
    throw err
  }
}

async function listenOrExplain(server: Server, what: string): Promise<{ host: string; port: number }> {
  try {
    return await server.listen()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') throw new CommandFailed(`${what}: address in use`)
    if (code === 'EADDRNOTAVAIL') throw new CommandFailed(`${what}: address not available on this machine`)
    if (code === 'EACCES') throw new CommandFailed(`${what}: permission denied (ports below 1024 need privileges)`)
    throw new CommandFailed(`${what}: ${describe(err)}`)
  }
}

function hostPort(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

/** The map as `up` prints it: one line per shard, then a `ready` line tests and scripts can wait for. */
export function formatMap(map: ShardMap, address: { host: string; port: number }): string {
  const rows = map.shards.map((s: ShardSpec) => [
    s.name, `[${s.start}, ${s.end})`, s.transport,
    s.transport === 'tcp' ? `${s.host}:${s.port}` : s.transport === 'redis' ? String(s.url ?? (s.cluster ?? []).join(',')) : '',
    `size ${formatBytes(s.size)}`, `onFull ${s.onFull}`,
  ])
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length))) ?? []
  const lines = rows.map((r) => `  ${r.map((cell, c) => cell.padEnd(widths[c] as number)).join('  ').trimEnd()}`)
  return `pyshard up: bootstrap server on ${hostPort(address)} (map epoch ${map.epoch}, ${map.shards.length} shards)\n` +
    `${lines.join('\n')}\npyshard up: ready on ${hostPort(address)}; stop with Ctrl-C\n`
}

/** The map as `--json` prints it: one line, then serving starts (the line itself says it is ready). */
export function formatMapJson(map: ShardMap, address: { host: string; port: number }): string {
  return `${JSON.stringify({ ready: true, bootstrap: hostPort(address), epoch: map.epoch, shards: map.shards })}\n`
}

async function closeAll(servers: Server[]): Promise<void> {
  for (const s of servers) await s.close().catch(() => {})
}

function serveUntilSignal(name: string, servers: Server[]): Promise<number> {
  return new Promise((resolve) => {
    let signals = 0
    const stop = (signal: NodeJS.Signals): void => {
      signals++
      if (signals > 1) {
        process.stderr.write(`pyshard ${name}: ${signal} again: stopping now\n`)
        void Promise.allSettled(servers.map((s) => (s.destroy ?? s.close).call(s))).then(() => resolve(EXIT_FAILED))
        return
      }
      process.stderr.write(`pyshard ${name}: ${signal}: closing\n`)
      closeAll(servers).then(() => {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        resolve(EXIT_OK)
      }, () => resolve(EXIT_FAILED))
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
