/** Revocation documents and the revocations a node obeys. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { draftRevocation, signDocument } from '../../src/core/manifest/draft.ts'
import {
  decodeRevocation,
  MAX_REVOCATION_BYTES,
  verifyRevocation,
} from '../../src/core/manifest/revocation.ts'
import { documentDigest } from '../../src/core/manifest/signing.ts'
import {
  acceptRevocation,
  MAX_REVOCATIONS,
  type RevokedRelease,
} from '../../src/core/trust/revocations.ts'
import { acceptRelease, initialTrust } from '../../src/core/trust/trust.ts'
import { bytesOf, keys, makeRelease, makeRoot, NOW, signWith } from './fixtures.ts'

const maintainers = keys('m', 3)
const root = makeRoot(maintainers, 2).signed
const release = makeRelease(maintainers.slice(0, 2))

function revocation(signers = maintainers.slice(0, 2), over: Partial<typeof release.signed> = {}) {
  const env = draftRevocation({
    release: { ...release.signed, ...over },
    reason: 'it corrupts the store on restart',
    issued: NOW,
  })
  return signWith(env, signers)
}

describe('revocation documents', () => {
  it('verify with t of n signatures of the current root, naming the manifest exactly', () => {
    const v = verifyRevocation(bytesOf(revocation()), root)
    assert.ok(v.ok, v.ok ? '' : v.reason)
    assert.equal(v.value.signed.version, '1.2.0')
    assert.equal(v.value.signed.sequence, 7)
    assert.equal(v.value.signed.release, documentDigest(release.signed))
  })

  it('are refused short of the threshold, for another network, tampered, or oversized', () => {
    const one = verifyRevocation(bytesOf(revocation(maintainers.slice(0, 1))), root)
    assert.ok(!one.ok && one.code === 'threshold', 'one signature of two')
    const other = makeRoot(maintainers, 2, maintainers, 'othernet').signed
    const wrong = verifyRevocation(bytesOf(revocation()), other)
    assert.ok(!wrong.ok && wrong.code === 'wrong-network')
    const env = revocation()
    const tampered = { ...env, signed: { ...env.signed, version: '1.3.0' } }
    const t = verifyRevocation(bytesOf(tampered), root)
    assert.ok(!t.ok && t.code === 'threshold', 'a signature covers the version')
    const big = new Uint8Array(MAX_REVOCATION_BYTES + 1).fill(32)
    const b = decodeRevocation(big)
    assert.ok(!b.ok && b.code === 'too-large')
    const extra = { ...env, signed: { ...env.signed, undo: true } }
    const u = decodeRevocation(bytesOf(extra as never))
    assert.ok(!u.ok && /unknown member "undo"/.test(u.reason))
  })

  it('cannot be made of signatures over a release, and a release is no revocation', () => {
    const env = revocation([])
    // The release's own signatures, moved onto the revocation: signed under another type.
    const moved = { signed: env.signed, signatures: release.signatures }
    const v = verifyRevocation(bytesOf(moved), root)
    assert.ok(!v.ok && v.code === 'threshold')
    const r = decodeRevocation(bytesOf(release))
    assert.ok(!r.ok && r.code === 'wrong-type')
  })
})

describe('the revocations a node obeys', () => {
  const trusted = (() => {
    const r = acceptRelease(initialTrust(root), bytesOf(release), { now: NOW })
    assert.ok(r.ok)
    return r.value.state
  })()

  it('accepts one naming the trusted manifest, once', () => {
    const a = acceptRevocation(trusted, [], bytesOf(revocation()))
    assert.ok(a.ok && a.value.isNew, a.ok ? '' : a.reason)
    const again = acceptRevocation(trusted, [a.value.revoked], bytesOf(revocation()))
    assert.ok(again.ok && !again.value.isNew)
  })

  it('refuses one whose manifest contradicts the one trusted at that sequence', () => {
    const forged = revocation(maintainers.slice(0, 2), { version: '1.2.1' })
    const a = acceptRevocation(trusted, [], bytesOf(forged))
    assert.ok(!a.ok && a.code === 'conflict', a.ok ? '' : a.reason)
  })

  it('accepts one for a manifest the node never saw, so that it never starts it', () => {
    const a = acceptRevocation(
      initialTrust(root),
      [],
      bytesOf(revocation(maintainers.slice(1), { sequence: 9, version: '1.4.0' })),
    )
    assert.ok(a.ok && a.value.isNew)
  })

  it('keeps at most MAX_REVOCATIONS', () => {
    const held: RevokedRelease[] = Array.from({ length: MAX_REVOCATIONS }, (_, i) => ({
      channel: 'stable',
      version: `0.0.${i}`,
      sequence: 100 + i,
      release: '00'.repeat(32),
      reason: '',
      issued: '2026-11-28T00:00:00Z',
      digest: '00'.repeat(32),
    }))
    const a = acceptRevocation(trusted, held, bytesOf(revocation()))
    assert.ok(!a.ok && a.code === 'too-large')
  })

  it('sign like every document: deterministic, mergeable', () => {
    const env = draftRevocation({ release: release.signed, reason: 'x', issued: NOW })
    const a = signDocument(env, maintainers[0]!.secretKey)
    assert.deepEqual(signDocument(a, maintainers[0]!.secretKey), a)
  })
})
