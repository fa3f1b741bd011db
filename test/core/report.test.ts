/** Signed shadow and probation reports: format, signature, network, size and clock rules. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { opensslVerify } from '../../src/adapters/crypto/ed25519.ts'
import { concatBytes, toHex, utf8 } from '../../src/core/bytes.ts'
import { canonicalBytes } from '../../src/core/manifest/canonical.ts'
import { nobleVerify, publicKeyOf } from '../../src/core/manifest/signing.ts'
import { addReport } from '../../src/core/rollout/evidence.ts'
import {
  checkReportBody,
  decodeReport,
  encodeReport,
  MAX_REPORT_BYTES,
  type ReportBody,
  reportPayload,
  type SignedReport,
  signReportBody,
  verifyReport,
} from '../../src/core/rollout/report.ts'
import { NOW } from './fixtures.ts'

interface Reporter {
  secretKey: Uint8Array
  publicKey: Uint8Array
  id: string
}

function reporter(label: string): Reporter {
  const secretKey = sha256(utf8(`convoy-test-reporter:${label}`))
  const publicKey = publicKeyOf(secretKey)
  const id = peerIdFromPublicKey(publicKeyFromRaw(publicKey) as never).toString()
  return { secretKey, publicKey, id }
}

const alice = reporter('alice')
const mallory = reporter('mallory')
const DIGEST = toHex(sha256(utf8('release 1.3.0')))
const OPTS = { network: 'testnet' }
const AT = { now: NOW }

function body(over: Partial<ReportBody> = {}, who: Reporter = alice): ReportBody {
  return {
    type: 'convoy-report',
    network: 'testnet',
    reporter: who.id,
    release: DIGEST,
    version: '1.3.0',
    stage: 'shadow',
    verdict: 'pass',
    at: NOW - 1000,
    reason: 'started, stayed up 300 s, 4 peers, no foreign connections',
    ...over,
  }
}

function signed(over: Partial<ReportBody> = {}, who: Reporter = alice): Uint8Array {
  return encodeReport(signReportBody(body(over, who), who.secretKey))
}

function decoded(bytes: Uint8Array): SignedReport {
  const d = decodeReport(bytes, OPTS)
  assert.ok(d.ok, d.ok ? '' : d.reason)
  return d.value
}

describe('signed reports', () => {
  it('round-trip: sign, encode, decode, verify gives the evidence Report', () => {
    const d = decoded(signed())
    assert.deepEqual(d.body, body())
    for (const verify of [nobleVerify, opensslVerify]) {
      const v = verifyReport(d, alice.publicKey, verify, AT)
      assert.ok(v.ok, v.ok ? '' : v.reason)
      assert.deepEqual(v.value, {
        reporter: alice.id,
        release: DIGEST,
        stage: 'shadow',
        verdict: 'pass',
        at: NOW - 1000,
        reason: body().reason,
      })
    }
    // An empty reason leaves `reason` out of the Report.
    const quiet = verifyReport(decoded(signed({ reason: '' })), alice.publicKey, nobleVerify, AT)
    assert.ok(quiet.ok && !('reason' in quiet.value))
    // The Report feeds evidence.ts directly.
    assert.ok(quiet.ok && addReport(new Map(), quiet.value).get(alice.id) === quiet.value)
  })

  it('the payload is the context, the network, and the canonical body', () => {
    const b = body()
    assert.deepEqual(
      reportPayload(b),
      concatBytes(utf8('convoy-report-v1\0testnet\0'), canonicalBytes(b)),
    )
  })

  it('a forged signature is refused', () => {
    const d = decoded(signed())
    const sig = d.signature
    const flipped = `${sig.slice(0, 10)}${sig[10] === '0' ? '1' : '0'}${sig.slice(11)}`
    const v = verifyReport({ ...d, signature: flipped }, alice.publicKey, opensslVerify, AT)
    assert.equal(!v.ok && v.code, 'threshold')
    assert.match(!v.ok ? v.reason : '', /bad signature/)
    // A changed verdict under the original signature is refused too.
    const turned = verifyReport(
      { ...d, body: { ...d.body, verdict: 'fail' } },
      alice.publicKey,
      opensslVerify,
      AT,
    )
    assert.equal(!turned.ok && turned.code, 'threshold')
  })

  it('a report signed by another key than the reporter it names is refused', () => {
    // Mallory names Alice as the reporter and signs with her own key.
    const forged = encodeReport(signReportBody(body({}, alice), mallory.secretKey))
    const v = verifyReport(decoded(forged), alice.publicKey, opensslVerify, AT)
    assert.equal(!v.ok && v.code, 'threshold')
    // Checked against the wrong key, Alice's real report fails as well.
    const w = verifyReport(decoded(signed()), mallory.publicKey, opensslVerify, AT)
    assert.equal(!w.ok && w.code, 'threshold')
    // A key of the wrong length is refused, not thrown on.
    const short = verifyReport(decoded(signed()), new Uint8Array(31), nobleVerify, AT)
    assert.equal(!short.ok && short.code, 'threshold')
  })

  it('a re-encoded report still verifies exactly when its canonical body is unchanged', () => {
    const env = decoded(signed())
    // Other member order, whitespace and number spelling: the same canonical bytes.
    const b = env.body
    const text = `{ "signature" : "${env.signature}",\n  "body": {"reason":${JSON.stringify(b.reason)},"at":${(b.at / 1000).toString()}e3,"verdict":"pass","stage":"shadow","version":"1.3.0","release":"${b.release}","reporter":"${b.reporter}","network":"testnet","type":"convoy-report"} }`
    const again = decoded(utf8(text))
    assert.deepEqual(canonicalBytes(again.body), canonicalBytes(env.body))
    assert.ok(verifyReport(again, alice.publicKey, opensslVerify, AT).ok)
    // One character of the reason changed: other canonical bytes, no longer verifies.
    const edited = decoded(utf8(text.replace('started', 'Started')))
    assert.notDeepEqual(canonicalBytes(edited.body), canonicalBytes(env.body))
    assert.equal(verifyReport(edited, alice.publicKey, opensslVerify, AT).ok, false)
    // A \u escape that decodes to the same string is the same canonical body.
    const escaped = decoded(utf8(text.replace('"pass"', '"p\\u0061ss"')))
    assert.ok(verifyReport(escaped, alice.publicKey, opensslVerify, AT).ok)
  })

  it('a report for another network is refused, and its signature would not verify here', () => {
    const other = signed({ network: 'othernet' })
    const d = decodeReport(other, OPTS)
    assert.equal(!d.ok && d.code, 'wrong-network')
    assert.match(!d.ok ? d.reason : '', /"othernet"/)
    // Relabelled as testnet, the payload differs: the signature fails.
    const env = decodeReport(other, { network: 'othernet' })
    assert.ok(env.ok)
    const moved = { ...env.value, body: { ...env.value.body, network: 'testnet' } }
    assert.equal(verifyReport(moved, alice.publicKey, opensslVerify, AT).ok, false)
  })

  it('oversized bytes are refused before parsing', () => {
    const big = new Uint8Array(MAX_REPORT_BYTES + 1).fill(0x7b)
    const d = decodeReport(big, OPTS)
    assert.equal(!d.ok && d.code, 'too-large')
    const capped = decodeReport(signed(), { ...OPTS, maxBytes: 100 })
    assert.equal(!capped.ok && capped.code, 'too-large')
  })

  it('reports dated too far in the future are refused; ten minutes of skew is tolerated', () => {
    const near = decoded(signed({ at: NOW + 10 * 60_000 }))
    assert.ok(verifyReport(near, alice.publicKey, opensslVerify, AT).ok)
    const far = decoded(signed({ at: NOW + 10 * 60_000 + 1 }))
    const v = verifyReport(far, alice.publicKey, opensslVerify, AT)
    assert.equal(!v.ok && v.code, 'expired')
    assert.match(!v.ok ? v.reason : '', /from the future/)
    assert.ok(
      verifyReport(far, alice.publicKey, opensslVerify, { now: NOW, maxFutureMs: 60 * 60_000 }).ok,
    )
  })

  it('bad fields are refused with a reason naming the field', () => {
    const env = decoded(signed())
    const cases: Array<[unknown, RegExp]> = [
      [{ ...env, extra: 1 }, /unknown member "extra"/],
      [{ body: env.body }, /report.signature is missing/],
      [{ ...env, signature: env.signature.toUpperCase() }, /signature must be 128 lower-case hex/],
      [{ ...env, signature: env.signature.slice(2) }, /signature must be 128/],
      [
        { ...env, body: { ...env.body, stage: 'canary' } },
        /body.stage must be shadow or probation/,
      ],
      [{ ...env, body: { ...env.body, verdict: 'maybe' } }, /body.verdict must be pass or fail/],
      [{ ...env, body: { ...env.body, release: 'ab' } }, /body.release/],
      [{ ...env, body: { ...env.body, release: DIGEST.toUpperCase() } }, /body.release/],
      [{ ...env, body: { ...env.body, version: 'v1.3' } }, /body.version/],
      [{ ...env, body: { ...env.body, at: 1.5 } }, /body.at must be an integer/],
      [{ ...env, body: { ...env.body, at: -1 } }, /body.at must be an integer/],
      [
        { ...env, body: { ...env.body, reason: 'x'.repeat(201) } },
        /body.reason is longer than 200/,
      ],
      [{ ...env, body: { ...env.body, reason: 'two\nlines' } }, /body.reason/],
      [{ ...env, body: { ...env.body, reporter: '0OIl' } }, /body.reporter/],
      [{ ...env, body: { ...env.body, admin: true } }, /unknown member "admin"/],
      [{ ...env, body: { ...env.body, at: undefined } }, /body.at is missing/],
      [[], /report must be an object/],
    ]
    for (const [value, re] of cases) {
      const d = decodeReport(utf8(JSON.stringify(value)), OPTS)
      assert.equal(!d.ok && d.code, 'malformed', `${JSON.stringify(value).slice(0, 80)}`)
      assert.match(!d.ok ? d.reason : '', re)
    }
    const wrongType = decodeReport(
      utf8(JSON.stringify({ ...env, body: { ...env.body, type: 'convoy/release' } })),
      OPTS,
    )
    assert.equal(!wrongType.ok && wrongType.code, 'wrong-type')
    const dup = decodeReport(
      utf8(`{"signature":"${env.signature}","signature":"${env.signature}","body":{}}`),
      OPTS,
    )
    assert.match(!dup.ok ? dup.reason : '', /duplicate member name "signature"/)
    assert.equal(decodeReport(new Uint8Array([0xff, 0xfe]), OPTS).ok, false)
    // verifyReport re-checks the shape of what it is handed, and never throws on junk.
    const junk = verifyReport(
      { body: { ...env.body, at: 'now' }, signature: env.signature } as never,
      alice.publicKey,
      opensslVerify,
      AT,
    )
    assert.match(!junk.ok ? junk.reason : '', /body.at must be an integer/)
    assert.equal(verifyReport(null as never, alice.publicKey, opensslVerify, AT).ok, false)
  })

  it('signing refuses a bad body with a TypeError naming the field', () => {
    assert.throws(() => signReportBody(body({ at: Number.NaN }), alice.secretKey), {
      name: 'TypeError',
      message: /body.at/,
    })
    assert.equal(checkReportBody(body({ stage: 'x' as never })).ok, false)
  })

  it('random and mutated bytes never throw, and a mutation verifies only if its body is canonically unchanged', () => {
    const good = signed()
    const ref = canonicalBytes(decoded(good).body)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const d = decodeReport(bytes, OPTS)
        if (d.ok) verifyReport(d.value, alice.publicKey, opensslVerify, AT)
      }),
      { numRuns: 500 },
    )
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const m = new Uint8Array(good)
          for (const [i, b] of edits) m[i] = b
          const d = decodeReport(m, OPTS)
          if (!d.ok) return
          const v = verifyReport(d.value, alice.publicKey, opensslVerify, AT)
          if (v.ok) assert.deepEqual(canonicalBytes(d.value.body), ref)
        },
      ),
      { numRuns: 1000 },
    )
  })
})
