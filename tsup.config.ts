import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    'src/index': 'src/index.ts',
    'cli/main': 'cli/main.ts',
    'transports/memory/index': 'transports/memory/index.ts',
    'transports/worker/index': 'transports/worker/index.ts',
    // Its own entry: the worker transport starts it by path (dist/transports/worker/host.js).
    'transports/worker/host': 'transports/worker/host.ts',
    'transports/tcp/index': 'transports/tcp/index.ts',
    'transports/tcp/servers': 'transports/tcp/servers.ts',
    'transports/redis/index': 'transports/redis/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  target: 'node20',
  // Without shims import.meta.url is empty in the CJS build. With splitting the shim lives in a shared chunk
  // at dist/, so CJS code sees dist/ as its folder: the worker client looks for its host in both places.
  shims: true,
  // One copy of the core shared by every entry (also in CJS), so `instanceof PyshardError` holds across them.
  splitting: true,
  sourcemap: true,
  clean: true,
  outDir: 'dist',
})
