/** The restart backoff: doubles to its cap, and starts afresh after a healthy run. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  DEFAULT_MAX_RESTART_MS,
  DEFAULT_RESTART_MS,
  HEALTHY_RUN_MS,
  restartAfterCrash,
} from '../../src/core/rollout/restart.ts'

const bounds = { firstMs: DEFAULT_RESTART_MS, maxMs: DEFAULT_MAX_RESTART_MS }

describe('crash restart backoff', () => {
  it('doubles with each quick crash up to the cap', () => {
    let backoff = bounds.firstMs
    const waits: number[] = []
    for (let i = 0; i < 7; i++) {
      const r = restartAfterCrash(backoff, 500, bounds)
      waits.push(r.waitMs)
      backoff = r.nextMs
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
  })

  it('a node that ran longer than a minute starts the backoff afresh', () => {
    assert.deepEqual(restartAfterCrash(30_000, HEALTHY_RUN_MS + 1, bounds), {
      waitMs: 1000,
      nextMs: 2000,
    })
    assert.deepEqual(restartAfterCrash(16_000, HEALTHY_RUN_MS, bounds), {
      waitMs: 16_000,
      nextMs: 30_000,
    })
  })

  it('never waits more than the cap, nor less than the first delay after a reset', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1000, max: 60_000 }),
        fc.nat(600_000),
        (firstMs, maxMs, ranMs) => {
          const b = { firstMs, maxMs }
          const r = restartAfterCrash(firstMs, ranMs, b)
          assert.ok(r.nextMs <= maxMs)
          assert.equal(r.waitMs, firstMs)
          assert.equal(r.nextMs, Math.min(2 * firstMs, maxMs))
        },
      ),
    )
  })
})
