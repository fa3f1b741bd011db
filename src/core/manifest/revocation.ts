/**
 * Revocations: the maintainers' t-of-n signed word that a release must not run anywhere.
 *
 * Network evidence only halts a release (it stops the spread and rolls back nodes still on
 * probation); a committed release comes off every node only by a revocation. It names one
 * manifest exactly (channel, sequence, version and the manifest's digest), so it can never be
 * stretched to another release, and it is signed under its own document type, so no signature
 * over a release or a root can pass for one. A revocation has no expiry and cannot be undone: a
 * revoked version is skipped for good, and a fix ships as a newer release.
 *
 * Verification order: size cap, UTF-8, strict JSON, shape, type, network, t-of-n signatures of
 * the current root. An expired root still verifies a revocation: it can only make a node more
 * careful, never start an upgrade.
 */
import { isHexOfLength } from '../bytes.ts'
import { SchemaError } from '../errors.ts'
import { fail, ok, type Result } from '../result.ts'
import { attestationRefused, decodeTyped, type Envelope, schemaFailure } from './envelope.ts'
import type { RootSigned } from './root.ts'
import * as s from './schema.ts'
import {
  documentDigest,
  type SignatureTally,
  signingPayload,
  tallyDocument,
  thresholdRefusal,
  type VerifyFn,
} from './signing.ts'

/** Document type of a revocation. */
export const REVOCATION_TYPE = 'convoy/revocation'
/** Largest revocation accepted, in bytes: also the cap on its DHT record and push frame. @default 16384 */
export const MAX_REVOCATION_BYTES: number = 16 * 1024
/** Longest reason, in characters. @default 500 */
export const MAX_REASON_CHARS = 500

/** The signed part of a revocation. */
export interface RevocationSigned {
  type: typeof REVOCATION_TYPE
  specVersion: 1
  network: string
  channel: string
  /** The revoked version. */
  version: string
  /** Sequence of the revoked manifest on its channel. */
  sequence: number
  /** Digest of the revoked manifest's signed part (lower-case hex sha256). */
  release: string
  /** Why, for node runners: shown in status and logs. */
  reason: string
  /** When the maintainers drafted it, RFC 3339 UTC. */
  issued: string
}

/** A revocation whose signatures met the threshold. */
export interface VerifiedRevocation {
  signed: RevocationSigned
  /** Digest of this revocation's signed part. */
  digest: string
  tally: SignatureTally
}

/** Checks the shape of a revocation's signed part; throws {@link SchemaError}. */
export function parseRevocationSigned(v: unknown): RevocationSigned {
  const r = s.object(v, 'signed', [
    'type',
    'specVersion',
    'network',
    'channel',
    'version',
    'sequence',
    'release',
    'reason',
    'issued',
  ])
  if (r.type !== REVOCATION_TYPE) throw new SchemaError(`signed.type must be "${REVOCATION_TYPE}"`)
  if (r.specVersion !== 1) throw new SchemaError('signed.specVersion must be 1')
  if (!isHexOfLength(r.release, 32))
    throw new SchemaError('signed.release must be 64 lower-case hex digits (a manifest digest)')
  return {
    type: REVOCATION_TYPE,
    specVersion: 1,
    network: s.string(r.network, 'signed.network', s.NAME_RE),
    channel: s.string(r.channel, 'signed.channel', s.NAME_RE),
    version: s.version(r.version, 'signed.version'),
    sequence: s.integer(r.sequence, 'signed.sequence', 1),
    release: r.release as string,
    reason: s.string(r.reason, 'signed.reason', /^[^\p{Cc}]*$/u, MAX_REASON_CHARS),
    issued: s.time(r.issued, 'signed.issued'),
  }
}

/** Decodes a revocation (size cap first) and checks its shape. Signatures are not checked. */
export function decodeRevocation(
  bytes: Uint8Array,
  maxBytes: number = MAX_REVOCATION_BYTES,
): Result<Envelope<RevocationSigned>> {
  const env = decodeTyped(bytes, maxBytes, REVOCATION_TYPE, 'a revocation')
  if (!env.ok) return env
  const attested = attestationRefused(env.value)
  if (attested) return attested
  try {
    return ok({ signed: parseRevocationSigned(env.value.signed), signatures: env.value.signatures })
  } catch (e) {
    return schemaFailure(e)
  }
}

/** The bytes each maintainer signs for this revocation. */
export function revocationPayload(signed: RevocationSigned): Uint8Array {
  return signingPayload(REVOCATION_TYPE, signed.network, signed)
}

/** Tallies a revocation's signatures against a root's keys. */
export function tallyRevocation(
  env: Envelope<RevocationSigned>,
  root: RootSigned,
  verify?: VerifyFn,
): SignatureTally {
  return tallyDocument(REVOCATION_TYPE, env.signed, env.signatures, root, verify)
}

/** Checks a decoded revocation against the current key set; never throws. */
export function verifyDecodedRevocation(
  env: Envelope<RevocationSigned>,
  root: RootSigned,
  verify?: VerifyFn,
): Result<VerifiedRevocation> {
  if (env.signed.network !== root.network)
    return fail(
      'wrong-network',
      `wrong network: revocation is for "${env.signed.network}", this root signs for "${root.network}"`,
    )
  const tally = tallyRevocation(env, root, verify)
  const short = thresholdRefusal(tally, root)
  if (short) return short
  return ok({ signed: env.signed, digest: documentDigest(env.signed), tally })
}

/** Decodes and verifies a revocation; never throws on untrusted bytes. */
export function verifyRevocation(
  bytes: Uint8Array,
  root: RootSigned,
  verify?: VerifyFn,
): Result<VerifiedRevocation> {
  const env = decodeRevocation(bytes)
  if (!env.ok) return env
  return verifyDecodedRevocation(env.value, root, verify)
}
