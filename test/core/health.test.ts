/** A node's health on probation and after commit (core/rollout/health.ts). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { afterProbe, HEALTH_MISSES } from '../../src/core/rollout/health.ts'

describe('node health', () => {
  it('fails on the third miss in a row, and only then', () => {
    let misses = 0
    const failed: boolean[] = []
    for (const answered of [false, false, true, false, false, false, false]) {
      const r = afterProbe(misses, answered)
      misses = r.misses
      failed.push(r.failed)
    }
    assert.deepEqual(failed, [false, false, false, false, false, true, false])
  })

  it('fails exactly when some run of misses reaches the limit, for any answers', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 100 }), (answers) => {
        let misses = 0
        let run = 0
        for (const answered of answers) {
          const r = afterProbe(misses, answered)
          misses = r.misses
          run = answered ? 0 : run + 1
          assert.equal(r.failed, run > 0 && run % HEALTH_MISSES === 0)
        }
      }),
    )
  })
})
