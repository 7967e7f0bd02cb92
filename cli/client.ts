/**
 * How a client command reaches a store: `-b HOST:PORT` (a bootstrap server;
 * default `PYSHARD_BOOTSTRAP`, else 127.0.0.1:5000) or `-c FILE` (open a
 * config directly, as `Pyshard.open({ config })` does).
 */
import { Pyshard, PyshardError } from '../src/index.js'
import type { OpenOptions } from '../src/index.js'
import { CommandFailed, UsageError, intOption, stringOption } from './command.js'
import type { OptionSpecs, Values } from './command.js'
import { parseAddress } from '../transports/tcp/bootstrap-client.js'

export const DEFAULT_BOOTSTRAP = '127.0.0.1:5000'

export const CLIENT_OPTIONS: OptionSpecs = {
  bootstrap: { type: 'string', short: 'b' },
  config: { type: 'string', short: 'c' },
  token: { type: 'string' },
  timeout: { type: 'string' },
}

export const CLIENT_HELP = `Cluster:
  -b, --bootstrap HOST:PORT  bootstrap server (default: $PYSHARD_BOOTSTRAP, else ${DEFAULT_BOOTSTRAP})
  -c, --config FILE          open this cluster config directly instead of asking a bootstrap server
                             (a relative FILE resolves against the current directory)
      --token TOKEN          token for the shard servers (default: $PYSHARD_TOKEN, else the config's)
      --timeout MS           per-request and connect timeout (default: 5000 / 3000)
  -h, --help                 this help`

/** Checks `HOST:PORT` (IPv6 hosts in brackets) and gives it back unchanged. */
export function checkHostPort(target: string, option: string): string {
  try {
    parseAddress(target) // the bootstrap client's own parser: what it accepts, the CLI accepts
  } catch {
    throw new UsageError(`${option} must be HOST:PORT with a port from 1 to 65535, got ${JSON.stringify(target)}`)
  }
  return target
}

/** Opens the store a client command names. Usage errors throw UsageError; an unreachable cluster throws CommandFailed. */
export async function openStore(values: Values): Promise<Pyshard> {
  const config = stringOption(values, 'config')
  const bootstrapOpt = stringOption(values, 'bootstrap')
  if (config !== undefined && bootstrapOpt !== undefined) throw new UsageError('give either -b/--bootstrap or -c/--config, not both')
  const options: OpenOptions = {}
  if (values.timeout !== undefined) {
    const ms = intOption(values, 'timeout', 0)
    options.requestTimeout = ms
    options.connectTimeout = ms
  }
  const token = stringOption(values, 'token') ?? process.env.PYSHARD_TOKEN
  if (token !== undefined && token !== '') options.token = token
  if (config !== undefined) {
    let db: Pyshard
    try {
      db = await Pyshard.open({ ...options, config })
    } catch (err) {
      throw new CommandFailed(`cannot open config ${config}: ${describe(err)}`)
    }
    // Shards in this process (memory, worker) would vanish when the command ends: what a
    // command writes there is lost, and what it reads is empty. Refuse rather than pretend.
    const local = db.map.shards.find((sh) => sh.transport === 'memory' || sh.transport === 'worker')
    if (local !== undefined) {
      await db.close()
      throw new CommandFailed(
        `cannot use config ${config}: shard "${local.name}" has transport "${local.transport}", which lives only inside this command ` +
          '(set "transport": "tcp" with host/port, or "redis")',
      )
    }
    return db
  }
  const fromEnv = process.env.PYSHARD_BOOTSTRAP
  const target = bootstrapOpt !== undefined
    ? checkHostPort(bootstrapOpt, '-b/--bootstrap')
    : fromEnv !== undefined && fromEnv !== '' ? checkHostPort(fromEnv, 'PYSHARD_BOOTSTRAP') : DEFAULT_BOOTSTRAP
  try {
    return await Pyshard.connect({ ...options, bootstrap: target })
  } catch (err) {
    throw new CommandFailed(`cannot reach bootstrap server ${target}: ${describe(err)}`)
  }
}

/** One line for an error: its message, with the code for pyshard errors. */
export function describe(err: unknown): string {
  if (err instanceof PyshardError) return `${firstLine(err.message)} (${err.code})`
  if (err instanceof Error) return firstLine(err.message)
  return String(err)
}

function firstLine(s: string): string {
  const i = s.indexOf('\n')
  return i === -1 ? s : s.slice(0, i)
}
