/**
 * OpenSSL-backed ed25519 verification for the core's {@link VerifyFn} slot. The same RFC 8032
 * rule as the pure verifier, about ten times faster on the project machine (see
 * docs/benchmarks.md); test/core/interop.test.ts holds the two to the same answers.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto'
import type { VerifyFn } from '../../core/manifest/signing.ts'

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const cache = new Map<string, KeyObject>()
const CACHE_LIMIT = 1024

function keyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('hex')
  let key = cache.get(id)
  if (key === undefined) {
    key = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    })
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!)
    cache.set(id, key)
  }
  return key
}

/** Verifies with node:crypto (OpenSSL). False on malformed keys or signatures, never throws. */
export const opensslVerify: VerifyFn = (payload, signature, publicKey) => {
  if (signature.length !== 64 || publicKey.length !== 32) return false
  try {
    return verify(null, payload, keyObject(publicKey), signature)
  } catch {
    return false
  }
}
