/**
 * What a bootstrap server keeps in its data dir (`BootstrapServer({ dataDir })`, `--data`): the
 * map in force, the cluster's index list, and the reshard in progress. An lmdb database (the
 * same engine as the shard servers' data dirs); each change is one durable commit, awaited
 * before the step it records goes on. Loaded only with a dynamic import, when a data dir is set.
 *
 * Records (one lmdb database, JSON values): `format` ({ format, version }), `map` (the config in
 * force, with its epoch), `indexes` (string[]), `reshard` ({ old, next, cutOver }).
 */
import { open } from 'lmdb'
import type { RootDatabase } from 'lmdb'
import { mkdirSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { DataDirError } from '../../src/errors.js'
import type { ClusterConfig } from '../../src/shard-map.js'
import { lock } from '../../src/persist/data-dir.js'

const FORMAT = 'pyshard-bootstrap'
const VERSION = 1

/** A reshard the bootstrap server began: both maps (each with its epoch) and whether the cut-over has begun. */
export interface ReshardRecord { old: ClusterConfig; next: ClusterConfig; cutOver: boolean }

function fail(dir: string, why: string, cause?: unknown): DataDirError {
  return new DataDirError(`bootstrap data dir ${dir} ${why}`, cause === undefined ? undefined : { cause })
}

/** An open bootstrap data dir. */
export class BootstrapStore {
  readonly path: string
  readonly #root: RootDatabase<unknown, string>
  readonly #release: () => void
  #closed = false

  private constructor(path: string, root: RootDatabase<unknown, string>, release: () => void) {
    this.path = path
    this.#root = root
    this.#release = release
  }

  /** Opens (creating if missing) the dir; rejects with DATA_DIR naming it when it cannot be used. */
  static async open(dir: string): Promise<BootstrapStore> {
    const path = resolve(dir)
    try {
      mkdirSync(path, { recursive: true })
    } catch (err) {
      throw fail(path, `cannot be created: ${(err as Error).message}`, err)
    }
    if (!statSync(path).isDirectory()) throw fail(path, 'is not a directory')
    const release = lock(path)
    let root: RootDatabase<unknown, string> | null = null
    try {
      root = open<unknown, string>({ path, encoding: 'json' })
      const format = root.get('format') as { format?: unknown; version?: unknown } | undefined
      if (format === undefined) {
        if (root.getKeysCount({ limit: 1 }) > 0) throw fail(path, 'holds an lmdb database that a pyshard bootstrap server did not write; give it an empty dir')
        await root.put('format', { format: FORMAT, version: VERSION })
      } else if (format.format !== FORMAT || format.version !== VERSION) {
        throw fail(path, `holds data of another kind or version (${JSON.stringify(format)}): a bootstrap server needs a dir of its own`)
      }
      return new BootstrapStore(path, root, release)
    } catch (err) {
      await root?.close().catch(() => {})
      release()
      if (err instanceof DataDirError) throw err
      throw fail(path, `cannot be opened: ${(err as Error).message}`, err)
    }
  }

  /** The map in force when the server last changed it (a config with its epoch). */
  get map(): ClusterConfig | undefined { return this.#root.get('map') as ClusterConfig | undefined }

  /** The cluster's index list as last recorded. */
  get indexes(): string[] | undefined { return this.#root.get('indexes') as string[] | undefined }

  /** The reshard in progress, if one was recorded and not finished or rolled back. */
  get reshard(): ReshardRecord | undefined { return this.#root.get('reshard') as ReshardRecord | undefined }

  setMap(config: ClusterConfig): Promise<void> { return this.#put('map', config) }

  setIndexes(indexes: string[]): Promise<void> { return this.#put('indexes', indexes) }

  /** Records the reshard in progress (`undefined`: none). Resolves once it is on disk. */
  setReshard(record: ReshardRecord | undefined): Promise<void> { return this.#put('reshard', record) }

  async #put(key: string, value: unknown): Promise<void> {
    // A record that cannot be kept must not pass for kept (the cut-over waits on it).
    if (this.#closed) throw new DataDirError(`bootstrap data dir: "${key}" cannot be recorded, the store is closed`)
    // lmdb syncs each commit to disk (this dir is opened without noSync).
    await (value === undefined ? this.#root.remove(key) : this.#root.put(key, value))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.#root.close()
    } finally {
      this.#release()
    }
  }
}
