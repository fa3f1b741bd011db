/**
 * The file a node keeps what the DHT stores for other peers in (`dht-store.bin` in its data
 * dir), so that a restart does not lose the records and provider records it held: only the keys
 * the quotas count (core/net/store-quota.ts), as kad-dht stored them, times included, so that
 * kad-dht's own expiry (provider records after 48 h, records read older than 36 h) goes on from
 * where it was.
 *
 *   file  = "convoy-dht-store 1\n" entry*
 *   entry = key length (uint32 BE) key (UTF-8) value length (uint32 BE) value
 *
 * The reader is strict and bounded: every key must be one the quotas count, no key twice, at
 * most as many records and provider records as the quotas allow, no key over
 * {@link MAX_STORE_KEY_BYTES}, no record over {@link MAX_STORE_VALUE_BYTES} and no provider
 * record over {@link MAX_PROVIDER_VALUE_BYTES}. A file that breaks
 * any rule is refused whole, with the offset; it is the node's own file, so a broken one means
 * a disk fault or an edit, not a peer. Pure, never throws.
 */
import { concatList, fromUtf8, utf8 } from '../bytes.ts'
import { classifyStoreKey, DEFAULT_STORE_QUOTA, type StoreQuotaLimits } from './store-quota.ts'

/** The first line of the file: its format and version. */
export const STORE_FILE_MAGIC: string = 'convoy-dht-store 1\n'
/** The longest key kept: kad-dht's keys are a prefix and a base32 multihash, a CID or a peer id. */
export const MAX_STORE_KEY_BYTES: number = 512
/** The largest record kept: a manifest of at most 64 KiB, with its key and its time. */
export const MAX_STORE_VALUE_BYTES: number = 80 * 1024
/** The largest provider record kept: kad-dht's is the time it was received, a varint. */
export const MAX_PROVIDER_VALUE_BYTES: number = 64

/** One datastore entry. */
export interface StoreEntry {
  key: string
  value: Uint8Array
}

/** The bytes of the file holding `entries`. */
export function encodeStoreFile(entries: readonly StoreEntry[]): Uint8Array {
  const parts: Uint8Array[] = [utf8(STORE_FILE_MAGIC)]
  for (const e of entries) {
    for (const p of [utf8(e.key), e.value]) {
      const len = new Uint8Array(4)
      new DataView(len.buffer).setUint32(0, p.byteLength)
      parts.push(len, p)
    }
  }
  return concatList(parts)
}

/** The entries of a store file, or why it is refused. */
export function decodeStoreFile(
  bytes: Uint8Array,
  limits: StoreQuotaLimits = DEFAULT_STORE_QUOTA,
): { ok: true; value: StoreEntry[] } | { ok: false; reason: string } {
  const magic = utf8(STORE_FILE_MAGIC)
  if (bytes.byteLength < magic.byteLength || magic.some((b, i) => bytes[i] !== b))
    return { ok: false, reason: `not a convoy DHT store (it does not start "convoy-dht-store 1")` }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const entries: StoreEntry[] = []
  const seen = new Set<string>()
  let records = 0
  let providers = 0
  let at = magic.byteLength
  const field = (max: number, what: string): Uint8Array | string => {
    if (at + 4 > bytes.byteLength) return `truncated at byte ${at} (the length of a ${what})`
    const len = view.getUint32(at)
    if (len > max) return `a ${what} of ${len} bytes at byte ${at}, over ${max}`
    if (at + 4 + len > bytes.byteLength) return `truncated at byte ${at} (a ${what} of ${len})`
    const out = bytes.subarray(at + 4, at + 4 + len)
    at += 4 + len
    return out
  }
  while (at < bytes.byteLength) {
    const start = at
    const k = field(MAX_STORE_KEY_BYTES, 'key')
    if (typeof k === 'string') return { ok: false, reason: k }
    const key = fromUtf8(k)
    if (key === undefined) return { ok: false, reason: `a key at byte ${start} is not UTF-8` }
    const kind = classifyStoreKey(key).kind
    if (kind === 'other')
      return { ok: false, reason: `a key at byte ${start} is not a DHT record's` }
    if (seen.has(key)) return { ok: false, reason: `the key at byte ${start} is there twice` }
    seen.add(key)
    if (kind === 'record' && ++records > limits.records)
      return { ok: false, reason: `more than ${limits.records} records` }
    if (kind === 'provider' && ++providers > limits.providers)
      return { ok: false, reason: `more than ${limits.providers} provider records` }
    const value =
      kind === 'record'
        ? field(MAX_STORE_VALUE_BYTES, 'record')
        : field(MAX_PROVIDER_VALUE_BYTES, 'provider record')
    if (typeof value === 'string') return { ok: false, reason: value }
    entries.push({ key, value: value.slice() })
  }
  return { ok: true, value: entries }
}

/** The largest file {@link decodeStoreFile} can accept under `limits`, bytes. */
export function maxStoreFileBytes(limits: StoreQuotaLimits = DEFAULT_STORE_QUOTA): number {
  const entry = 8 + MAX_STORE_KEY_BYTES
  return (
    STORE_FILE_MAGIC.length +
    limits.records * (entry + MAX_STORE_VALUE_BYTES) +
    limits.providers * (entry + MAX_PROVIDER_VALUE_BYTES)
  )
}
