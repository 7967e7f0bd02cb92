/** `pyshard reshard`: move a running cluster to a new map, with progress. */
import { readFileSync } from 'node:fs'
import { BootstrapClient } from '../transports/tcp/bootstrap-client.js'
import type { ReshardProgress } from '../transports/tcp/bootstrap.js'
import type { ClusterConfig } from '../src/index.js'
import { DEFAULT_BOOTSTRAP, checkHostPort, describe } from './client.js'
import { CommandFailed, EXIT_OK, UsageError, stringOption } from './command.js'
import type { Command } from './command.js'

function line(p: ReshardProgress, started: number): string {
  const secs = (Date.now() - started) / 1000
  const rate = secs > 0 ? Math.round(p.moved / secs) : 0
  const ranges = p.moves.map((m) => `${m.from}->${m.to} [${+m.start.toFixed(6)}, ${+m.end.toFixed(6)})`).join(', ')
  return `epoch ${p.epoch} ${p.phase}: ${p.moved} entries moved (${rate}/s)${ranges ? `; ${ranges}` : ''}`
}

export const reshard: Command = {
  name: 'reshard',
  summary: 'move a running cluster to a new map while it serves',
  positionals: [],
  options: {
    config: { type: 'string', short: 'c' },
    bootstrap: { type: 'string', short: 'b' },
    'admin-token': { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `Usage: pyshard reshard --config NEW.json [-b HOST:PORT] [--admin-token T]

Moves the cluster served by the bootstrap server to NEW.json's map (split a
range, move one to a new shard server, merge two shards, retire a server)
while clients keep reading and writing. Shard servers are matched by name;
every server of both maps must be up. Prints progress (ranges, entries moved,
rate) and, once the new map is in force and every moved entry lives on its new
owner, the result.

Options:
  -c, --config FILE          the new cluster config (required)
  -b, --bootstrap HOST:PORT  bootstrap server (default: $PYSHARD_BOOTSTRAP, else ${DEFAULT_BOOTSTRAP})
      --admin-token T        the bootstrap server's admin token (default: $PYSHARD_ADMIN_TOKEN,
                             else the new config's "adminToken", else its "token")
      --json                 print the result as JSON
  -h, --help                 this help

Exit: 0 the new map is in force, 1 failed (nothing changed unless it failed
after the cut-over), 2 bad usage.`,
  async run(values) {
    const file = stringOption(values, 'config')
    if (file === undefined) throw new UsageError('--config is required')
    let config: ClusterConfig
    try {
      config = JSON.parse(readFileSync(file, 'utf8')) as ClusterConfig
    } catch (err) {
      throw new CommandFailed(`cannot read ${file}: ${describe(err)}`)
    }
    const fromEnv = process.env.PYSHARD_BOOTSTRAP
    const b = stringOption(values, 'bootstrap')
    const target = b !== undefined ? checkHostPort(b, '-b/--bootstrap')
      : fromEnv !== undefined && fromEnv !== '' ? checkHostPort(fromEnv, 'PYSHARD_BOOTSTRAP') : DEFAULT_BOOTSTRAP
    const token = stringOption(values, 'admin-token') ?? (process.env.PYSHARD_ADMIN_TOKEN || undefined) ?? config.adminToken ?? config.token
    const client = new BootstrapClient(target, { token, requestTimeout: 30_000 })
    const started = Date.now()
    const tty = process.stderr.isTTY === true
    let last = ''
    try {
      const result = await client.reshard(config, {
        pollMs: 250,
        onProgress: (p) => {
          const text = line(p, started)
          if (text === last) return
          last = text
          process.stderr.write(tty ? `\r\x1b[K${text}` : `${text}\n`)
        },
      })
      if (tty) process.stderr.write('\n')
      process.stdout.write(values.json === true ? `${JSON.stringify(result)}\n`
        : `pyshard reshard: epoch ${result.epoch} in force; ${result.moved} entries moved, ${result.dropped} removed from their old owners, writes paused ${result.frozenMs} ms\n`)
      return EXIT_OK
    } catch (err) {
      if (tty) process.stderr.write('\n')
      throw new CommandFailed(`reshard failed: ${describe(err)}`)
    } finally {
      await client.close()
    }
  },
}
