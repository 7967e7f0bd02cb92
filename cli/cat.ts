/** `pyshard cat INDEX`: every entry of an index as `key|{"hash_":H,"record":R}` lines, streamed. */
import { CLIENT_HELP, CLIENT_OPTIONS, openStore } from './client.js'
import { CommandFailed, EXIT_OK, intOption } from './command.js'
import type { Command } from './command.js'
import { Output, entryJson, entryLine } from './output.js'

export const cat: Command = {
  name: 'cat',
  summary: 'print every entry of an index as key|{"hash_":H,"record":R} lines',
  positionals: ['index'],
  options: { ...CLIENT_OPTIONS, 'page-size': { type: 'string' }, json: { type: 'boolean' } },
  help: `Usage: pyshard cat INDEX [options]

Prints every live entry of INDEX, shard by shard, one line each:
  key|{"hash_":H,"record":R}
H is the key's hash in [0,1) and R the document as JSON. Entries are fetched
a page at a time and written with backpressure, so memory stays bounded
however large the index; the order is the shards' order, not sorted.
Piping into a reader that stops early (| head) ends quietly.

Options:
      --page-size N          entries fetched per page from a shard (default 1024)
      --json                 one JSON object per line instead: {"key":K,"hash":H,"record":R}

${CLIENT_HELP}

Exit: 0 ok, 1 failed (index missing, cluster unreachable), 2 bad usage.`,
  async run(values, [index]) {
    const pageSize = intOption(values, 'page-size', 1024)
    const db = await openStore(values)
    const out = new Output(process.stdout)
    const line = values.json === true ? entryJson : entryLine
    try {
      for await (const [key, entry] of db.entries(index as string, { pageSize })) {
        if (out.add(line(key, entry.hash, entry.record))) {
          await out.flush()
          if (out.closed) break
        }
      }
      await out.flush()
    } finally {
      await db.close()
    }
    if (out.error !== null) throw new CommandFailed(`cannot write output: ${out.error.message}`)
    return EXIT_OK
  },
}
