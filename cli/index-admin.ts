/** `pyshard indexes`, `create-index`, `drop-index`. */
import { CLIENT_HELP, CLIENT_OPTIONS, openStore } from './client.js'
import { EXIT_OK } from './command.js'
import type { Command } from './command.js'

export const indexes: Command = {
  name: 'indexes',
  summary: 'list the indexes, one per line',
  positionals: [],
  options: { ...CLIENT_OPTIONS, json: { type: 'boolean' } },
  help: `Usage: pyshard indexes [options]

Prints the name of every index, sorted, one per line.

Options:
      --json                 print the names as a JSON array

${CLIENT_HELP}

Exit: 0 ok, 1 failed (cluster unreachable), 2 bad usage.`,
  async run(values) {
    const db = await openStore(values)
    try {
      const names = await db.indexes()
      if (values.json === true) process.stdout.write(`${JSON.stringify(names)}\n`)
      else if (names.length > 0) process.stdout.write(`${names.join('\n')}\n`)
      return EXIT_OK
    } finally {
      await db.close()
    }
  },
}

export const createIndex: Command = {
  name: 'create-index',
  summary: 'create an index on every shard',
  positionals: ['index'],
  options: { ...CLIENT_OPTIONS, 'if-not-exists': { type: 'boolean' } },
  help: `Usage: pyshard create-index INDEX [options]

Creates INDEX on every shard.

Options:
      --if-not-exists        succeed when INDEX already exists

${CLIENT_HELP}

Exit: 0 ok, 1 failed (INDEX_EXISTS, cluster unreachable), 2 bad usage.`,
  async run(values, [index]) {
    const db = await openStore(values)
    try {
      await db.createIndex(index as string, { ifNotExists: values['if-not-exists'] === true })
      return EXIT_OK
    } finally {
      await db.close()
    }
  },
}

export const dropIndex: Command = {
  name: 'drop-index',
  summary: 'drop an index and all its entries',
  positionals: ['index'],
  options: CLIENT_OPTIONS,
  help: `Usage: pyshard drop-index INDEX [options]

Drops INDEX and every entry in it, on every shard.

${CLIENT_HELP}

Exit: 0 ok, 1 failed (INDEX_NOT_FOUND, cluster unreachable), 2 bad usage.`,
  async run(values, [index]) {
    const db = await openStore(values)
    try {
      await db.dropIndex(index as string)
      return EXIT_OK
    } finally {
      await db.close()
    }
  },
}
