/**
 * The threats of DESIGN.md that apply to manifests and key sets, one test each. The test names
 * are cited by docs/threat-model.md.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { utf8 } from '../../src/core/bytes.ts'
import { encodeEnvelope } from '../../src/core/manifest/envelope.ts'
import {
  MAX_RELEASE_BYTES,
  type ReleaseSigned,
  verifyRelease,
} from '../../src/core/manifest/release.ts'
import { type RootSigned, verifyAnchorRoot, verifyRootChain } from '../../src/core/manifest/root.ts'
import { buildHistory } from '../../src/core/version/history.ts'
import {
  ARTIFACT_B,
  bytesOf,
  DAY,
  keys,
  makeRelease,
  makeRoot,
  makeRotation,
  NOW,
  signWith,
} from './fixtures.ts'

const K = keys('k', 5)
const root = makeRoot(K, 3).signed
const good = makeRelease(K.slice(0, 3))
const goodBytes = bytesOf(good)

function refused(
  r: { ok: boolean; code?: string; reason?: string },
  code: string,
  pattern: RegExp,
): void {
  assert.equal(r.ok, false, 'expected a refusal')
  assert.equal(r.code, code)
  assert.match(r.reason ?? '', pattern)
}

describe('threats: manifests', () => {
  it('t-1 signatures are refused', () => {
    refused(
      verifyRelease(bytesOf(makeRelease(K.slice(0, 2))), { root, now: NOW }),
      'threshold',
      /threshold not met: 2 of 3.*missing keys/,
    )
  })

  it('replay of an older sequence is refused', () => {
    const r = verifyRelease(goodBytes, {
      root,
      now: NOW,
      trusted: { sequence: 9, digest: 'ff'.repeat(32) },
    })
    refused(r, 'stale-sequence', /sequence 7 is older than trusted 9/)
  })

  it('the trusted manifest itself is accepted again (idempotent, e.g. after restart)', () => {
    const first = verifyRelease(goodBytes, { root, now: NOW })
    assert.ok(first.ok)
    const again = verifyRelease(goodBytes, {
      root,
      now: NOW,
      trusted: { sequence: 7, digest: first.value.digest },
    })
    assert.ok(again.ok)
  })

  it('two different signed manifests for one sequence are a conflict', () => {
    const first = verifyRelease(goodBytes, { root, now: NOW })
    assert.ok(first.ok)
    const other = bytesOf(makeRelease(K.slice(0, 3), { notes: 'different' }))
    refused(
      verifyRelease(other, {
        root,
        now: NOW,
        trusted: { sequence: 7, digest: first.value.digest },
      }),
      'conflict',
      /already trusted with a different manifest/,
    )
  })

  it('two different signed manifests for one version are flagged in the history', () => {
    const history = buildHistory([
      { version: '1.2.0', sequence: 7, digest: 'a'.repeat(64) },
      { version: '1.2.0', sequence: 8, digest: 'b'.repeat(64) },
    ])
    assert.deepEqual(history.conflicts, ['1.2.0'])
  })

  it('wrong network is refused, even when the bodies are otherwise identical', () => {
    const otherRoot = makeRoot(K, 3, K, 'othernet').signed
    refused(
      verifyRelease(goodBytes, { root: otherRoot, now: NOW }),
      'wrong-network',
      /wrong network: manifest is for "testnet"/,
    )
    // Signatures made for one network do not verify on another: the network is in the payload.
    const moved = { signed: { ...good.signed, network: 'othernet' }, signatures: good.signatures }
    refused(
      verifyRelease(encodeEnvelope(moved), { root: otherRoot, now: NOW }),
      'threshold',
      /threshold not met: 0 of 3/,
    )
  })

  it('wrong channel is refused', () => {
    refused(
      verifyRelease(goodBytes, { root, now: NOW, channel: 'beta' }),
      'wrong-channel',
      /wrong channel: manifest is for "stable", expected "beta"/,
    )
  })

  it('an expired manifest is refused for upgrades but readable with allowExpired', () => {
    const later = NOW + 31 * DAY
    refused(
      verifyRelease(goodBytes, { root, now: later }),
      'expired',
      /expired at 2026-12-28T00:00:00Z/,
    )
    assert.ok(verifyRelease(goodBytes, { root, now: later, allowExpired: true }).ok)
  })

  it('no new upgrade under an expired root, even with a fresh manifest', () => {
    const rootExpiry = Date.parse(root.expires)
    const fresh = makeRelease(K.slice(0, 3), {
      expires: rootExpiry + 30 * DAY,
    })
    const bytes = bytesOf(fresh)
    assert.ok(verifyRelease(bytes, { root, now: rootExpiry - 1000 }).ok)
    refused(verifyRelease(bytes, { root, now: rootExpiry }), 'expired', /root v1, the key set/)
    assert.ok(verifyRelease(bytes, { root, now: rootExpiry, allowExpired: true }).ok)
  })

  it('clock skew: a manifest is valid up to the second before expiry and not at it', () => {
    const at = Date.parse(good.signed.expires)
    assert.ok(verifyRelease(goodBytes, { root, now: at - 1000 }).ok)
    assert.equal(verifyRelease(goodBytes, { root, now: at }).ok, false)
  })

  it('re-encoded payloads (whitespace, member order, number spelling) verify with the same digest', () => {
    const original = verifyRelease(goodBytes, { root, now: NOW })
    assert.ok(original.ok)
    const reordered = (o: unknown): unknown =>
      Array.isArray(o)
        ? o.map(reordered)
        : o && typeof o === 'object'
          ? Object.fromEntries(
              Object.entries(o)
                .reverse()
                .map(([k, v]) => [k, reordered(v)]),
            )
          : o
    const text = JSON.stringify(
      reordered(JSON.parse(new TextDecoder().decode(goodBytes))),
      null,
      '\t',
    ).replace('"sequence": 7', '"sequence": 7.0e0')
    const r = verifyRelease(utf8(text), { root, now: NOW })
    assert.ok(r.ok, r.ok ? '' : r.reason)
    assert.equal(r.value.digest, original.value.digest)
  })

  it('duplicate JSON members are refused before any signature is checked', () => {
    const text = new TextDecoder()
      .decode(goodBytes)
      .replace('"version": "1.2.0"', '"version": "1.2.0", "version": "9.9.9"')
    refused(
      verifyRelease(utf8(text), { root, now: NOW }),
      'malformed',
      /duplicate member name "version"/,
    )
  })

  it('mix-and-match: an artifact pin pasted from another manifest breaks every signature', () => {
    const other = makeRelease(K.slice(0, 3), {
      version: '1.3.0',
      sequence: 8,
      artifacts: { node: ARTIFACT_B },
    })
    const mixed = {
      signed: { ...good.signed, artifacts: other.signed.artifacts },
      signatures: good.signatures,
    }
    refused(
      verifyRelease(encodeEnvelope(mixed), { root, now: NOW }),
      'threshold',
      /threshold not met: 0 of 3/,
    )
  })

  it('a root signature cannot be replayed as a release signature (domain separation)', () => {
    const rootEnv = makeRoot(K, 3)
    const r = verifyRelease(bytesOf({ signed: good.signed, signatures: rootEnv.signatures }), {
      root,
      now: NOW,
    })
    refused(r, 'threshold', /threshold not met: 0 of 3/)
  })

  it('oversized records are refused before parsing', () => {
    const huge = new Uint8Array(MAX_RELEASE_BYTES + 1).fill(0x20)
    refused(
      verifyRelease(huge, { root, now: NOW }),
      'too-large',
      /too large: 65537 bytes, the limit is 65536/,
    )
  })

  it('a root document is not accepted as a release, nor the other way round', () => {
    refused(
      verifyRelease(bytesOf(makeRoot(K, 3)), { root, now: NOW }),
      'wrong-type',
      /expected a release manifest/,
    )
    refused(verifyAnchorRoot(goodBytes), 'wrong-type', /expected a root/)
  })

  it('unknown members inside the signed part are refused, not silently ignored', () => {
    const extra = {
      signed: { ...good.signed, url: 'http://evil.example/' } as ReleaseSigned,
      signatures: good.signatures,
    }
    refused(
      verifyRelease(encodeEnvelope(extra), { root, now: NOW }),
      'malformed',
      /unknown member "url"/,
    )
  })
})

describe('threats: key sets', () => {
  const v1 = makeRoot(K, 3)
  const N = keys('n', 4)

  it('root v1 needs its own threshold', () => {
    refused(
      verifyAnchorRoot(bytesOf(makeRoot(K, 3, K.slice(0, 2)))),
      'threshold',
      /threshold not met: 2 of 3/,
    )
    assert.ok(verifyAnchorRoot(bytesOf(v1)).ok)
  })

  it('rotation across several versions verifies step by step, including a full key-set replacement', () => {
    // v2 swaps one key, v3 raises the threshold, v4 replaces every key.
    const v2 = makeRotation(v1.signed, [...K.slice(0, 4), N[0]!], 3, [...K.slice(0, 3), N[0]!])
    const v3 = makeRotation(v2.signed, [...K.slice(0, 4), N[0]!], 4, [...K.slice(0, 4)])
    const v4 = makeRotation(v3.signed, N, 2, [...K.slice(0, 3), N[0]!, N[1]!])
    // Files may come in any order.
    const r = verifyRootChain(v1.signed, [bytesOf(v4), bytesOf(v2), bytesOf(v3)], { now: NOW })
    assert.ok(r.ok, r.ok ? '' : r.reason)
    assert.equal(r.value.root.version, 4)
    assert.equal(r.value.steps, 3)
    assert.deepEqual(r.value.root.keys.map((k) => k.keyid).sort(), N.map((k) => k.keyid).sort())
    // A release signed by the new set alone now verifies; the old set no longer can.
    assert.ok(
      verifyRelease(bytesOf(makeRelease(N.slice(0, 2))), { root: r.value.root, now: NOW }).ok,
    )
    assert.equal(
      verifyRelease(bytesOf(makeRelease(K.slice(0, 3))), { root: r.value.root, now: NOW }).ok,
      false,
    )
  })

  it('a rotation missing the old threshold is refused', () => {
    // Only the new key set signed: an attacker with fresh keys cannot take over.
    const hostile = makeRotation(v1.signed, N, 2, N)
    refused(
      verifyRootChain(v1.signed, [bytesOf(hostile)], { now: NOW }),
      'threshold',
      /previous root v1.*old key set's threshold/,
    )
    // Old threshold but not the new one's.
    const half = makeRotation(v1.signed, N, 3, [...K.slice(0, 3), N[0]!])
    refused(verifyRootChain(v1.signed, [bytesOf(half)], { now: NOW }), 'threshold', /new root v2/)
  })

  it('a gap in the chain is refused (v1 -> v3 without v2)', () => {
    const v2 = makeRotation(v1.signed, K, 2, K.slice(0, 3))
    const v3 = makeRotation(v2.signed, K, 2, K.slice(0, 3))
    refused(
      verifyRootChain(v1.signed, [bytesOf(v3)], { now: NOW }),
      'root-version',
      /root version 3 cannot follow trusted root v1/,
    )
  })

  it('withheld root rotation: a release signed by the new keys fails against the old root, and says why', () => {
    const r = verifyRelease(bytesOf(makeRelease(N.slice(0, 3))), { root, now: NOW })
    refused(r, 'threshold', /fetch the newer root first/)
  })

  it('a rotation cannot move the key set to another network', () => {
    const moved = signWith(
      {
        signed: { ...makeRotation(v1.signed, K, 3, []).signed, network: 'othernet' } as RootSigned,
        signatures: [],
      },
      K,
    )
    refused(
      verifyRootChain(v1.signed, [bytesOf(moved)], { now: NOW }),
      'wrong-network',
      /wrong network/,
    )
  })

  it('an over-long chain is refused before any step is verified', () => {
    refused(
      verifyRootChain(
        v1.signed,
        Array.from({ length: 5 }, () => bytesOf(v1)),
        { maxSteps: 4 },
      ),
      'chain-too-long',
      /root chain too long: 5 steps, the limit is 4/,
    )
  })

  it('an expired final root is refused, an expired intermediate one is not', () => {
    const v2 = makeRotation(v1.signed, K, 3, K.slice(0, 3))
    assert.ok(verifyRootChain(v1.signed, [bytesOf(v2)], { now: NOW + 400 * DAY - 1 }).ok === false)
    // Walking through v1 (expired by then) to a fresh v2 works.
    const late = NOW + 366 * DAY
    const fresh = signWith(
      { signed: { ...v2.signed, expires: '2029-01-01T00:00:00Z' }, signatures: [] },
      K.slice(0, 3),
    )
    assert.ok(verifyRootChain(v1.signed, [bytesOf(fresh)], { now: late }).ok)
  })

  it('a fork (two different roots claiming one version) is refused whatever the file order', () => {
    const a = makeRotation(v1.signed, K, 3, K.slice(0, 3))
    const b = makeRotation(v1.signed, K, 2, K.slice(0, 3))
    for (const order of [
      [a, b],
      [b, a],
    ]) {
      refused(
        verifyRootChain(v1.signed, order.map(bytesOf), { now: NOW }),
        'conflict',
        /two different roots claim version 2/,
      )
    }
  })
})

describe('threats: documents from the future', () => {
  it('an unknown specVersion is "unsupported", not silently misread', () => {
    const future = {
      signed: { ...good.signed, specVersion: 2 } as unknown as ReleaseSigned,
      signatures: good.signatures,
    }
    refused(
      verifyRelease(encodeEnvelope(future), { root, now: NOW }),
      'unsupported',
      /specVersion 2/,
    )
  })

  it('an impossible date (February 30) is refused, not rolled over', () => {
    const bad = {
      signed: { ...good.signed, expires: '2027-02-30T00:00:00Z' },
      signatures: good.signatures,
    }
    refused(verifyRelease(encodeEnvelope(bad), { root, now: NOW }), 'malformed', /not a real date/)
  })
})
