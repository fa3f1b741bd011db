/**
 * The node's datastore: libp2p's in-memory one, with the quotas of core/net/store-quota.ts on
 * what kad-dht stores for other peers (records, provider records). A put past a quota throws,
 * which kad-dht turns into a failed PUT_VALUE or a dropped ADD_PROVIDER for the sender; the
 * node's own state lives in its data dir, not here.
 */
import type { AbortOptions } from '@libp2p/interface'
import { MemoryDatastore } from 'datastore-core'
import type { Key } from 'interface-datastore'
import {
  classifyStoreKey,
  type QuotaRefusal,
  StoreQuota,
  type StoreQuotaLimits,
} from '../../core/net/store-quota.ts'
import { StoreQuotaError } from './errors.ts'

/** A memory datastore whose DHT records and provider records are held to quotas. */
export class BoundedDatastore extends MemoryDatastore {
  readonly quota: StoreQuota
  /** Puts refused, by reason. */
  readonly refused: Record<QuotaRefusal, number> = {
    records: 0,
    providers: 0,
    'providers-per-peer': 0,
  }
  /** The keys the quota counts (records and provider records) that are held. */
  private readonly counted = new Set<string>()

  constructor(limits?: StoreQuotaLimits) {
    super()
    this.quota = new StoreQuota(limits)
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
    if (quoted && !this.counted.has(k)) {
      this.counted.add(k)
      this.quota.added(k)
    }
    return r
  }

  override delete(key: Key, options?: AbortOptions): void | Promise<void> {
    const k = key.toString()
    const r = super.delete(key, options)
    if (this.counted.delete(k)) this.quota.removed(k)
    return r
  }
}

/** The bounded datastore each node's libp2p was assembled with, for its status. */
export const datastoreOf: WeakMap<object, BoundedDatastore> = new WeakMap()
