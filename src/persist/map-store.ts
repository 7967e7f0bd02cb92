/**
 * Where a map's owner keeps the map in force, the index list and the reshard in progress, so
 * that a reshard interrupted by a crash is rolled back or finished when the owner starts again:
 * a bootstrap server (`BootstrapServer({ dataDir })`, `--data`) and a store that owns its shards
 * (`Pyshard.open({ dataDir })`, in `DIR/%store`). An lmdb database (the same engine as the shards'
 * data dirs); each change is one durable commit, awaited before the step it records goes on.
 * Loaded only with a dynamic import, when a data dir is set.
 *
 * Records (one lmdb database, JSON values): `format` ({ format, version }), `map` (the config in
 * force, with its epoch), `indexes` (string[]), `reshard` ({ old, next, cutOver }).
 */
import { open } from 'lmdb'
import type { RootDatabase } from 'lmdb'
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DataDirError } from '../errors.js'
import type { ClusterConfig } from '../shard-map.js'
import { openLocked } from './data-dir.js'

const VERSION = 1

/** Whose map: a bootstrap server's, or a store's that owns its shards. Each has its own format name. */
export type MapOwner = 'bootstrap' | 'store'

/** A reshard the owner began: both maps (each with its epoch) and whether the cut-over has begun. */
export interface ReshardRecord { old: ClusterConfig; next: ClusterConfig; cutOver: boolean }

const LABEL: Record<MapOwner, string> = { bootstrap: 'bootstrap server', store: 'store' }

/**
 * Where a store keeps its map inside its `dataDir`: beside the shards' dirs, under a name no
 * shard's dir can have (they are URI-encoded, so a `%` is always followed by two hex digits).
 */
export function storeMapDir(dataDir: string): string {
  return join(dataDir, '%store')
}

/** Deletes shards' data dirs (shards that left the store, or the copies of a move rolled back). */
export function removeShardDirs(dirs: readonly string[]): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
}

/** An open map dir. */
export class MapStore {
  readonly path: string
  readonly #root: RootDatabase<unknown, string>
  readonly #release: () => void
  readonly #owner: MapOwner
  #closed = false

  private constructor(path: string, root: RootDatabase<unknown, string>, release: () => void, owner: MapOwner) {
    this.path = path
    this.#root = root
    this.#release = release
    this.#owner = owner
  }

  /** Opens (creating if missing) the dir; rejects with DATA_DIR naming it when it cannot be used. */
  static async open(dir: string, owner: MapOwner): Promise<MapStore> {
    const path = resolve(dir)
    const label = LABEL[owner]
    const FORMAT = `pyshard-${owner}`
    const fail = (where: string, why: string, cause?: unknown): DataDirError =>
      new DataDirError(`${label} data dir ${where} ${why}`, cause === undefined ? undefined : { cause })
    try {
      mkdirSync(path, { recursive: true })
    } catch (err) {
      throw fail(path, `cannot be created: ${(err as Error).message}`, err)
    }
    if (!statSync(path).isDirectory()) throw fail(path, 'is not a directory')
    // Without overlapping sync a commit resolves once it is on disk: each record is durable when awaited.
    const { root, release } = openLocked(path, (why, cause) => fail(path, why, cause), () => open<unknown, string>({ path, encoding: 'json', overlappingSync: false }))
    try {
      const format = root.get('format') as { format?: unknown; version?: unknown } | undefined
      if (format === undefined) {
        if (root.getKeysCount({ limit: 1 }) > 0) throw fail(path, `holds an lmdb database that a pyshard ${label} did not write; give it an empty dir`)
        await root.put('format', { format: FORMAT, version: VERSION })
      } else if (format.format !== FORMAT || format.version !== VERSION) {
        throw fail(path, `holds data of another kind or version (${JSON.stringify(format)}): a ${label} needs a dir of its own`)
      }
      return new MapStore(path, root, release, owner)
    } catch (err) {
      await root.close().catch(() => {})
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
    if (this.#closed) throw new DataDirError(`${LABEL[this.#owner]} data dir ${this.path}: "${key}" cannot be recorded, it is closed`)
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
