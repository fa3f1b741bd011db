/** Deterministic keys and documents for core tests. */
import { sha256 } from '@noble/hashes/sha2.js'
import { toHex, utf8 } from '../../src/core/bytes.ts'
import {
  draftRelease,
  draftRoot,
  type ReleaseDraft,
  rootKey,
  rotateRoot,
  signDocument,
} from '../../src/core/manifest/draft.ts'
import { type Envelope, encodeEnvelope } from '../../src/core/manifest/envelope.ts'
import type { ArtifactPin, ReleaseSigned } from '../../src/core/manifest/release.ts'
import type { RevocationSigned } from '../../src/core/manifest/revocation.ts'
import type { RootSigned } from '../../src/core/manifest/root.ts'
import { publicKeyOf } from '../../src/core/manifest/signing.ts'

/** 2026-11-28T00:00:00Z: the "now" of every core test. */
export const NOW: number = Date.parse('2026-11-28T00:00:00Z')
export const DAY = 86_400_000

/** A test maintainer: a secret key derived from a label. */
export interface TestKey {
  label: string
  secretKey: Uint8Array
  publicKey: string
  keyid: string
}

export function testKey(label: string): TestKey {
  const secretKey = sha256(utf8(`convoy-test-key:${label}`))
  const publicKey = toHex(publicKeyOf(secretKey))
  return { label, secretKey, publicKey, keyid: rootKey(publicKey).keyid }
}

export function keys(prefix: string, n: number): TestKey[] {
  return Array.from({ length: n }, (_, i) => testKey(`${prefix}${i}`))
}

export function signWith<T extends RootSigned | ReleaseSigned | RevocationSigned>(
  env: Envelope<T>,
  signers: readonly TestKey[],
): Envelope<T> {
  let out = env
  for (const k of signers) out = signDocument(out, k.secretKey)
  return out
}

/** Root v1 over `members`, signed by `signers`. */
export function makeRoot(
  members: readonly TestKey[],
  threshold: number,
  signers: readonly TestKey[] = members,
  network = 'testnet',
): Envelope<RootSigned> {
  const env = draftRoot({
    network,
    threshold,
    keys: members.map((k) => rootKey(k.publicKey, k.label)),
    expires: NOW + 365 * DAY,
  })
  return signWith(env, signers)
}

/** Root N+1 with `members`, signed by `signers` (from either set). */
export function makeRotation(
  current: RootSigned,
  members: readonly TestKey[],
  threshold: number,
  signers: readonly TestKey[],
): Envelope<RootSigned> {
  const keep = new Set(members.map((k) => k.keyid))
  const env = rotateRoot(current, {
    remove: current.keys.filter((k) => !keep.has(k.keyid)).map((k) => k.keyid),
    add: members
      .filter((m) => !current.keys.some((k) => k.keyid === m.keyid))
      .map((k) => rootKey(k.publicKey, k.label)),
    threshold,
    expires: NOW + 365 * DAY,
  })
  return signWith(env, signers)
}

export const ARTIFACT_A: ArtifactPin = { sha256: 'aa'.repeat(32), length: 1000 }
export const ARTIFACT_B: ArtifactPin = { sha256: 'bb'.repeat(32), length: 2000 }

export function makeRelease(
  signers: readonly TestKey[],
  over: Partial<ReleaseDraft> = {},
): Envelope<ReleaseSigned> {
  const env = draftRelease({
    network: 'testnet',
    channel: 'stable',
    version: '1.2.0',
    sequence: 7,
    expires: NOW + 30 * DAY,
    capabilities: ['hello/1', 'shadow/1'],
    addsCapabilities: ['shadow/1'],
    artifacts: { node: ARTIFACT_A },
    ...over,
  })
  return signWith(env, signers)
}

export function bytesOf(env: Envelope): Uint8Array {
  return encodeEnvelope(env)
}
