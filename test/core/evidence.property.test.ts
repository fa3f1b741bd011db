/**
 * One report per reporter, whatever the order it arrives in: every node that holds the same
 * reports keeps the same one, so reports never bounce between nodes and evidence converges.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import fc from 'fast-check'
import { compareBytes } from '../../src/core/bytes.ts'
import { replacesReport } from '../../src/core/rollout/evidence.ts'

const report = fc.record({
  at: fc.integer({ min: 0, max: 3 }),
  verdict: fc.constantFrom('pass' as const, 'fail' as const),
  body: fc.uint8Array({ minLength: 1, maxLength: 3 }),
})
type R = { at: number; verdict: 'pass' | 'fail'; body: Uint8Array }

function keep(arrivals: readonly R[]): R {
  let held = arrivals[0]!
  for (const r of arrivals.slice(1))
    if (replacesReport(held, r, compareBytes(r.body, held.body))) held = r
  return held
}

it('the report kept is the same for every arrival order', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(report, { minLength: 1, maxLength: 6, selector: (r) => r.body.join(',') }),
      fc.infiniteStream(fc.nat()),
      (reports, seeds) => {
        const first = keep(reports)
        const shuffled = [...reports]
        const it = seeds[Symbol.iterator]()
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = it.next().value! % (i + 1)
          ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
        }
        assert.deepEqual(keep(shuffled), first)
      },
    ),
    { numRuns: 500 },
  )
})

it('a later report wins, then a failure, then the smaller body', () => {
  const p = (at: number, verdict: 'pass' | 'fail') => ({ at, verdict })
  assert.equal(replacesReport(p(1, 'fail'), p(2, 'pass')), true)
  assert.equal(replacesReport(p(2, 'pass'), p(1, 'fail')), false)
  assert.equal(replacesReport(p(1, 'pass'), p(1, 'fail')), true)
  assert.equal(replacesReport(p(1, 'fail'), p(1, 'pass')), false)
  assert.equal(replacesReport(p(1, 'pass'), p(1, 'pass'), -1), true)
  assert.equal(replacesReport(p(1, 'pass'), p(1, 'pass'), 1), false)
  // Without the bodies (the simulator): a failure replaces, a pass does not.
  assert.equal(replacesReport(p(1, 'fail'), p(1, 'fail')), true)
  assert.equal(replacesReport(p(1, 'pass'), p(1, 'pass')), false)
})
