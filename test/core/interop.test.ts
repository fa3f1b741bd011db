/** Every signature convoy writes is an ordinary RFC 8032 signature: OpenSSL (node:crypto) agrees. */
import assert from 'node:assert/strict'
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { opensslVerify } from '../../src/adapters/crypto/ed25519.ts'
import { fromHex } from '../../src/core/bytes.ts'
import { releasePayload } from '../../src/core/manifest/release.ts'
import { ROOT_TYPE } from '../../src/core/manifest/root.ts'
import {
  keyIdOf,
  nobleVerify,
  signingPayload,
  verifySignature,
} from '../../src/core/manifest/signing.ts'
import { keys, makeRelease, makeRoot } from './fixtures.ts'

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

function opensslPublic(hex: string) {
  return createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, Buffer.from(hex, 'hex')]),
    format: 'der',
    type: 'spki',
  })
}

describe('interop with OpenSSL', () => {
  const K = keys('interop-', 5)

  it('release and root signatures verify with crypto.verify over the same payload', () => {
    const rel = makeRelease(K.slice(0, 3))
    const payload = releasePayload(rel.signed)
    for (const s of rel.signatures) {
      const key = K.find((k) => k.keyid === s.keyid)!
      assert.ok(verify(null, payload, opensslPublic(key.publicKey), Buffer.from(s.sig, 'hex')))
    }
    const root = makeRoot(K, 3)
    const rootPayload = signingPayload(ROOT_TYPE, root.signed.network, root.signed)
    for (const s of root.signatures) {
      const key = K.find((k) => k.keyid === s.keyid)!
      assert.ok(verify(null, rootPayload, opensslPublic(key.publicKey), Buffer.from(s.sig, 'hex')))
    }
  })

  it('OpenSSL signatures verify with convoy, for random keys and messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (msg) => {
        const { publicKey, privateKey } = generateKeyPairSync('ed25519')
        const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length)
        const sig = sign(null, msg, privateKey)
        assert.ok(verifySignature(msg, sig.toString('hex'), raw.toString('hex')))
        const flipped = Buffer.from(sig)
        flipped[0]! ^= 1
        assert.equal(verifySignature(msg, flipped.toString('hex'), raw.toString('hex')), false)
      }),
      { numRuns: 50 },
    )
  })

  it('a convoy secret key signs the same bytes as OpenSSL with the same key (RFC 8032 is deterministic)', () => {
    const k = K[0]!
    const priv = createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, Buffer.from(k.secretKey)]),
      format: 'der',
      type: 'pkcs8',
    })
    const payload = releasePayload(makeRelease([]).signed)
    const ours = makeRelease([k]).signatures[0]!.sig
    assert.equal(sign(null, payload, priv).toString('hex'), ours)
    assert.equal(keyIdOf(fromHex(k.publicKey)!), k.keyid)
  })

  it('RFC 8032 test vector 1 (empty message)', () => {
    const pub = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
    const sig =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
    assert.ok(verifySignature(new Uint8Array(), sig, pub))
    assert.ok(verify(null, Buffer.alloc(0), opensslPublic(pub), Buffer.from(sig, 'hex')))
  })

  it('the OpenSSL adapter and the pure verifier agree on valid, mutated and junk signatures', () => {
    const k = K[1]!
    const payload = releasePayload(makeRelease([]).signed)
    const good = Buffer.from(makeRelease([k]).signatures[0]!.sig, 'hex')
    const pub = Buffer.from(k.publicKey, 'hex')
    assert.equal(opensslVerify(payload, good, pub), true)
    fc.assert(
      fc.property(
        fc.nat(63),
        fc.integer({ min: 1, max: 255 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (at, xor, junkKey) => {
          const sig = Buffer.from(good)
          sig[at]! ^= xor
          assert.equal(opensslVerify(payload, sig, pub), nobleVerify(payload, sig, pub))
          let noble: boolean
          try {
            noble = nobleVerify(payload, good, junkKey)
          } catch {
            noble = false
          }
          assert.equal(opensslVerify(payload, good, junkKey), noble)
        },
      ),
      { numRuns: 200 },
    )
  })
})
