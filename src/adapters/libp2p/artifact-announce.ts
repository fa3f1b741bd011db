/** How an artifact is named in the DHT (its CID) and how a node announces that it provides it. */
import type { AbortOptions } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { fromHex, isHexOfLength } from '../../core/bytes.ts'
import { InvalidArtifactPinError } from './errors.ts'

/** Multicodec of raw bytes, used for artifact CIDs. */
const RAW_CODEC = 0x55
/** Multihash code of sha2-256. */
const SHA2_256 = 0x12

/**
 * The CID under which an artifact is announced in the DHT: CIDv1, raw codec (0x55), the
 * artifact's own sha2-256 digest. Anyone holding the manifest pin can compute it.
 */
export function artifactCid(sha256hex: string): CID {
  const bytes = isHexOfLength(sha256hex, 32) ? fromHex(sha256hex) : undefined
  if (bytes === undefined) {
    throw new InvalidArtifactPinError(`sha256 must be 64 lower-case hex characters`)
  }
  return CID.createV1(RAW_CODEC, createDigest(SHA2_256, bytes))
}

/** The part of a kad-dht service {@link announceArtifact} needs. */
export interface ProvidingDht {
  provide(key: CID, options?: AbortOptions): AsyncIterable<unknown>
}

/**
 * Announces in the DHT that this node provides the artifact `sha256`, running the provide query
 * to completion. The fetcher never does this itself: the caller decides when a node should
 * start serving (for instance only after the artifact passed its shadow run).
 */
export async function announceArtifact(
  dht: ProvidingDht,
  sha256: string,
  options: AbortOptions = {},
): Promise<void> {
  const cid = artifactCid(sha256)
  for await (const _event of dht.provide(cid, options)) {
    options.signal?.throwIfAborted()
  }
}
