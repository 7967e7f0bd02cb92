/** `pyshard read|pop|remove INDEX KEY`: one key at a time. */
import { CLIENT_HELP, CLIENT_OPTIONS, openStore } from './client.js'
import { CommandFailed, EXIT_OK } from './command.js'
import type { Command } from './command.js'
import { entryJson, entryLine } from './output.js'

const EXIT_TEXT = 'Exit: 0 ok, 1 key or index not found (or the cluster unreachable), 2 bad usage.'

function keyCommand(name: 'read' | 'pop' | 'remove', summary: string, what: string): Command {
  return {
    name,
    summary,
    positionals: ['index', 'key'],
    options: name === 'remove' ? CLIENT_OPTIONS : { ...CLIENT_OPTIONS, json: { type: 'boolean' } },
    help: `Usage: pyshard ${name} INDEX KEY [options]

${what}

${name === 'remove' ? '' : `Options:
      --json                 print {"key":K,"hash":H,"record":R} instead

`}${CLIENT_HELP}

${EXIT_TEXT}`,
    async run(values, [index, key]) {
      const db = await openStore(values)
      try {
        if (name === 'remove') {
          if (!(await db.remove(index as string, key as string))) throw notFound(index as string, key as string)
          return EXIT_OK
        }
        const entry = name === 'read' ? await db.read(index as string, key as string) : await db.pop(index as string, key as string)
        if (entry === null) throw notFound(index as string, key as string)
        process.stdout.write(values.json === true ? entryJson(key as string, entry.hash, entry.record) : entryLine(key as string, entry.hash, entry.record))
        return EXIT_OK
      } finally {
        await db.close()
      }
    },
  }
}

function notFound(index: string, key: string): CommandFailed {
  return new CommandFailed(`key ${JSON.stringify(key)} not found in index "${index}"`)
}

export const read = keyCommand('read', 'print one entry', `Prints the entry of KEY as one line, the format of pyshard cat:
  key|{"hash_":H,"record":R}`)
export const pop = keyCommand('pop', 'print one entry and remove it', `Prints the entry of KEY (as pyshard read does) and removes it, in one step.`)
export const remove = keyCommand('remove', 'remove one entry', `Removes KEY from INDEX. Prints nothing; exit 1 when the key was not there.`)
