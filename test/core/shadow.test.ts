import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  judgeProbation,
  judgeShadow,
  mannWhitneyGreater,
  type ProcessSample,
  type ShadowObservation,
} from '../../src/core/shadow/verdict.ts'

const MiB = 2 ** 20

/** A deterministic pseudo-random stream (mulberry32), so the tests are repeatable. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function samples(
  n: number,
  r: () => number,
  f: (i: number, r: () => number) => Partial<ProcessSample> = () => ({}),
): ProcessSample[] {
  return Array.from({ length: n }, (_, i) => ({
    rss: 80 * MiB + r() * 8 * MiB,
    cpu: 0.05 + r() * 0.05,
    fds: 30 + Math.floor(r() * 4),
    peers: 5,
    handshakes: 5,
    ...f(i, r),
  }))
}

function obs(over: Partial<ShadowObservation> = {}, seed = 1): ShadowObservation {
  const r = rng(seed)
  return {
    baseline: samples(20, r),
    candidate: samples(20, r),
    ready: true,
    phoneHome: [],
    ...over,
  }
}

describe('shadow verdict', () => {
  it('a candidate that behaves like the live node passes', () => {
    const v = judgeShadow(obs())
    assert.equal(v.verdict, 'pass', v.reason)
  })

  it('crash, out of memory, never ready and phoning home fail outright', () => {
    assert.match(
      judgeShadow(obs({ exited: 'code 1' })).reason,
      /exited during the shadow run \(code 1\)/,
    )
    assert.equal(judgeShadow(obs({ outOfMemory: true })).verdict, 'fail')
    assert.match(judgeShadow(obs({ ready: false })).reason, /never became ready/)
    assert.match(
      judgeShadow(obs({ phoneHome: ['tcp 127.0.0.9:443'] })).reason,
      /phoned home: reached tcp 127.0.0.9:443/,
    )
  })

  it('a CPU spinner and a memory leak fail; too few samples or no peers is inconclusive', () => {
    const r = rng(7)
    const spin = judgeShadow(obs({ candidate: samples(20, r, () => ({ cpu: 0.95 + r() * 0.05 })) }))
    assert.equal(spin.verdict, 'fail')
    assert.match(spin.reason, /^CPU/)
    const leak = judgeShadow(
      obs({ candidate: samples(20, r, (i) => ({ rss: 80 * MiB + i * 12 * MiB })) }),
    )
    assert.equal(leak.verdict, 'fail')
    assert.match(leak.findings.join(' '), /memory/)
    assert.equal(judgeShadow(obs({ candidate: samples(3, r) })).verdict, 'inconclusive')
    assert.equal(
      judgeShadow(obs({ candidate: samples(20, r, () => ({ peers: 0, handshakes: 0 })) })).verdict,
      'inconclusive',
    )
  })

  it('no live node, or a destination it could not be asked about: inconclusive, never a pass', () => {
    const none = judgeShadow(obs({ noLiveNode: true }))
    assert.equal(none.verdict, 'inconclusive')
    assert.match(none.reason, /live node was not running/)
    const un = judgeShadow(obs({ unconfirmed: ['tcp 127.0.0.1:38763'] }))
    assert.equal(un.verdict, 'inconclusive')
    assert.match(un.reason, /could not be asked whether tcp 127\.0\.0\.1:38763 is a peer/)
    // A real finding still fails the run: an unanswered question excuses nothing else.
    const both = judgeShadow(obs({ unconfirmed: ['tcp a:1'], phoneHome: ['udp 127.0.0.9:9'] }))
    assert.equal(both.verdict, 'fail')
  })

  it('property: with an unconfirmed destination or no live node, the verdict is never pass', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        (seed, unconfirmed, noLiveNode, ready) => {
          fc.pre(unconfirmed.length > 0 || noLiveNode)
          const v = judgeShadow(obs({ unconfirmed, noLiveNode, ready }, seed))
          assert.notEqual(v.verdict, 'pass')
        },
      ),
      { numRuns: 500 },
    )
  })

  it('an A/A comparison (same behaviour, different noise) almost never fails: the noise floor works', () => {
    let fails = 0
    for (let seed = 1; seed <= 300; seed++)
      if (judgeShadow(obs({}, seed)).verdict === 'fail') fails++
    assert.ok(fails <= 3, `${fails} false failures in 300 A/A runs`)
  })

  it('Mann-Whitney: small p when the candidate is clearly larger, large p when not', () => {
    assert.ok(
      mannWhitneyGreater([10, 11, 12, 13, 14, 15, 16, 17], [1, 2, 3, 4, 5, 6, 7, 8]) < 0.001,
    )
    assert.ok(mannWhitneyGreater([1, 2, 3, 4, 5, 6, 7, 8], [10, 11, 12, 13, 14, 15, 16, 17]) > 0.99)
    assert.ok(mannWhitneyGreater([5, 5, 5, 5], [5, 5, 5, 5]) >= 0.5)
  })

  it('never throws on arbitrary samples', () => {
    const sample = fc.record({
      rss: fc.nat(),
      cpu: fc.double({ min: 0, max: 4, noNaN: true }),
      fds: fc.nat(1000),
      peers: fc.nat(50),
      handshakes: fc.nat(50),
    })
    fc.assert(
      fc.property(
        fc.array(sample, { maxLength: 30 }),
        fc.array(sample, { maxLength: 30 }),
        fc.boolean(),
        (baseline, candidate, ready) => {
          const v = judgeShadow({ baseline, candidate, ready, phoneHome: [] })
          assert.ok(['pass', 'fail', 'inconclusive'].includes(v.verdict))
        },
      ),
    )
  })
})

describe('probation measured', () => {
  it('the node after the switch against its own samples from before: CPU, a leak, or nothing', () => {
    const r = rng(7)
    const before = samples(20, r)
    assert.equal(judgeProbation(before, samples(12, r)).verdict, 'pass')
    const hot = judgeProbation(
      before,
      samples(12, r, () => ({ cpu: 0.9 + r() * 0.05 })),
    )
    assert.equal(hot.verdict, 'fail')
    assert.match(hot.reason, /^CPU \d+% vs \d+% before the switch/)
    const leak = judgeProbation(
      before,
      samples(16, r, (i) => ({ rss: 80 * MiB + i * 12 * MiB })),
    )
    assert.equal(leak.verdict, 'fail')
    assert.match(leak.reason, /memory/)
    assert.equal(judgeProbation(before, samples(5, r)).verdict, 'inconclusive')
    assert.equal(judgeProbation([], samples(20, r)).verdict, 'inconclusive')
  })

  it('A/A: the same behaviour before and after fails at most 1% of 300 comparisons', () => {
    let fails = 0
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed * 31)
      if (judgeProbation(samples(20, r), samples(16, r)).verdict === 'fail') fails++
    }
    assert.ok(fails <= 3, `${fails} false failures`)
  })
})
