/**
 * Direct manifest exchange: a node that hears of a newer sequence in a peer's hello asks that
 * peer for the manifest (and any roots newer than its own) instead of waiting for a DHT lookup.
 * Everything received goes through the same verification as a DHT record; the DHT stays the
 * fallback and the periodic check against a freeze.
 *
 *   request  { "channel": name, "rootVersion": n }                (length-prefixed JSON, <= 256 B)
 *   response { "roots": k, "manifest": true|false }               (length-prefixed JSON, <= 256 B)
 *            k roots, oldest first, then the manifest             (each length-prefixed, <= 64 KiB)
 */
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { MAX_RELEASE_BYTES } from '../../core/manifest/release.ts'
import { MAX_ROOT_BYTES } from '../../core/manifest/root.ts'
import {
  decodeManifestReplyHead,
  decodeManifestRequest,
  encodeManifestReplyHead,
  encodeManifestRequest,
  MAX_ROOTS_PER_REPLY,
} from '../../core/net/wire.ts'

/** Protocol id on `network`. */
export function manifestProtocol(network: string): string {
  return `/convoy/${network}/manifest/1.0.0`
}

/** What a server has to offer for one request. */
export interface ManifestOffer {
  roots: Uint8Array[]
  manifest?: Uint8Array
}

/** Serves one request; `lookup` returns what this node holds. Faults just end the stream. */
export async function serveManifest(
  stream: Stream,
  lookup: (channel: string, rootVersion: number) => Promise<ManifestOffer>,
  timeoutMs: number,
): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: Math.max(MAX_RELEASE_BYTES, MAX_ROOT_BYTES) })
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const req = decodeManifestRequest((await lp.read({ signal })).subarray())
    if (!req.ok) throw new Error(req.reason)
    const offer = await lookup(req.value.channel, req.value.rootVersion)
    const roots = offer.roots.slice(0, MAX_ROOTS_PER_REPLY)
    await lp.write(
      encodeManifestReplyHead({ roots: roots.length, manifest: offer.manifest !== undefined }),
      { signal },
    )
    for (const r of roots) await lp.write(r, { signal })
    if (offer.manifest) await lp.write(offer.manifest, { signal })
    await stream.close({ signal })
  } catch (e) {
    stream.abort(e instanceof Error ? e : new Error(String(e)))
  }
}

/** Asks a peer; returns raw bytes for the caller to verify. Throws on any fault. */
export async function requestManifest(
  stream: Stream,
  channel: string,
  rootVersion: number,
  timeoutMs: number,
): Promise<ManifestOffer> {
  const lp = lpStream(stream, { maxDataLength: Math.max(MAX_RELEASE_BYTES, MAX_ROOT_BYTES) })
  const signal = AbortSignal.timeout(timeoutMs)
  await lp.write(encodeManifestRequest({ channel, rootVersion }), { signal })
  const head = decodeManifestReplyHead((await lp.read({ signal })).subarray())
  if (!head.ok) throw new Error(head.reason)
  const h = head.value
  const roots: Uint8Array[] = []
  for (let i = 0; i < h.roots; i++) {
    const r = (await lp.read({ signal })).subarray()
    if (r.length > MAX_ROOT_BYTES) throw new Error('root too large')
    roots.push(r)
  }
  const offer: ManifestOffer = { roots }
  if (h.manifest) {
    const m = (await lp.read({ signal })).subarray()
    if (m.length > MAX_RELEASE_BYTES) throw new Error('manifest too large')
    offer.manifest = m
  }
  await stream.close({ signal }).catch(() => {})
  return offer
}
