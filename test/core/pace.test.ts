/** The pace a transfer must keep (core/net/pace.ts), for any timing of its samples. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  DEFAULT_UPLOAD_PACE,
  Pace,
  type PaceLimits,
  paceTimeCapMs,
  RunningClock,
} from '../../src/core/net/pace.ts'

const LIMITS: PaceLimits = { minBytesPerSecond: 1000, graceMs: 1000, windowMs: 2000 }

describe('transfer pace', () => {
  it('judges nothing during the grace and the first window', () => {
    const p = new Pace(LIMITS, 1_000_000)
    for (let t = 0; t < 3000; t += 100) assert.equal(p.sample(t, 0), undefined)
    assert.equal(p.sample(3000, 0)?.kind, 'slow')
  })

  it('cuts the reader of the issue: 128 KiB just under every 5 s, at the default upload pace', () => {
    const p = new Pace(DEFAULT_UPLOAD_PACE, 20 * 1024 * 1024)
    let bytes = 0
    let cutAt: number | undefined
    for (let t = 0; t <= 120_000 && cutAt === undefined; t += 250) {
      if (t % 4900 === 0) bytes += 128 * 1024
      if (p.sample(t, bytes) !== undefined) cutAt = t
    }
    assert.ok(cutAt !== undefined, 'the reader was never cut')
    const { graceMs, windowMs } = DEFAULT_UPLOAD_PACE
    assert.ok(cutAt <= graceMs + windowMs + 250, `cut at ${cutAt} ms`)
  })

  it('a transfer at the floor or above is never cut before its cap, for any timing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 1.05, max: 20, noNaN: true }),
        (gaps, speedup) => {
          const total = 50_000
          const p = new Pace(LIMITS, total)
          let t = 0
          for (const gap of gaps) {
            t += gap
            // Bytes moved at `speedup` times the floor, whatever the sampling times.
            const bytes = Math.min(
              total,
              Math.floor((t * LIMITS.minBytesPerSecond * speedup) / 1000),
            )
            const v = p.sample(t, bytes)
            if (bytes >= total) return
            assert.equal(v, undefined, `cut at ${t} ms with ${bytes} bytes: ${v?.detail}`)
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  it('a transfer below the floor is cut once a window past the grace, for any timing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 30, maxLength: 200 }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        (gaps, share) => {
          const p = new Pace(LIMITS, 1_000_000)
          let t = 0
          for (const gap of gaps) {
            t += gap
            const v = p.sample(t, Math.floor((t * LIMITS.minBytesPerSecond * share) / 1000))
            if (v !== undefined) return
          }
          // Never cut: only allowed while the grace and the first window are not yet over.
          assert.ok(t < LIMITS.graceMs + LIMITS.windowMs, `not cut by ${t} ms at ${share}`)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('holds every transfer to a time cap relative to its length', () => {
    const cap = paceTimeCapMs(10_000, LIMITS)
    assert.equal(cap, 1000 + 2000 + 10_000)
    // A transfer that keeps the rate in each window but never ends (bytes re-counted from a
    // resumed offset would do this) is cut as over time.
    const p = new Pace(LIMITS, 10_000)
    let v: ReturnType<Pace['sample']>
    for (let t = 0; t <= cap + 100 && v === undefined; t += 100) v = p.sample(t, t * 10)
    assert.equal(v?.kind, 'over-time')
  })

  it('keeps memory bounded: samples older than a window are dropped', () => {
    const p = new Pace(LIMITS, Number.POSITIVE_INFINITY)
    for (let t = 0; t < 1_000_000; t += 10) p.sample(t, t * 10)
    const held = (p as unknown as { samples: unknown[] }).samples.length
    assert.ok(held <= LIMITS.windowMs / 10 + 2, `${held} samples held`)
  })

  it('the running clock counts a late tick as two ticks at most', () => {
    const c = new RunningClock(100, 0)
    assert.equal(c.advance(100), 100)
    assert.equal(c.advance(5100), 300)
    assert.equal(c.advance(5000), 300)
  })
})
