#!/usr/bin/env node
/**
 * The `pyshard` command line: `pyshard COMMAND [options]`. Exit codes:
 * 0 ok, 1 failed operation, 2 bad usage. Errors are one line on stderr; set
 * PYSHARD_DEBUG=1 for the stack.
 */
import { PyshardError } from '../src/index.js'
import { bench } from './bench.js'
import { cat } from './cat.js'
import { describe } from './client.js'
import { CommandFailed, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, parseCommandArgs } from './command.js'
import type { Command } from './command.js'
import { createIndex, dropIndex, indexes } from './index-admin.js'
import { pop, read, remove } from './keys.js'
import { bootstrap, shard, up } from './servers.js'
import { stat } from './stat.js'
import { reshard } from './reshard.js'
import { set, write } from './write.js'
import { readFileSync } from 'node:fs'

const COMMANDS: readonly Command[] = [up, shard, bootstrap, write, set, cat, read, pop, remove, indexes, createIndex, dropIndex, stat, reshard, bench]

/** The package's version: package.json sits two folders above the built dist/cli/main.js, one above cli/main.ts. */
function version(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'pyshard' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not there: try the next place
    }
  }
  return 'unknown'
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `Usage: pyshard COMMAND [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Client commands reach a cluster through -b HOST:PORT (a bootstrap server; default
$PYSHARD_BOOTSTRAP, else 127.0.0.1:5000) or -c FILE (open a config directly).
Commands that print data take --json. Relative paths (configs, processors
modules, data folders) resolve against the current directory.
Run "pyshard COMMAND --help" for a command's options.

Options:
  -V, --version   print the version
  -h, --help      this help

Exit: 0 ok, 1 failed operation, 2 bad usage.
`
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${version()}\n`)
    return EXIT_OK
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined
    process.stdout.write(topic !== undefined ? `${topic.help}\n` : mainHelp())
    return name === undefined ? EXIT_USAGE : EXIT_OK
  }
  const cmd = COMMANDS.find((c) => c.name === name)
  if (cmd === undefined) {
    process.stderr.write(`pyshard: unknown command ${JSON.stringify(name)} (run "pyshard --help" for the list)\n`)
    return EXIT_USAGE
  }
  try {
    const { values, positionals, help } = parseCommandArgs(cmd, rest)
    if (help) {
      process.stdout.write(`${cmd.help}\n`)
      return EXIT_OK
    }
    return await cmd.run(values, positionals)
  } catch (err) {
    if (process.env.PYSHARD_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`)
    if (err instanceof UsageError) {
      process.stderr.write(`pyshard ${name}: ${err.message} (run "pyshard ${name} --help")\n`)
      return EXIT_USAGE
    }
    const message = err instanceof CommandFailed ? err.message : err instanceof PyshardError ? describe(err) : `unexpected error: ${describe(err)}`
    process.stderr.write(`pyshard ${name}: ${message}\n`)
    return EXIT_FAILED
  }
}

// A reader that went away (`| head`, `| true`) is not a failure; commands that stream check Output.closed.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') process.stderr.write(`pyshard: cannot write output: ${err.message}\n`)
})

void main(process.argv.slice(2)).then((code) => {
  // Exit once stdout has taken what was written: a client socket still closing must not keep the process
  // alive, and nothing written may be lost.
  process.stdout.write('', () => process.exit(code))
})
