import { defineConfig } from 'vitest/config'

// Only keyv's compliance suite runs under vitest; every other test file is uvu (scripts/test.mjs).
export default defineConfig({
  test: { include: ['test/keyv/**/*.vitest.ts'], root: '.' },
})
