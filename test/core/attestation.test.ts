/**
 * Reproduced-build attestations: a signer's separate, domain-separated signature saying "I rebuilt
 * this release's artifact and got the same bytes". It verifies only for its key, network and
 * document; it never changes the t-of-n count; decoding allows it and nothing else new; merging
 * keeps one attested entry per key.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { utf8 } from '../../src/core/bytes.ts'
import { signDocument } from '../../src/core/manifest/draft.ts'
import {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  mergeSignatures,
} from '../../src/core/manifest/envelope.ts'
import {
  decodeRelease,
  type ReleaseSigned,
  releasePayload,
  verifyRelease,
} from '../../src/core/manifest/release.ts'
import { decodeRoot } from '../../src/core/manifest/root.ts'
import {
  attestationPayload,
  documentDigest,
  reproducedSigners,
  type Signature,
  signAttestation,
  verifyAttestation,
} from '../../src/core/manifest/signing.ts'
import { ARTIFACT_B, keys, makeRelease, makeRoot, NOW } from './fixtures.ts'

const K = keys('att', 3)
const root = makeRoot(K, 2).signed
const draft = makeRelease([])
const digest = documentDigest(draft.signed)

function attested(env: Envelope<ReleaseSigned>, i: number): Envelope<ReleaseSigned> {
  return signDocument(env, K[i]!.secretKey, { reproduced: true })
}

function entryOf(env: Envelope<ReleaseSigned>, i: number): Signature {
  const e = env.signatures.find((s) => s.keyid === K[i]!.keyid)
  assert.ok(e, `no entry for key ${i}`)
  return e
}

describe('attestation payload and signature', () => {
  it('the payload is the context, "reproduced", the network and the digest, NUL-separated', () => {
    assert.deepEqual(
      attestationPayload('testnet', digest),
      utf8(`convoy-attestation-v1\0reproduced\0testnet\0${digest}`),
    )
    // Never the bytes of a document signature, whatever the document.
    assert.notDeepEqual(attestationPayload('testnet', digest), releasePayload(draft.signed))
  })

  it('an attestation verifies for its key, network and document', () => {
    const env = attested(draft, 0)
    const e = entryOf(env, 0)
    assert.equal(e.attestation?.reproduced, true)
    assert.equal(verifyAttestation(e, K[0]!.publicKey, 'testnet', digest), true)
    // Deterministic: the same key attests the same document with the same bytes.
    assert.deepEqual(e.attestation, signAttestation('testnet', digest, K[0]!.secretKey))
  })

  it('a wrong network, digest or key fails; so do a missing or mangled attestation', () => {
    const e = entryOf(attested(draft, 0), 0)
    assert.equal(verifyAttestation(e, K[0]!.publicKey, 'othernet', digest), false)
    const other = documentDigest(makeRelease([], { artifacts: { node: ARTIFACT_B } }).signed)
    assert.equal(verifyAttestation(e, K[0]!.publicKey, 'testnet', other), false)
    assert.equal(verifyAttestation(e, K[1]!.publicKey, 'testnet', digest), false)
    assert.equal(
      verifyAttestation({ keyid: e.keyid, sig: e.sig }, K[0]!.publicKey, 'testnet', digest),
      false,
    )
    const flipped = `${e.attestation!.sig.slice(0, -1)}${e.attestation!.sig.endsWith('0') ? '1' : '0'}`
    assert.equal(
      verifyAttestation(
        { ...e, attestation: { reproduced: true, sig: flipped } },
        K[0]!.publicKey,
        'testnet',
        digest,
      ),
      false,
    )
    assert.equal(
      verifyAttestation(
        { ...e, attestation: { reproduced: true, sig: 'zz' } },
        K[0]!.publicKey,
        'testnet',
        digest,
      ),
      false,
    )
    // The document signature is not an attestation, even moved into its place.
    assert.equal(
      verifyAttestation(
        { ...e, attestation: { reproduced: true, sig: e.sig } },
        K[0]!.publicKey,
        'testnet',
        digest,
      ),
      false,
    )
  })

  it('only a release signature can attest', () => {
    const r = makeRoot(K, 2, [])
    assert.throws(() => signDocument(r, K[0]!.secretKey, { reproduced: true }), /only a release/)
  })
})

describe('attestations and the t-of-n count', () => {
  it('a forged attestation changes nothing about the count; the signer is just not reproduced', () => {
    let env = attested(draft, 0)
    env = signDocument(env, K[1]!.secretKey)
    const forged: Envelope<ReleaseSigned> = {
      signed: env.signed,
      signatures: env.signatures.map((s) =>
        s.keyid === K[1]!.keyid
          ? { ...s, attestation: signAttestation('testnet', digest, K[2]!.secretKey) }
          : s,
      ),
    }
    for (const e of [env, forged]) {
      const r = verifyRelease(encodeEnvelope(e), { root, now: NOW })
      assert.ok(r.ok, r.ok ? '' : r.reason)
      assert.deepEqual(r.value.tally.signed, [K[0]!.keyid, K[1]!.keyid])
      assert.deepEqual(
        reproducedSigners(root.keys, r.value.tally.signed, e.signatures, 'testnet', r.value.digest),
        [K[0]!.keyid],
      )
    }
  })

  it('an attested entry with a bad document signature does not count', () => {
    const env = attested(draft, 0)
    const e = entryOf(env, 0)
    const bad = { ...e, sig: `${e.sig.slice(0, -2)}${e.sig.endsWith('00') ? '01' : '00'}` }
    const r = verifyRelease(encodeEnvelope({ signed: env.signed, signatures: [bad] }), {
      root,
      now: NOW,
    })
    assert.equal(r.ok, false)
    // And reproducedSigners only ever reports keys the caller counted as valid signers.
    assert.deepEqual(reproducedSigners(root.keys, [], [bad], 'testnet', digest), [])
  })
})

describe('decoding signature entries', () => {
  const decoded = (text: string) => decodeEnvelope(utf8(text), 1 << 16)
  const sig = 'ab'.repeat(64)
  const keyid = 'cd'.repeat(32)

  it('accepts the optional attestation and round-trips it', () => {
    const env = attested(draft, 0)
    const bytes = encodeEnvelope(env)
    const r = decodeRelease(bytes)
    assert.ok(r.ok, r.ok ? '' : r.reason)
    assert.deepEqual(r.value.signatures, env.signatures)
    assert.deepEqual(encodeEnvelope(r.value), bytes)
  })

  it('refuses unknown members in a signature entry and in an attestation', () => {
    const cases: [string, RegExp][] = [
      [
        `{"signed":{},"signatures":[{"keyid":"${keyid}","sig":"${sig}","note":"x"}]}`,
        /signatures\[0\] has unknown member "note"/,
      ],
      [
        `{"signed":{},"signatures":[{"keyid":"${keyid}","sig":"${sig}","attestation":{"reproduced":true,"sig":"${sig}","when":"now"}}]}`,
        /signatures\[0\]\.attestation has unknown member "when"/,
      ],
      [
        `{"signed":{},"signatures":[{"keyid":"${keyid}","sig":"${sig}","attestation":{"reproduced":false,"sig":"${sig}"}}]}`,
        /attestation\.reproduced must be true/,
      ],
      [
        `{"signed":{},"signatures":[{"keyid":"${keyid}","sig":"${sig}","attestation":{"reproduced":true}}]}`,
        /attestation\.sig is missing/,
      ],
      [
        `{"signed":{},"signatures":[{"keyid":"${keyid}","sig":"${sig}","attestation":{"reproduced":true,"sig":"AB"}}]}`,
        /attestation\.sig must be 128 lower-case hex digits/,
      ],
      [
        `{"signed":{},"signatures":[{"keyid":"${keyid}","sig":"${sig}","attestation":true}]}`,
        /attestation must be an object/,
      ],
    ]
    for (const [text, reason] of cases) {
      const r = decoded(text)
      assert.equal(r.ok, false, text)
      if (!r.ok) {
        assert.equal(r.code, 'malformed')
        assert.match(r.reason, reason)
      }
    }
    const plain = decoded(`{"signed":{},"signatures":[{"keyid":"${keyid}","sig":"${sig}"}]}`)
    assert.ok(plain.ok)
    assert.equal(Object.hasOwn(plain.value.signatures[0]!, 'attestation'), false)
  })

  it('a root refuses an attestation: it has no build to reproduce', () => {
    const r = makeRoot(K, 2)
    const env: Envelope = {
      signed: r.signed,
      signatures: r.signatures.map((s) => ({
        ...s,
        attestation: { reproduced: true, sig: s.sig },
      })),
    }
    const d = decodeRoot(encodeEnvelope(env))
    assert.equal(d.ok, false)
    if (!d.ok) assert.match(d.reason, /attestation: only a release signature may carry one/)
  })
})

describe('merging and re-signing', () => {
  it('merge keeps one attested entry per key, in any order', () => {
    const plain = signDocument(draft, K[0]!.secretKey)
    const withAtt = attested(draft, 0)
    const a = mergeSignatures(plain.signatures, withAtt.signatures)
    const b = mergeSignatures(withAtt.signatures, plain.signatures, withAtt.signatures)
    assert.equal(a.length, 1)
    assert.deepEqual(a, withAtt.signatures)
    assert.deepEqual(b, a)
    // Several keys, some attested: the same bytes whatever the order of the copies.
    const one = signDocument(attested(draft, 1), K[0]!.secretKey)
    const two = signDocument(attested(draft, 0), K[2]!.secretKey)
    const x = mergeSignatures(one.signatures, two.signatures)
    const y = mergeSignatures(two.signatures, one.signatures)
    assert.deepEqual(x, y)
    assert.deepEqual(
      x.map((s) => [s.keyid, s.attestation !== undefined]),
      [
        [K[0]!.keyid, true],
        [K[1]!.keyid, true],
        [K[2]!.keyid, false],
      ].sort(([p], [q]) => ((p as string) < (q as string) ? -1 : 1)),
    )
  })

  it('signing twice is a no-op; signing again with an attestation replaces the plain entry', () => {
    const once = signDocument(draft, K[0]!.secretKey)
    assert.deepEqual(encodeEnvelope(signDocument(once, K[0]!.secretKey)), encodeEnvelope(once))
    const upgraded = signDocument(once, K[0]!.secretKey, { reproduced: true })
    assert.equal(upgraded.signatures.length, 1)
    assert.equal(upgraded.signatures[0]!.sig, once.signatures[0]!.sig)
    assert.ok(upgraded.signatures[0]!.attestation)
    // Attested twice: unchanged. Signed again without: the attestation stays.
    const bytes = encodeEnvelope(upgraded)
    assert.deepEqual(
      encodeEnvelope(signDocument(upgraded, K[0]!.secretKey, { reproduced: true })),
      bytes,
    )
    assert.deepEqual(encodeEnvelope(signDocument(upgraded, K[0]!.secretKey)), bytes)
  })

  it('a junk attestation beside a good one is kept apart, and does not hide it', () => {
    const good = attested(draft, 0).signatures[0]!
    const junk: Signature = { ...good, attestation: { reproduced: true, sig: '00'.repeat(64) } }
    const merged = mergeSignatures([junk], [good])
    assert.equal(merged.length, 2)
    assert.deepEqual(reproducedSigners(root.keys, [K[0]!.keyid], merged, 'testnet', digest), [
      K[0]!.keyid,
    ])
  })
})
