// Worker entry used when pyshard runs from its TypeScript sources (tests, benches,
// examples): Node 20 cannot start a .ts file as a worker, so register tsx's ESM
// loader in this thread first, then load the real host.
import { register } from 'tsx/esm/api'

register()
await import('./host.ts')
