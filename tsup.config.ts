import { defineConfig } from 'tsup'

/** The package's entry points, built as ESM and as CommonJS. */
const library = {
  'src/index': 'src/index.ts',
  'src/adapters/keyv': 'src/adapters/keyv.ts',
  'transports/memory/index': 'transports/memory/index.ts',
  'transports/worker/index': 'transports/worker/index.ts',
  'transports/tcp/index': 'transports/tcp/index.ts',
  'transports/tcp/servers': 'transports/tcp/servers.ts',
  'transports/redis/index': 'transports/redis/index.ts',
}

const common = {
  target: 'node20',
  // One copy of the core shared by every entry (also in CJS), so `instanceof PyshardError` holds across them.
  splitting: true,
  // No source maps: they were most of the packed size and the published code is not minified.
  sourcemap: false,
  outDir: 'dist',
} as const

// Two builds run side by side; each cleans only the files it writes.
export default defineConfig([
  {
    ...common,
    // The CLI and the worker host (started by path, dist/transports/worker/host.js, from ESM and CJS alike)
    // exist only as ESM.
    entry: { ...library, 'cli/main': 'cli/main.ts', 'transports/worker/host': 'transports/worker/host.ts' },
    format: ['esm'],
    dts: { entry: library },
    clean: ['**/*.js', '**/*.d.ts', '**/*.map'],
  },
  {
    ...common,
    entry: library,
    format: ['cjs'],
    dts: { entry: library },
    // Without shims import.meta.url is empty in the CJS build. With splitting the shim lives in a shared chunk
    // at dist/, so CJS code sees dist/ as its folder: the worker client looks for its host in both places.
    shims: true,
    clean: ['**/*.cjs', '**/*.d.cts'],
  },
])
