/** Properties of t-of-n verification, encoding and hostile bytes (fast-check). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decodeEnvelope, encodeEnvelope } from '../../src/core/manifest/envelope.ts'
import { decodeRelease, verifyRelease } from '../../src/core/manifest/release.ts'
import { decodeRoot, verifyAnchorRoot, verifyRootChain } from '../../src/core/manifest/root.ts'
import { bytesOf, keys, makeRelease, makeRoot, NOW, signWith } from './fixtures.ts'

const POOL = keys('maint-', 7)
const OUTSIDERS = keys('outsider-', 5)

/** n in 1..7, t in 1..n, and a set of signers drawn from the pool. */
const committee = fc.integer({ min: 1, max: 7 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    t: fc.integer({ min: 1, max: n }),
    order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
  }),
)

describe('t-of-n verification', () => {
  it('any t distinct signers of n verify', () => {
    fc.assert(
      fc.property(committee, ({ n, t, order }) => {
        const members = POOL.slice(0, n)
        const root = makeRoot(members, t).signed
        const signers = order.slice(0, t).map((i) => members[i]!)
        const r = verifyRelease(bytesOf(makeRelease(signers)), { root, now: NOW })
        assert.ok(r.ok, r.ok ? '' : r.reason)
        assert.equal(r.value.tally.signed.length, t)
      }),
      { numRuns: 60 },
    )
  })

  it('any t-1 do not, and the reason names the shortfall', () => {
    fc.assert(
      fc.property(committee, ({ n, t, order }) => {
        const members = POOL.slice(0, n)
        const root = makeRoot(members, t).signed
        const signers = order.slice(0, t - 1).map((i) => members[i]!)
        const r = verifyRelease(bytesOf(makeRelease(signers)), { root, now: NOW })
        assert.equal(r.ok, false)
        assert.equal(!r.ok && r.code, 'threshold')
        assert.match(!r.ok ? r.reason : '', new RegExp(`threshold not met: ${t - 1} of ${t}`))
      }),
      { numRuns: 60 },
    )
  })

  it('duplicate signatures and keys outside the root never reach t', () => {
    fc.assert(
      fc.property(
        committee,
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        ({ n, t, order }, dupes, outsiders) => {
          const members = POOL.slice(0, n)
          const root = makeRoot(members, t).signed
          const honest = order.slice(0, t - 1).map((i) => members[i]!)
          const env = makeRelease(honest)
          // Pad with repeats of the honest signatures and with signatures from outsiders.
          const padded = signWith(env, OUTSIDERS.slice(0, outsiders))
          const sigs = [...padded.signatures]
          for (let i = 0; i < dupes && env.signatures.length > 0; i++)
            sigs.push(env.signatures[i % env.signatures.length]!)
          const r = verifyRelease(bytesOf({ signed: env.signed, signatures: sigs }), {
            root,
            now: NOW,
          })
          assert.equal(r.ok, false)
          assert.equal(!r.ok && r.code, 'threshold')
        },
      ),
      { numRuns: 60 },
    )
  })

  it('a root listing one key twice is refused, so the key cannot count twice', () => {
    const [a, b] = POOL
    const env = makeRoot([a!, b!], 2)
    const doubled = {
      signed: { ...env.signed, keys: [env.signed.keys[0]!, env.signed.keys[0]!] },
      signatures: env.signatures,
    }
    const r = verifyAnchorRoot(encodeEnvelope(doubled))
    assert.equal(r.ok, false)
    assert.match(!r.ok ? r.reason : '', /lists key \w+ twice/)
  })
})

describe('encoding', () => {
  it('decode(encode(x)) is byte-identical for roots and releases', () => {
    fc.assert(
      fc.property(
        committee,
        fc.string({ maxLength: 50 }),
        fc.integer({ min: 1, max: 1e9 }),
        ({ n, t, order }, notes, sequence) => {
          const members = POOL.slice(0, n)
          const root = makeRoot(
            members,
            t,
            order.map((i) => members[i]!),
          )
          const rootBytes = encodeEnvelope(root)
          const rootBack = decodeRoot(rootBytes)
          assert.ok(rootBack.ok)
          assert.deepEqual(encodeEnvelope(rootBack.value), rootBytes)
          const rel = makeRelease(members.slice(0, t), { notes, sequence })
          const relBytes = encodeEnvelope(rel)
          const relBack = decodeRelease(relBytes)
          assert.ok(relBack.ok, relBack.ok ? '' : relBack.reason)
          assert.deepEqual(encodeEnvelope(relBack.value), relBytes)
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('hostile bytes', () => {
  const root = makeRoot(POOL.slice(0, 3), 2).signed
  const good = bytesOf(makeRelease(POOL.slice(0, 2)))
  const goodRoot = bytesOf(makeRoot(POOL.slice(0, 3), 2))

  const checkAll = (bytes: Uint8Array) => {
    for (const r of [
      verifyRelease(bytes, { root, now: NOW }),
      verifyAnchorRoot(bytes, { now: NOW }),
      verifyRootChain(root, [bytes], { now: NOW }),
      decodeEnvelope(bytes, 1 << 16),
    ]) {
      assert.equal(typeof r.ok, 'boolean')
      if (!r.ok) assert.ok(r.reason.length > 0)
    }
  }

  it('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => checkAll(bytes)),
      { numRuns: 1000 },
    )
  })

  it('mutated valid documents never throw, and never verify unless unchanged in meaning', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(good, goodRoot),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (base, edits) => {
          const bytes = new Uint8Array(base)
          for (const [at, value] of edits) bytes[at % bytes.length] = value
          checkAll(bytes)
          if (base === good) {
            const r = verifyRelease(bytes, { root, now: NOW })
            if (r.ok) {
              // Only edits that leave the signed meaning intact (e.g. whitespace) may still verify.
              const original = verifyRelease(good, { root, now: NOW })
              assert.ok(original.ok)
              assert.equal(r.value.digest, original.value.digest)
            }
          }
        },
      ),
      { numRuns: 1500 },
    )
  })
})
