/** Which provider an artifact fetch tries next. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  ARTIFACT_FETCH_MS,
  nextProvider,
  type ProviderStanding,
  providerBefore,
  waitReason,
} from '../../src/core/net/artifact-fetch.ts'

type P = ProviderStanding & { id: string }

function p(id: string, order: number, more: Partial<ProviderStanding> = {}): P {
  return { id, order, suspect: false, slow: 0, banned: false, round: 0, ...more }
}

describe('artifact fetch', () => {
  it('never-suspected before suspects, never-slow before slow, then listed order', () => {
    const list = [
      p('suspect', 0, { suspect: true }),
      p('slow', 1, { slow: 1 }),
      p('later', 3),
      p('first', 2),
    ]
    assert.equal(nextProvider(list, 1, () => false)?.id, 'first')
    assert.equal(nextProvider(list.slice(0, 2), 1, () => false)?.id, 'slow')
    assert.equal(
      nextProvider([p('slow2', 0, { slow: 2 }), p('slow1', 1, { slow: 1 })], 1, () => false)?.id,
      'slow1',
    )
  })

  it('skips banned providers, those tried this round and excluded ones', () => {
    const list = [p('banned', 0, { banned: true }), p('tried', 1, { round: 4 }), p('deranked', 2)]
    assert.equal(
      nextProvider(list, 4, (x) => x.id === 'deranked'),
      undefined,
    )
    assert.equal(nextProvider(list, 5, (x) => x.id === 'deranked')?.id, 'tried')
  })

  it('asks exclude only of providers still usable this round', () => {
    const asked: string[] = []
    const list = [p('banned', 0, { banned: true }), p('tried', 1, { round: 2 }), p('fresh', 2)]
    nextProvider(list, 2, (x) => {
      asked.push(x.id)
      return false
    })
    assert.deepEqual(asked, ['fresh'])
  })

  it('the choice is the first in the order, whatever the list order', () => {
    const standing = fc.record({
      order: fc.nat(1000),
      suspect: fc.boolean(),
      slow: fc.nat(3),
      banned: fc.constant(false),
      round: fc.constant(0),
    })
    fc.assert(
      fc.property(fc.uniqueArray(standing, { minLength: 1, selector: (s) => s.order }), (list) => {
        const best = nextProvider(list, 1, () => false)!
        for (const o of list) assert.ok(o === best || providerBefore(best, o))
        assert.equal(
          nextProvider([...list].reverse(), 1, () => false),
          best,
        )
      }),
    )
  })

  it('a release artifact gets 30 minutes to arrive', () => {
    assert.equal(ARTIFACT_FETCH_MS, 30 * 60 * 1000)
  })

  it('says why a fetch waits: nobody, budgets spent, all busy, or failures', () => {
    const t = (busy: number, budget: number, failed: number) => ({ busy, budget, failed })
    assert.equal(waitReason(0, t(3, 0, 0)), 'no-provider')
    assert.equal(waitReason(2, t(0, 2, 0)), 'budget-spent')
    assert.equal(waitReason(2, t(1, 1, 0)), 'all-busy')
    assert.equal(waitReason(2, t(1, 0, 1)), 'all-failed')
    assert.equal(waitReason(2, t(0, 0, 0)), 'all-failed')
  })
})
