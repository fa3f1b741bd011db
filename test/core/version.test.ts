import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  capabilitySet,
  isSubset,
  isSuperset,
  missingFrom,
} from '../../src/core/version/capabilities.ts'
import {
  buildHistory,
  compareByHistory,
  latestRelease,
  releasesBehind,
} from '../../src/core/version/history.ts'
import { isVersion } from '../../src/core/version/version.ts'

describe('release history', () => {
  const history = buildHistory([
    { version: '1.3.0', sequence: 12 },
    { version: '1.0.0', sequence: 3 },
    { version: '1.1.0', sequence: 5 },
    { version: '1.2.0', sequence: 9 },
  ])

  it('counts distance in signed releases, not semver digits or sequence gaps', () => {
    assert.equal(releasesBehind(history, '1.3.0'), 0)
    assert.equal(releasesBehind(history, '1.2.0'), 1)
    assert.equal(releasesBehind(history, '1.1.0'), 2)
    assert.equal(releasesBehind(history, '1.0.0'), 3)
    assert.equal(latestRelease(history)?.version, '1.3.0')
  })

  it('a version with no signed release has no distance (unknown, never "far behind")', () => {
    assert.equal(releasesBehind(history, '9.9.9'), undefined)
    assert.equal(releasesBehind(history, '1.2.5'), undefined)
  })

  it('orders by place in the history; unsigned versions sort first', () => {
    assert.ok(compareByHistory(history, '1.0.0', '1.3.0') < 0)
    assert.ok(compareByHistory(history, '1.3.0', '1.2.0') > 0)
    assert.ok(compareByHistory(history, '9.9.9', '1.0.0') < 0)
  })

  it('distance is monotone along the history, whatever order releases arrive in', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 30 }),
        (seqs) => {
          const sorted = [...seqs].sort((a, b) => a - b)
          const h = buildHistory(
            fc
              .sample(
                fc.shuffledSubarray(seqs, { minLength: seqs.length, maxLength: seqs.length }),
                1,
              )[0]!
              .map((s) => ({ version: `1.${s}.0`, sequence: s })),
          )
          for (const [i, s] of sorted.entries()) {
            assert.equal(releasesBehind(h, `1.${s}.0`), sorted.length - 1 - i)
          }
        },
      ),
    )
  })
})

describe('capability sets', () => {
  it('subset and superset', () => {
    assert.ok(isSubset(['hello/1'], ['hello/1', 'shadow/1']))
    assert.ok(!isSubset(['hello/2'], ['hello/1']))
    assert.ok(isSuperset(['a', 'b'], ['b']))
    assert.deepEqual(missingFrom(['c', 'a', 'b'], ['b']), ['a', 'c'])
    assert.deepEqual(capabilitySet(['b', 'a', 'b']), ['a', 'b'])
  })

  it('isSubset(a, b) and isSuperset(b, a) agree', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd')),
        fc.array(fc.constantFrom('a', 'b', 'c', 'd')),
        (a, b) => {
          assert.equal(isSubset(a, b), isSuperset(b, a))
          assert.equal(isSubset(a, b), missingFrom(a, b).length === 0)
        },
      ),
    )
  })
})

describe('isVersion, the one version test', () => {
  it('takes strict semver in its one spelling and refuses the rest', () => {
    for (const v of ['1.2.3', '0.0.1', '1.0.0-rc.10', '1.0.0-rc.9']) assert.ok(isVersion(v), v)
    // Build metadata too: semver drops it, so 2.0.0+a and 2.0.0+b would name one version.
    for (const v of [
      '2.0.0+build.1',
      'v1.2.3',
      ' 1.2.3',
      '1.2',
      '01.2.3',
      '1.2.3 ',
      '',
      'latest',
      1,
      undefined,
    ])
      assert.ok(!isVersion(v), String(v))
  })
})
