/**
 * Signing payloads and t-of-n signature counting.
 *
 * The payload is a fixed context string naming the document type and network, a NUL, then the
 * RFC 8785 bytes of the signed part. A signature over a root can never pass as one over a release,
 * and a signature made for network A can never pass on network B, even if the bodies matched.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, fromHex, isHexOfLength, toHex, utf8 } from '../bytes.ts'
import { type Failure, fail } from '../result.ts'
import { canonicalBytes } from './canonical.ts'

/** Version tag of the payload layout; bump it if the layout ever changes. */
export const SIGNATURE_CONTEXT = 'convoy-signature-v1'

/** Version tag of the attestation payload layout; bump it if the layout ever changes. */
export const ATTESTATION_CONTEXT = 'convoy-attestation-v1'

/** One signature on a document, as stored beside the signed part. */
export interface Signature {
  /** Hex sha256 of the signer's raw 32-byte ed25519 public key. */
  keyid: string
  /** Hex of the 64-byte ed25519 signature over {@link signingPayload}. */
  sig: string
  /**
   * The signer's declaration that they rebuilt the release's artifact from its signed source and
   * got the same bytes. Optional and separate from `sig`: it never counts toward t-of-n, and a
   * bad one only means the signer is not shown as having reproduced the build.
   */
  attestation?: Attestation
}

/** A signed "I reproduced this build" beside a release signature. */
export interface Attestation {
  /** Always `true`: the only claim an attestation makes. */
  reproduced: true
  /** Hex of the 64-byte ed25519 signature over {@link attestationPayload}, by the entry's key. */
  sig: string
}

/** A maintainer key as listed in a root. */
export interface RootKey {
  /** Hex sha256 of `publicKey`'s bytes; checked, never trusted. */
  keyid: string
  /** Hex of the raw 32-byte ed25519 public key. */
  publicKey: string
  /** Who holds the key; informational, shown by `inspect`. */
  name?: string
}

/** The key id of a raw ed25519 public key: lower-case hex sha256 of its 32 bytes. */
export function keyIdOf(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey))
}

/** The first 12 hex digits of a key id, for messages. */
export function shortKeyId(keyid: string): string {
  return keyid.slice(0, 12)
}

/** The exact bytes a maintainer signs for a document of `type` on `network`. */
export function signingPayload(type: string, network: string, signed: unknown): Uint8Array {
  return concatBytes(utf8(`${SIGNATURE_CONTEXT}\0${type}\0${network}\0`), canonicalBytes(signed))
}

/**
 * The exact bytes a signer signs to declare a reproduced build of the document whose
 * {@link documentDigest} is `digest` (lower-case hex) on `network`:
 * `convoy-attestation-v1 NUL reproduced NUL network NUL digest`. Its own context string, so an
 * attestation can never pass as a document signature, nor the reverse.
 */
export function attestationPayload(network: string, digest: string): Uint8Array {
  return utf8(`${ATTESTATION_CONTEXT}\0reproduced\0${network}\0${digest}`)
}

/** Makes the attestation of `secretKey` for the document `digest` on `network`; deterministic. */
export function signAttestation(
  network: string,
  digest: string,
  secretKey: Uint8Array,
): Attestation {
  return { reproduced: true, sig: signPayload(attestationPayload(network, digest), secretKey).sig }
}

/**
 * True when `entry` carries an attestation that verifies against `publicKeyHex` for the document
 * `digest` on `network`. False on a missing, malformed or forged one; never throws. It says
 * nothing about `entry.sig`: count signatures with {@link tallySignatures}.
 */
export function verifyAttestation(
  entry: Signature,
  publicKeyHex: string,
  network: string,
  digest: string,
  verify: VerifyFn = nobleVerify,
): boolean {
  const a = entry.attestation
  if (a === undefined || a.reproduced !== true) return false
  return verifySignature(attestationPayload(network, digest), a.sig, publicKeyHex, verify)
}

/**
 * Key ids among `signers` (already counted as valid, e.g. a tally's `signed`) with at least one
 * entry whose attestation verifies, in `signers` order. A forged attestation placed beside a
 * good one does not hide it.
 */
export function reproducedSigners(
  keys: readonly RootKey[],
  signers: readonly string[],
  signatures: readonly Signature[],
  network: string,
  digest: string,
  verify: VerifyFn = nobleVerify,
): string[] {
  const byId = new Map(keys.map((k) => [k.keyid, k]))
  return signers.filter((id) => {
    const key = byId.get(id)
    if (key === undefined) return false
    return signatures.some(
      (s) => s.keyid === id && verifyAttestation(s, key.publicKey, network, digest, verify),
    )
  })
}

/** Hex sha256 of the canonical signed part: the identity of a document, whatever its spelling. */
export function documentDigest(signed: unknown): string {
  return toHex(sha256(canonicalBytes(signed)))
}

/** Signs `payload` with a 32-byte ed25519 secret key; deterministic (RFC 8032). */
export function signPayload(payload: Uint8Array, secretKey: Uint8Array): Signature {
  const publicKey = ed25519.getPublicKey(secretKey)
  return { keyid: keyIdOf(publicKey), sig: toHex(ed25519.sign(payload, secretKey)) }
}

/** Derives the public key of a 32-byte ed25519 secret key. */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey)
}

/**
 * An ed25519 verifier: message, raw 64-byte signature, raw 32-byte public key. The core ships a
 * pure one ({@link nobleVerify}); an adapter may pass a faster one (OpenSSL through node:crypto)
 * that applies the same RFC 8032 rule. The interop tests hold the two to the same answers.
 */
export type VerifyFn = (
  payload: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
) => boolean

/**
 * Pure-JS verification with @noble/curves. `zip215: false` is RFC 8032 / FIPS 186-5 strict
 * verification, the rule OpenSSL applies, so every verifier agrees on which signatures are valid.
 */
export const nobleVerify: VerifyFn = (payload, signature, publicKey) =>
  ed25519.verify(signature, payload, publicKey, { zip215: false })

/** Checks one signature; false on any malformed input, never throws. */
export function verifySignature(
  payload: Uint8Array,
  sigHex: string,
  publicKeyHex: string,
  verify: VerifyFn = nobleVerify,
): boolean {
  if (!isHexOfLength(sigHex, 64) || !isHexOfLength(publicKeyHex, 32)) return false
  try {
    return verify(payload, fromHex(sigHex)!, fromHex(publicKeyHex)!)
  } catch {
    return false
  }
}

/** How the signatures on one document count against one key set. */
export interface SignatureTally {
  /** Key ids of the key set with a valid signature, in key-set order. Each counts once. */
  signed: string[]
  /** Key ids of the key set without a valid signature. */
  missing: string[]
  /** Key ids that are not in the key set (ignored). */
  unknown: string[]
  /** Key ids in the key set whose signature did not verify (ignored). */
  invalid: string[]
  /** Signatures that repeat a key id already seen (ignored). */
  duplicates: number
  /** True when `signed.length >= threshold`. */
  met: boolean
}

/**
 * Counts the distinct keys of `keys` that validly signed `payload`. Unknown keys, repeated
 * signatures and bad signatures are reported and never counted.
 */
export function tallySignatures(
  keys: readonly RootKey[],
  threshold: number,
  payload: Uint8Array,
  signatures: readonly Signature[],
  verify: VerifyFn = nobleVerify,
): SignatureTally {
  const byId = new Map(keys.map((k) => [k.keyid, k]))
  const valid = new Set<string>()
  const seen = new Set<string>()
  const unknown: string[] = []
  const invalid: string[] = []
  let duplicates = 0
  for (const s of signatures) {
    if (seen.has(s.keyid)) duplicates++
    seen.add(s.keyid)
    const key = byId.get(s.keyid)
    if (key === undefined) {
      if (!unknown.includes(s.keyid)) unknown.push(s.keyid)
      continue
    }
    // A repeated key id counts at most once, but a junk copy placed first must not hide a good one.
    if (valid.has(s.keyid)) continue
    if (verifySignature(payload, s.sig, key.publicKey, verify)) valid.add(s.keyid)
  }
  for (const id of seen) if (byId.has(id) && !valid.has(id)) invalid.push(id)
  const signed = keys.filter((k) => valid.has(k.keyid)).map((k) => k.keyid)
  const missing = keys.filter((k) => !valid.has(k.keyid)).map((k) => k.keyid)
  return { signed, missing, unknown, invalid, duplicates, met: signed.length >= threshold }
}

/**
 * Counts the signatures on a document of `type` (its signed part `signed`) against the keys and
 * threshold of `by`: the one tally behind every document type's.
 */
export function tallyDocument(
  type: string,
  signed: { network: string },
  signatures: readonly Signature[],
  by: { keys: readonly RootKey[]; threshold: number },
  verify?: VerifyFn,
): SignatureTally {
  return tallySignatures(
    by.keys,
    by.threshold,
    signingPayload(type, signed.network, signed),
    signatures,
    verify,
  )
}

/**
 * The `threshold` refusal of a document whose tally against `root` fell short, or undefined when
 * it met the threshold. Says to fetch the newer root when enough signers are outside this one.
 */
export function thresholdRefusal(
  tally: SignatureTally,
  root: { version: number; threshold: number; keys: readonly RootKey[] },
): Failure | undefined {
  if (tally.met) return undefined
  let reason = describeShortfall(tally, root.threshold, root.keys, `root v${root.version}`)
  if (tally.unknown.length >= root.threshold)
    reason += '; if the key set was rotated, fetch the newer root first'
  return fail('threshold', reason)
}

/** One line saying why a tally fell short, naming the keys still needed. */
export function describeShortfall(
  tally: SignatureTally,
  threshold: number,
  keys: readonly RootKey[],
  what: string,
): string {
  const names = new Map(keys.map((k) => [k.keyid, k.name]))
  const missing = tally.missing.map((id) => {
    const name = names.get(id)
    return name ? `${shortKeyId(id)} (${name})` : shortKeyId(id)
  })
  let extra = ''
  if (tally.invalid.length > 0)
    extra += `; ${tally.invalid.length} bad signature(s) from ${tally.invalid.map(shortKeyId).join(', ')}`
  if (tally.unknown.length > 0)
    extra += `; ${tally.unknown.length} signature(s) from keys outside ${what} ignored`
  if (tally.duplicates > 0) extra += `; ${tally.duplicates} repeated signature(s) ignored`
  return `threshold not met: ${tally.signed.length} of ${threshold} valid signatures from ${what}, missing keys ${missing.join(', ')}${extra}`
}
