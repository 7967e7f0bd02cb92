/**
 * What every subcommand is: a name, its help text, its `parseArgs` options,
 * and a `run` that resolves to an exit code. Exit codes:
 * 0 ok, 1 failed operation, 2 bad usage.
 */
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** Bad usage: a wrong option, a missing argument. Exit code 2, with a pointer to `--help`. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** An operation that failed for a reason already put in words (exit code 1). */
export class CommandFailed extends Error {
  override name = 'CommandFailed'
}

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>
export type Values = Record<string, string | boolean | undefined>

export interface Command {
  name: string
  /** One line for `pyshard --help`. */
  summary: string
  /** The whole `pyshard NAME --help` text. */
  help: string
  options: OptionSpecs
  /** Positional arguments: names in order; all are required. */
  positionals: readonly string[]
  run(values: Values, positionals: string[]): Promise<number>
}

/** Parses argv for one command; bad options and a wrong number of positionals are UsageErrors. */
export function parseCommandArgs(cmd: Command, argv: string[]): { values: Values; positionals: string[]; help: boolean } {
  let parsed: { values: Values; positionals: string[] }
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }) as { values: Values; positionals: string[] }
  } catch (err) {
    // parseArgs messages end with hints written for a script author ("To specify a positional argument...").
    throw new UsageError(((err as Error).message.split(/\.\s/)[0] ?? '').replace(/\.$/, ''))
  }
  if (parsed.values.help === true) return { ...parsed, help: true }
  const want = cmd.positionals
  if (parsed.positionals.length < want.length) {
    throw new UsageError(`missing ${want.slice(parsed.positionals.length).map((p) => p.toUpperCase()).join(' ')}`)
  }
  if (parsed.positionals.length > want.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[want.length])}`)
  }
  return { ...parsed, help: false }
}

/** A positive integer option, or its default. */
export function intOption(values: Values, name: string, fallback: number, min = 1): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`)
  }
  return n
}

/** A TCP port option (0 = any free port), or its default. */
export function portOption(values: Values, name: string, fallback: number): number {
  const port = intOption(values, name, fallback, 0)
  if (port > 65535) throw new UsageError(`--${name} must be a port from 0 to 65535, got ${port}`)
  return port
}

export function stringOption(values: Values, name: string): string | undefined {
  const v = values[name]
  return typeof v === 'string' ? v : undefined
}
