/**
 * The revocations a node obeys: each verified against the node's current key set and checked
 * against the manifest it names, when the node holds that manifest. Pure: the adapter persists
 * an accepted revocation before anything acts on it, and re-checks every stored one at start.
 */
import {
  decodeRevocation,
  type RevocationSigned,
  verifyDecodedRevocation,
} from '../manifest/revocation.ts'
import type { VerifyFn } from '../manifest/signing.ts'
import { fail, ok, type Result } from '../result.ts'
import { currentRoot, type TrustState } from './trust.ts'

/** One revoked release, as a node keeps and shows it: what the revocation names, and its digest. */
export interface RevokedRelease
  extends Pick<
    RevocationSigned,
    'channel' | 'version' | 'sequence' | 'release' | 'reason' | 'issued'
  > {
  /** Digest of the revocation document itself. */
  digest: string
}

/**
 * Most revocations a node keeps. Only t-of-n maintainer signatures make one, so no peer can fill
 * this; the cap bounds what a node reads at start and sends to a new peer. @default 256
 */
export const MAX_REVOCATIONS = 256

/** What {@link acceptRevocation} found. */
export interface AcceptedRevocation {
  revoked: RevokedRelease
  /** False when an equivalent revocation (same channel and sequence) was already held. */
  isNew: boolean
}

/**
 * Verifies a revocation for a node holding `trust` and the revocations `held`. Refused: anything
 * that does not verify against the current root, one for another network, one naming a manifest
 * that contradicts the one this node trusts at that sequence, and a new one past the cap.
 */
export function acceptRevocation(
  trust: TrustState,
  held: readonly RevokedRelease[],
  bytes: Uint8Array,
  options: { verify?: VerifyFn } = {},
): Result<AcceptedRevocation> {
  const env = decodeRevocation(bytes)
  if (!env.ok) return env
  const v = verifyDecodedRevocation(env.value, currentRoot(trust), options.verify)
  if (!v.ok) return v
  const r = v.value.signed
  const known = trust.channels[r.channel]?.releases.find((x) => x.sequence === r.sequence)
  if (known !== undefined && (known.digest !== r.release || known.version !== r.version))
    return fail(
      'conflict',
      `conflict: the revocation names ${r.version} (${r.release.slice(0, 12)}) at ${r.channel} sequence ${r.sequence}, but this node trusts ${known.version} (${known.digest.slice(0, 12)}) there`,
    )
  const revoked: RevokedRelease = {
    channel: r.channel,
    version: r.version,
    sequence: r.sequence,
    release: r.release,
    reason: r.reason,
    issued: r.issued,
    digest: v.value.digest,
  }
  const same = held.find((x) => x.channel === r.channel && x.sequence === r.sequence)
  if (same !== undefined) return ok({ revoked: same, isNew: false })
  if (held.length >= MAX_REVOCATIONS)
    return fail(
      'too-large',
      `too many revocations: this node keeps at most ${MAX_REVOCATIONS}; a newer convoy keeps more`,
    )
  return ok({ revoked, isNew: true })
}

/** The revocation of `version` on `channel`, if one is held. */
export function revocationOf(
  held: readonly RevokedRelease[],
  channel: string,
  version: string,
): RevokedRelease | undefined {
  return held.find((x) => x.channel === channel && x.version === version)
}
