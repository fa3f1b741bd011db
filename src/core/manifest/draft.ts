/**
 * Building unsigned documents and adding signatures. Everything here is deterministic: times come
 * in as arguments, and ed25519 signing needs no randomness.
 */
import { fromHex, isHexOfLength } from '../bytes.ts'
import type { Envelope } from './envelope.ts'
import { mergeSignatures } from './envelope.ts'
import {
  DEFAULT_ROLLOUT,
  parseReleaseSigned,
  RELEASE_TYPE,
  type ReleaseSigned,
  type RolloutPolicy,
} from './release.ts'
import { parseRevocationSigned, REVOCATION_TYPE, type RevocationSigned } from './revocation.ts'
import { parseRootSigned, ROOT_TYPE, type RootSigned } from './root.ts'
import {
  type Attestation,
  documentDigest,
  keyIdOf,
  publicKeyOf,
  type RootKey,
  type Signature,
  signAttestation,
  signingPayload,
  signPayload,
} from './signing.ts'

/** Formats ms since the epoch as the RFC 3339 second-precision form documents use. */
export function formatTime(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`
}

/** A root key entry for a raw public key given as hex. Throws on a bad key (operator input). */
export function rootKey(publicKeyHex: string, name?: string): RootKey {
  if (!isHexOfLength(publicKeyHex, 32))
    throw new TypeError('a public key is 64 lower-case hex digits')
  const key: RootKey = { keyid: keyIdOf(fromHex(publicKeyHex)!), publicKey: publicKeyHex }
  if (name !== undefined) key.name = name
  return key
}

/** Parameters of a first root. */
export interface RootDraft {
  network: string
  threshold: number
  keys: RootKey[]
  /** Expiry, ms since the epoch. */
  expires: number
}

/** Builds root v1 (unsigned). Throws a SchemaError naming the field on bad parameters. */
export function draftRoot(d: RootDraft): Envelope<RootSigned> {
  const signed = parseRootSigned({
    type: ROOT_TYPE,
    specVersion: 1,
    network: d.network,
    version: 1,
    expires: formatTime(d.expires),
    threshold: d.threshold,
    keys: d.keys,
  })
  return { signed, signatures: [] }
}

/** Changes for a rotation. */
export interface RootRotation {
  add?: RootKey[]
  /** Key ids to drop. */
  remove?: string[]
  threshold?: number
  /** New expiry, ms since the epoch. */
  expires: number
}

/** Builds root N+1 from root N (unsigned): same network, version +1, keys and threshold changed. */
export function rotateRoot(current: RootSigned, r: RootRotation): Envelope<RootSigned> {
  const remove = new Set(r.remove ?? [])
  for (const id of remove) {
    if (!current.keys.some((k) => k.keyid === id))
      throw new TypeError(`key ${id.slice(0, 12)} is not in root v${current.version}`)
  }
  const keys = current.keys.filter((k) => !remove.has(k.keyid))
  for (const k of r.add ?? []) {
    if (keys.some((x) => x.keyid === k.keyid))
      throw new TypeError(`key ${k.keyid.slice(0, 12)} is already in the key set`)
    keys.push(k)
  }
  const signed = parseRootSigned({
    ...current,
    version: current.version + 1,
    expires: formatTime(r.expires),
    threshold: r.threshold ?? Math.min(current.threshold, keys.length),
    keys,
  })
  return { signed, signatures: [] }
}

/** Parameters of a release draft; `rollout` fields default to {@link DEFAULT_ROLLOUT}. */
export interface ReleaseDraft {
  network: string
  channel: string
  version: string
  sequence: number
  /** Expiry, ms since the epoch. */
  expires: number
  minVersion?: string
  capabilities?: string[]
  addsCapabilities?: string[]
  artifacts: ReleaseSigned['artifacts']
  rollout?: Partial<RolloutPolicy>
  notes?: string
  source?: ReleaseSigned['source']
}

/** Builds an unsigned release manifest. Throws a SchemaError naming the field on bad input. */
export function draftRelease(d: ReleaseDraft): Envelope<ReleaseSigned> {
  const signed = parseReleaseSigned({
    type: RELEASE_TYPE,
    specVersion: 1,
    network: d.network,
    channel: d.channel,
    version: d.version,
    sequence: d.sequence,
    expires: formatTime(d.expires),
    minVersion: d.minVersion ?? '0.0.0',
    capabilities: [...new Set(d.capabilities ?? [])].sort(),
    addsCapabilities: [...new Set(d.addsCapabilities ?? [])].sort(),
    artifacts: d.artifacts,
    rollout: { ...DEFAULT_ROLLOUT, ...(d.rollout ?? {}) },
    notes: d.notes ?? '',
    ...(d.source === undefined ? {} : { source: d.source }),
  })
  return { signed, signatures: [] }
}

/** What a maintainer says to revoke one release: the manifest itself names what is revoked. */
export interface RevocationDraft {
  /** The revoked manifest's signed part (already verified by the caller). */
  release: ReleaseSigned
  reason: string
  /** ms since the epoch. */
  issued: number
}

/** The unsigned revocation of a release. */
export function draftRevocation(d: RevocationDraft): Envelope<RevocationSigned> {
  const signed = parseRevocationSigned({
    type: REVOCATION_TYPE,
    specVersion: 1,
    network: d.release.network,
    channel: d.release.channel,
    version: d.release.version,
    sequence: d.release.sequence,
    release: documentDigest(d.release),
    reason: d.reason,
    issued: formatTime(d.issued),
  })
  return { signed, signatures: [] }
}

/** Options for {@link signDocument}. */
export interface SignOptions {
  /**
   * Also declare, under the same key, that the signer rebuilt the artifact and got the same bytes
   * (an {@link Attestation}). Only a release can carry one: the caller, not the core, checks the
   * rebuild. @default false
   */
  reproduced?: boolean
}

/**
 * Adds the signature of `secretKey` to a document. Signing twice with one key changes nothing
 * (ed25519 is deterministic and signatures merge by value); signing again with `reproduced`
 * replaces that key's plain entry with the attested one, and signing without it never removes an
 * attestation already there.
 */
export function signDocument<T extends RootSigned | ReleaseSigned | RevocationSigned>(
  env: Envelope<T>,
  secretKey: Uint8Array,
  options: SignOptions = {},
): Envelope<T> {
  const { type, network } = env.signed
  const entry: Signature = signPayload(signingPayload(type, network, env.signed), secretKey)
  if (options.reproduced === true) {
    if (type !== RELEASE_TYPE) throw new TypeError('only a release signature can attest a rebuild')
    entry.attestation = signAttestation(network, documentDigest(env.signed), secretKey)
  }
  return { signed: env.signed, signatures: mergeSignatures(env.signatures, [entry]) }
}

/** The key id a secret key signs as. */
export function keyIdOfSecret(secretKey: Uint8Array): string {
  return keyIdOf(publicKeyOf(secretKey))
}
