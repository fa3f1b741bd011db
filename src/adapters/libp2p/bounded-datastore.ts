/**
 * The node's datastore: libp2p's in-memory one, with the quotas of core/net/store-quota.ts on
 * what kad-dht stores for other peers (records, provider records). A put past a quota throws,
 * which kad-dht turns into a failed PUT_VALUE or a dropped ADD_PROVIDER for the sender; the
 * node's own state lives in its data dir, not here.
 *
 * A node keeps those records across restarts ({@link BoundedDatastore.persist}): the counted
 * entries are written to one file in its data dir (core/net/store-file.ts), atomically, at most
 * every {@link STORE_FLUSH_MS} while they change and once more on stop, and read back before
 * libp2p starts. A file that cannot be read is set aside (`.corrupt`) and the node starts empty:
 * the records' owners put them again.
 */
import { readFile, rename, stat } from 'node:fs/promises'
import type { AbortOptions } from '@libp2p/interface'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import {
  decodeStoreFile,
  encodeStoreFile,
  maxStoreFileBytes,
  type StoreEntry,
} from '../../core/net/store-file.ts'
import {
  classifyStoreKey,
  type QuotaRefusal,
  StoreQuota,
  type StoreQuotaLimits,
} from '../../core/net/store-quota.ts'
import { removeLeftoverTemps } from '../fs/atomic.ts'
import { DebouncedFile } from '../fs/debounced-file.ts'
import { StoreQuotaError } from './errors.ts'

/** The file in a node's data dir that holds what the DHT stores for others. */
export const DHT_STORE_FILE: string = 'dht-store.bin'
/** How long a change to the counted entries waits before it is written, ms. */
export const STORE_FLUSH_MS: number = 10_000

/** A memory datastore whose DHT records and provider records are held to quotas. */
export class BoundedDatastore extends MemoryDatastore {
  readonly quota: StoreQuota
  /** Puts refused, by reason. */
  readonly refused: Record<QuotaRefusal, number> = {
    records: 0,
    providers: 0,
    'providers-per-peer': 0,
  }
  /** The entries the quota counts (records and provider records) that are held. */
  private readonly counted = new Map<string, Uint8Array>()
  private readonly limits: StoreQuotaLimits | undefined
  private file: DebouncedFile | undefined

  constructor(limits?: StoreQuotaLimits) {
    super()
    this.limits = limits
    this.quota = new StoreQuota(limits)
  }

  /**
   * Keeps the counted entries in `file` from now on, after putting back what it holds (each
   * through the quotas). Returns how many entries were read. Never throws: a file that cannot be
   * read is logged and renamed to `<file>.corrupt`, and the store starts empty.
   */
  async persist(file: string, log: (line: string) => void): Promise<number> {
    const entries = (): Uint8Array =>
      encodeStoreFile([...this.counted].map(([key, value]): StoreEntry => ({ key, value })))
    this.file = new DebouncedFile(file, STORE_FLUSH_MS, entries, (l) => log(`dht store: ${l}`), {
      mode: 0o600,
    })
    await removeLeftoverTemps(file)
    let bytes: Uint8Array
    try {
      const { size } = await stat(file)
      const max = maxStoreFileBytes(this.limits)
      if (size > max)
        return await this.setAside(file, log, `${size} bytes, more than the quotas hold (${max})`)
      bytes = await readFile(file)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return 0
      log(`dht store: cannot read ${file} (${code ?? (e as Error).message}); starting empty`)
      return 0
    }
    const d = decodeStoreFile(bytes, this.limits)
    if (!d.ok) return await this.setAside(file, log, d.reason)
    let kept = 0
    for (const e of d.value) {
      try {
        this.put(new Key(e.key), e.value)
        kept++
      } catch {}
    }
    this.file.clean()
    return kept
  }

  /** Stops the flush timer and writes a last time (on node stop and on handover). */
  async close(): Promise<void> {
    await this.file?.close()
  }

  private async setAside(file: string, log: (line: string) => void, why: string): Promise<0> {
    log(`dht store: ${file} is refused (${why}); kept as ${file}.corrupt, starting empty`)
    await rename(file, `${file}.corrupt`).catch(() => {})
    return 0
  }

  override put(key: Key, val: Uint8Array, options?: AbortOptions): Key | Promise<Key> {
    const k = key.toString()
    const quoted = classifyStoreKey(k).kind !== 'other'
    if (quoted) {
      const why = this.quota.refusal(k, this.counted.has(k))
      if (why !== undefined) {
        this.refused[why]++
        throw new StoreQuotaError(`the DHT store is full (${why}): ${k.slice(0, 80)} not stored`)
      }
    }
    const r = super.put(key, val, options)
    if (quoted) {
      if (!this.counted.has(k)) this.quota.added(k)
      this.counted.set(k, val)
      this.file?.changed()
    }
    return r
  }

  override delete(key: Key, options?: AbortOptions): void | Promise<void> {
    const k = key.toString()
    const r = super.delete(key, options)
    if (this.counted.delete(k)) {
      this.quota.removed(k)
      this.file?.changed()
    }
    return r
  }
}

/** The bounded datastore each node's libp2p was assembled with, for its status. */
export const datastoreOf: WeakMap<object, BoundedDatastore> = new WeakMap()
