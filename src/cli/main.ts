#!/usr/bin/env node
// The pyshard command line (see issue: CLI). Placeholder entry so the package's bin resolves.
console.error('pyshard: the command line is not built yet')
process.exit(2)
