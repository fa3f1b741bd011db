/** The freeze rule: a claim alone never raises suspicion; failed lookups do. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  FREEZE_FAILED_LOOKUPS,
  freezeSuspected,
  LOOKUP_WIDENING,
  lookupFailed,
  MIN_LOOKUP_MS,
  nextLookupMs,
  suspicionAfterMs,
} from '../../src/core/net/freeze.ts'

describe('freeze and eclipse suspicion', () => {
  it('needs a gap and two failed lookups', () => {
    assert.equal(freezeSuspected({ claimed: 5, verified: 4, failedLookups: 1 }), false)
    assert.equal(freezeSuspected({ claimed: 5, verified: 4, failedLookups: 2 }), true)
    assert.equal(freezeSuspected({ claimed: 4, verified: 4, failedLookups: 9 }), false)
    fc.assert(
      fc.property(fc.nat(100), fc.nat(100), fc.nat(10), (claimed, verified, failedLookups) => {
        const s = freezeSuspected({ claimed, verified, failedLookups })
        assert.equal(s, claimed > verified && failedLookups >= FREEZE_FAILED_LOOKUPS)
      }),
    )
  })

  it('a lookup fails only when the gap stays open and nothing new was verified', () => {
    assert.equal(lookupFailed(9, 4, 4), true)
    assert.equal(lookupFailed(9, 4, 5), false, 'progress is not failure')
    assert.equal(lookupFailed(5, 4, 5), false, 'gap closed')
  })

  it('widens lookups while a gap is open, never below the floor', () => {
    const base = 60_000
    assert.equal(
      nextLookupMs({ again: false, gap: true, baseMs: base, jitteredMs: 61_000 }),
      base / LOOKUP_WIDENING,
    )
    assert.equal(
      nextLookupMs({ again: false, gap: false, baseMs: base, jitteredMs: 61_000 }),
      61_000,
    )
    assert.equal(
      nextLookupMs({ again: true, gap: false, baseMs: base, jitteredMs: 61_000 }),
      MIN_LOOKUP_MS,
    )
    assert.equal(
      nextLookupMs({ again: false, gap: true, baseMs: 100, jitteredMs: 100 }),
      MIN_LOOKUP_MS,
    )
  })

  it('an eclipsed node suspects after two lookups and one widened wait', () => {
    assert.equal(suspicionAfterMs(3000, 60_000), 2 * 3000 + 15_000)
  })
})
