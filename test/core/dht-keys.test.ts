/** DHT record keys: canonical only, one spelling per record. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type DhtKey, formatDhtKey, parseDhtKey } from '../../src/core/net/dht-keys.ts'

const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/)
const uint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const key: fc.Arbitrary<DhtKey> = fc.oneof(
  fc.record({ kind: fc.constant('latest' as const), network: name, channel: name }),
  fc.record({
    kind: fc.constant('sequence' as const),
    network: name,
    channel: name,
    sequence: uint,
  }),
  fc.record({ kind: fc.constant('root' as const), network: name, version: uint }),
  fc.record({
    kind: fc.constant('revocation' as const),
    network: name,
    channel: name,
    sequence: uint,
  }),
)

describe('DHT keys', () => {
  it('reads what it writes', () => {
    fc.assert(
      fc.property(key, (k) => {
        assert.deepEqual(parseDhtKey(formatDhtKey(k)), { ...k })
      }),
      { numRuns: 20_000 },
    )
  })

  it('refuses every other spelling of a number', () => {
    for (const n of ['01', '1.0', '0x1', '1e0', ' 1', '1 ', '+1', '-1', '', '1_0', '９', '0b1']) {
      assert.equal(parseDhtKey(`/convoy-rel/test/stable/${n}`), undefined, `sequence "${n}"`)
      assert.equal(parseDhtKey(`/convoy-root/test/${n}`), undefined, `version "${n}"`)
    }
    assert.equal(parseDhtKey('/convoy-rel/test/stable/9007199254740992'), undefined, 'past 2^53-1')
    assert.equal(parseDhtKey('/convoy-rel/test/Stable'), undefined, 'names are lower-case')
    assert.equal(parseDhtKey('/convoy-rel/test/stable/1/x'), undefined)
    assert.equal(parseDhtKey('/pk/abc'), undefined)
  })

  it('for 100,000 random strings: never throws, and whatever it accepts is canonical', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc
        .tuple(fc.constantFrom('/convoy-rel/', '/convoy-root/'), fc.string({ maxLength: 40 }))
        .map(([a, b]) => a + b),
      fc
        .tuple(name, name, fc.string({ maxLength: 8 }))
        .map(([n, c, x]) => `/convoy-rel/${n}/${c}/${x}`),
    )
    fc.assert(
      fc.property(text, (t) => {
        const k = parseDhtKey(t)
        if (k !== undefined) assert.equal(formatDhtKey(k), t)
      }),
      { numRuns: 100_000 },
    )
  })
})
