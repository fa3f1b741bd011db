/**
 * Golden vectors (test/vectors/convoy-v1.json): convoy's formats, byte for byte, checked against
 * both verifiers. Two directions, both needed so the installed base is never stranded:
 * - this code accepts the stored documents (what nodes of earlier releases signed and hold);
 * - this code, given the same inputs, produces the same bytes (so a node of the previous
 *   release, which verifies exactly these, verifies what this code publishes).
 * A failure here is a format change. If it is on purpose, bump the context string or specVersion
 * and regenerate with `node test/vectors/generate.ts`; never regenerate to make this pass.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { opensslVerify } from '../../src/adapters/crypto/ed25519.ts'
import { fromHex, toHex, utf8 } from '../../src/core/bytes.ts'
import { signDocument } from '../../src/core/manifest/draft.ts'
import { decodeEnvelope, encodeEnvelope } from '../../src/core/manifest/envelope.ts'
import { decodeRelease, releasePayload, verifyRelease } from '../../src/core/manifest/release.ts'
import {
  decodeRoot,
  ROOT_TYPE,
  verifyAnchorRoot,
  verifyRootUpdate,
} from '../../src/core/manifest/root.ts'
import {
  attestationPayload,
  documentDigest,
  keyIdOf,
  nobleVerify,
  publicKeyOf,
  reproducedSigners,
  signingPayload,
  type VerifyFn,
} from '../../src/core/manifest/signing.ts'
import { type DhtKey, formatDhtKey, parseDhtKey } from '../../src/core/net/dht-keys.ts'
import { decodeHelloMessage, encodeHelloMessage } from '../../src/core/net/hello.ts'
import {
  decodeReport,
  encodeReport,
  reportPayload,
  signReportBody,
  verifyReport,
} from '../../src/core/rollout/report.ts'
import { rolloutSlot } from '../../src/core/rollout/slot.ts'

const V = JSON.parse(
  readFileSync(new URL('../vectors/convoy-v1.json', import.meta.url), 'utf8'),
) as {
  now: string
  keys: { name: string; secretKey: string; publicKey: string; keyid: string }[]
  root: { bytes: string; payload: string; digest: string }
  rotation: { bytes: string; payload: string; digest: string }
  release: { bytes: string; payload: string; digest: string; attestationPayload: string }
  slots: { peer: string; release: string; slot: number }[]
  report: { reporter: string; secretKey: string; publicKey: string; bytes: string; payload: string }
  hello: { message: unknown; bytes: string }
  dhtKeys: { key: DhtKey; text: string }[]
}
const now = Date.parse(V.now)
const secretOf = (keyid: string) => fromHex(V.keys.find((k) => k.keyid === keyid)!.secretKey)!
const verifiers: [string, VerifyFn][] = [
  ['noble', nobleVerify],
  ['openssl', opensslVerify],
]

/** Re-signs the document's signed part with the keys that signed it, in the stored order. */
function resign(bytes: string): string {
  const env = decodeEnvelope(utf8(bytes), 64 * 1024)
  assert.ok(env.ok)
  let out = { signed: env.value.signed, signatures: [] as typeof env.value.signatures }
  for (const s of env.value.signatures)
    out = signDocument(out as never, secretOf(s.keyid), { reproduced: s.attestation !== undefined })
  return new TextDecoder().decode(encodeEnvelope(out))
}

describe('golden vectors (test/vectors/convoy-v1.json)', () => {
  it('keys: each key id is the sha256 of its public key', () => {
    for (const k of V.keys) {
      assert.equal(toHex(publicKeyOf(fromHex(k.secretKey)!)), k.publicKey, k.name)
      assert.equal(keyIdOf(fromHex(k.publicKey)!), k.keyid, k.name)
    }
  })

  for (const [name, verify] of verifiers) {
    it(`root v1 and its rotation to v2 verify (${name})`, () => {
      const r1 = verifyAnchorRoot(utf8(V.root.bytes), { now, network: 'vectornet', verify })
      assert.ok(r1.ok, r1.ok ? '' : r1.reason)
      assert.equal(r1.value.digest, V.root.digest)
      const r2 = verifyRootUpdate(r1.value.signed, utf8(V.rotation.bytes), { verify })
      assert.ok(r2.ok, r2.ok ? '' : r2.reason)
      assert.equal(r2.value.digest, V.rotation.digest)
      assert.equal(r2.value.signed.version, 2)
    })

    it(`the release verifies under root v2, its attestation too (${name})`, () => {
      const r2 = decodeRoot(utf8(V.rotation.bytes))
      assert.ok(r2.ok)
      const rel = verifyRelease(utf8(V.release.bytes), { root: r2.value.signed, now, verify })
      assert.ok(rel.ok, rel.ok ? '' : rel.reason)
      assert.equal(rel.value.digest, V.release.digest)
      assert.equal(rel.value.signed.version, '1.4.0-rc.10')
      const attested = reproducedSigners(
        r2.value.signed.keys,
        rel.value.tally.signed,
        rel.value.signatures,
        'vectornet',
        rel.value.digest,
        verify,
      )
      assert.deepEqual(attested, [V.keys[0]!.keyid])
    })

    it(`the report verifies against its reporter's key (${name})`, () => {
      const env = decodeReport(utf8(V.report.bytes), { network: 'vectornet' })
      assert.ok(env.ok, env.ok ? '' : env.reason)
      const r = verifyReport(env.value, fromHex(V.report.publicKey)!, verify, { now })
      assert.ok(r.ok, r.ok ? '' : r.reason)
      assert.equal(r.value.verdict, 'fail')
      assert.equal(r.value.release, V.release.digest)
    })
  }

  it('payloads and digests are the stored bytes', () => {
    const root = decodeRoot(utf8(V.root.bytes))
    const rot = decodeRoot(utf8(V.rotation.bytes))
    const rel = decodeRelease(utf8(V.release.bytes))
    assert.ok(root.ok && rot.ok && rel.ok)
    for (const [env, want] of [
      [root.value, V.root],
      [rot.value, V.rotation],
    ] as const) {
      assert.equal(toHex(signingPayload(ROOT_TYPE, env.signed.network, env.signed)), want.payload)
      assert.equal(documentDigest(env.signed), want.digest)
    }
    assert.equal(toHex(releasePayload(rel.value.signed)), V.release.payload)
    assert.equal(documentDigest(rel.value.signed), V.release.digest)
    assert.equal(
      toHex(attestationPayload('vectornet', V.release.digest)),
      V.release.attestationPayload,
    )
  })

  it('signing the same documents again gives the same bytes', () => {
    assert.equal(resign(V.root.bytes), V.root.bytes)
    assert.equal(resign(V.rotation.bytes), V.rotation.bytes)
    assert.equal(resign(V.release.bytes), V.release.bytes)
    const env = decodeReport(utf8(V.report.bytes), { network: 'vectornet' })
    assert.ok(env.ok)
    const again = signReportBody(env.value.body, fromHex(V.report.secretKey)!)
    assert.equal(new TextDecoder().decode(encodeReport(again)), V.report.bytes)
    assert.equal(toHex(reportPayload(env.value.body)), V.report.payload)
  })

  it('a changed byte in a signed part no longer verifies', () => {
    const r2 = decodeRoot(utf8(V.rotation.bytes))
    assert.ok(r2.ok)
    const tampered = V.release.bytes.replace('"sequence": 12', '"sequence": 13')
    assert.notEqual(tampered, V.release.bytes)
    const rel = verifyRelease(utf8(tampered), { root: r2.value.signed, now })
    assert.equal(rel.ok, false)
  })

  it('rollout slots are the stored numbers', () => {
    for (const s of V.slots) assert.equal(rolloutSlot(s.peer, s.release), s.slot, s.peer)
  })

  it("the reporter's peer id is the libp2p id of the report's public key", () => {
    const raw = peerIdFromString(V.report.reporter).publicKey?.raw
    assert.ok(raw !== undefined)
    assert.equal(toHex(raw), V.report.publicKey)
  })

  it('the hello message encodes to the stored bytes and back', () => {
    assert.equal(
      new TextDecoder().decode(encodeHelloMessage(V.hello.message as never)),
      V.hello.bytes,
    )
    const m = decodeHelloMessage(utf8(V.hello.bytes))
    assert.ok(m.ok, m.ok ? '' : m.reason)
    assert.deepEqual(m.value, V.hello.message)
  })

  it('DHT keys format to the stored text and parse back', () => {
    for (const k of V.dhtKeys) {
      assert.equal(formatDhtKey(k.key), k.text)
      assert.deepEqual(parseDhtKey(k.text), k.key)
    }
  })
})
