/**
 * Quotas on what peers can make a node store through the DHT. kad-dht keeps two things for
 * others in the node's datastore: records (`/dht/record/<key>`, each one checked by convoy's
 * validators, so only maintainer-signed documents of this network get in) and provider records
 * (`/dht/provider/<cid>/<peer>`, which kad-dht takes from any peer for any CID, for 48 hours:
 * nothing checks them). Without a bound, one identity can fill the store with made-up CIDs,
 * and every provider lookup, which scans the store, gets slower with each.
 *
 * The rule: at most `records` records; at most `providers` provider records in all, and at
 * most `providersPerPeer` from one peer (kad-dht stores a peer's ADD_PROVIDER only for the
 * peer itself, so the peer segment of the key is the sender). A put past a quota is refused; an
 * update of a key already held always passes. Other keys (libp2p's peer store) are not
 * counted here. Expiry is kad-dht's own (provider records after 48 hours, records read older
 * than 36 hours are dropped). Pure: the caller counts with {@link StoreQuota}.
 */

export interface StoreQuotaLimits {
  /** Records held for the DHT. */
  records: number
  /** Provider records held, from all peers. */
  providers: number
  /** Provider records held from one peer. */
  providersPerPeer: number
}

/**
 * A convoy network's records are its roots, each channel's latest and history manifests and its
 * revocations: thousands at most. A peer provides the artifacts it holds (a node announces at
 * most its last two releases' artifacts per channel).
 * @default records 4096, providers 16384, providersPerPeer 64
 */
export const DEFAULT_STORE_QUOTA: StoreQuotaLimits = {
  records: 4096,
  providers: 16_384,
  providersPerPeer: 64,
}

/** What a datastore key holds, as far as the quotas care. */
export type StoreKey = { kind: 'record' } | { kind: 'provider'; peer: string } | { kind: 'other' }

/** Reads a datastore key under kad-dht's `prefix` (`/dht` unless configured otherwise). */
export function classifyStoreKey(key: string, prefix = '/dht'): StoreKey {
  if (key.startsWith(`${prefix}/record/`)) return { kind: 'record' }
  if (key.startsWith(`${prefix}/provider/`)) {
    const parts = key.slice(prefix.length + '/provider/'.length).split('/')
    if (parts.length === 2 && parts[0] !== '' && parts[1] !== '')
      return { kind: 'provider', peer: parts[1]! }
  }
  return { kind: 'other' }
}

/** Why a put was refused. */
export type QuotaRefusal = 'records' | 'providers' | 'providers-per-peer'

/** The counts of one datastore and the quota decision on each put. */
export class StoreQuota {
  private readonly limits: StoreQuotaLimits
  private readonly prefix: string
  private records = 0
  private providers = 0
  private readonly byPeer = new Map<string, number>()

  constructor(limits: StoreQuotaLimits = DEFAULT_STORE_QUOTA, prefix = '/dht') {
    this.limits = limits
    this.prefix = prefix
  }

  /** Counts held now. */
  get counts(): { records: number; providers: number; peers: number } {
    return { records: this.records, providers: this.providers, peers: this.byPeer.size }
  }

  /**
   * May a new value under `key` be stored? `exists`: the key is held already (an update,
   * always allowed). Undefined means yes; the caller then calls {@link added} once stored.
   */
  refusal(key: string, exists: boolean): QuotaRefusal | undefined {
    if (exists) return undefined
    const k = classifyStoreKey(key, this.prefix)
    if (k.kind === 'record' && this.records >= this.limits.records) return 'records'
    if (k.kind === 'provider') {
      if (this.providers >= this.limits.providers) return 'providers'
      if ((this.byPeer.get(k.peer) ?? 0) >= this.limits.providersPerPeer)
        return 'providers-per-peer'
    }
    return undefined
  }

  /** A new key was stored. */
  added(key: string): void {
    const k = classifyStoreKey(key, this.prefix)
    if (k.kind === 'record') this.records++
    else if (k.kind === 'provider') {
      this.providers++
      this.byPeer.set(k.peer, (this.byPeer.get(k.peer) ?? 0) + 1)
    }
  }

  /** A held key was deleted. */
  removed(key: string): void {
    const k = classifyStoreKey(key, this.prefix)
    if (k.kind === 'record') this.records = Math.max(0, this.records - 1)
    else if (k.kind === 'provider') {
      this.providers = Math.max(0, this.providers - 1)
      const n = (this.byPeer.get(k.peer) ?? 0) - 1
      if (n > 0) this.byPeer.set(k.peer, n)
      else this.byPeer.delete(k.peer)
    }
  }
}
