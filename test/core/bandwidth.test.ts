/** Bandwidth budgets (core/net/bandwidth.ts): the rate caps, the monthly quota, the slots. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  checkBandwidth,
  DEFAULT_BANDWIDTH,
  decodeQuotaState,
  FETCH_FLOOR_BYTES_PER_SECOND,
  MonthlyQuota,
  monthOf,
  TokenBucket,
  uploadSlotsUnderCap,
} from '../../src/core/net/bandwidth.ts'

const T0 = Date.UTC(2026, 11, 31, 23, 59, 0)

describe('token bucket', () => {
  it('waits nothing within the burst, then the debt at the rate', () => {
    const b = new TokenBucket(1000, 500, 0)
    assert.equal(b.take(500, 0), 0)
    assert.equal(b.take(1000, 0), 1000)
    // 1 s later the debt is paid: a take of 500 goes into debt by 500 again.
    assert.equal(b.take(500, 1000), 500)
  })

  it('an uncapped bucket never waits', () => {
    const b = new TokenBucket(Number.POSITIVE_INFINITY, 0, 0)
    assert.equal(b.take(1e15, 0), 0)
  })

  it('refuses a rate of 0 or less, and a negative burst', () => {
    assert.throws(() => new TokenBucket(0, 1, 0), /rate above 0/)
    assert.throws(() => new TokenBucket(10, -1, 0), /burst/)
  })

  it('bytes sent by any time t never exceed burst + rate * t, for any takes and times', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.integer({ min: 0, max: 5_000_000 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 5000 }),
            bytes: fc.integer({ min: 0, max: 20_000_000 }),
          }),
          { minLength: 1, maxLength: 100 },
        ),
        (rate, burst, takes) => {
          const b = new TokenBucket(rate, burst, 0)
          let now = 0
          // A sender sends each take after its wait; the next take is asked no earlier.
          const sends: Array<{ at: number; bytes: number }> = []
          for (const t of takes) {
            now += t.gap
            const wait = b.take(t.bytes, now)
            assert.ok(wait >= 0)
            sends.push({ at: now + wait, bytes: t.bytes })
            now += wait
          }
          assertWithinBound(sends, burst, rate)
        },
      ),
    )
  })

  it('holds the bound also when takes are asked before the previous wait is over', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 200 }),
            bytes: fc.integer({ min: 0, max: 300_000 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (rate, burst, takes) => {
          const b = new TokenBucket(rate, burst, 0)
          let now = 0
          const sends: Array<{ at: number; bytes: number }> = []
          for (const t of takes) {
            now += t.gap
            sends.push({ at: now + b.take(t.bytes, now), bytes: t.bytes })
          }
          assertWithinBound(sends, burst, rate)
        },
      ),
    )
  })
})

describe('monthly quota', () => {
  it('months are UTC', () => {
    assert.equal(monthOf(Date.UTC(2026, 0, 1, 0, 0, 0)), '2026-01')
    assert.equal(monthOf(Date.UTC(2026, 11, 31, 23, 59, 59, 999)), '2026-12')
  })

  it('never lets the bytes used exceed the limit within a month', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 3_600_000 }),
            bytes: fc.integer({ min: 0, max: 3_000_000 }),
          }),
          { maxLength: 200 },
        ),
        (limit, ups) => {
          const q = new MonthlyQuota(limit, { month: monthOf(T0), usedBytes: 0 })
          let now = T0
          for (const u of ups) {
            now += u.gap
            if (q.allows(u.bytes, now)) q.use(u.bytes, now)
            assert.ok(q.state.usedBytes <= limit)
            assert.equal(q.state.month, monthOf(now))
          }
        },
      ),
    )
  })

  it('a new month starts at 0, whatever the old one used', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 400 * 86_400_000 }),
        (used, later) => {
          const q = new MonthlyQuota(1000, { month: monthOf(T0), usedBytes: used })
          const then = T0 + later
          const fresh = monthOf(then) !== monthOf(T0)
          assert.equal(q.allows(1000, then), fresh || used + 1000 <= 1000)
          assert.equal(q.state.usedBytes, fresh ? 0 : used)
        },
      ),
    )
  })

  it('rolls over at the UTC month boundary exactly', () => {
    const q = new MonthlyQuota(100, { month: '2026-12', usedBytes: 100 })
    assert.equal(q.allows(1, Date.UTC(2026, 11, 31, 23, 59, 59, 999)), false)
    assert.equal(q.allows(1, Date.UTC(2027, 0, 1)), true)
    assert.deepEqual(q.state, { month: '2027-01', usedBytes: 0 })
  })

  it('decodes its state strictly, never throwing', () => {
    assert.deepEqual(decodeQuotaState('{"month":"2026-12","usedBytes":5}'), {
      ok: true,
      value: { month: '2026-12', usedBytes: 5 },
    })
    for (const bad of [
      '',
      'null',
      '[]',
      '{"month":"2026-13","usedBytes":1}',
      '{"month":"2026-12","usedBytes":-1}',
      '{"month":"2026-12","usedBytes":1.5}',
    ])
      assert.equal(decodeQuotaState(bad).ok, false, bad)
    fc.assert(fc.property(fc.string(), (s) => void decodeQuotaState(s)))
  })
})

describe('upload slots under a cap', () => {
  it('each slot keeps the floor; at least 1; all of them uncapped', () => {
    assert.equal(uploadSlotsUnderCap(4, Number.POSITIVE_INFINITY, 1000), 4)
    assert.equal(uploadSlotsUnderCap(4, 2500, 1000), 2)
    assert.equal(uploadSlotsUnderCap(4, 500, 1000), 1)
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 1e9 }),
        fc.integer({ min: 1, max: 1e7 }),
        (max, cap, floor) => {
          const n = uploadSlotsUnderCap(max, cap, floor)
          assert.ok(n >= 1 && n <= max)
          if (n > 1) assert.ok(cap / n >= floor)
          if (n < max) assert.ok(cap / (n + 1) < floor)
        },
      ),
    )
  })
})

describe('checkBandwidth', () => {
  it('leaves out = uncapped; takes Infinity', () => {
    assert.deepEqual(checkBandwidth({}), { ok: true, value: DEFAULT_BANDWIDTH })
    const r = checkBandwidth({ uploadBytesPerSecond: 5e6, monthlyUploadBytes: 2e11 })
    assert.ok(r.ok)
    assert.equal(r.value.downloadBytesPerSecond, Number.POSITIVE_INFINITY)
  })

  it('refuses a cap below the fetchers floor: peers would drop this node as slow', () => {
    const r = checkBandwidth({ uploadBytesPerSecond: FETCH_FLOOR_BYTES_PER_SECOND - 1 })
    assert.ok(!r.ok)
    assert.match(
      r.reason,
      /^uploadBytesPerSecond .*256\.0 KiB\/s.*peers would drop this node as slow/,
    )
    const d = checkBandwidth({ downloadBytesPerSecond: 1000 }, (f) => `--${f}`)
    assert.ok(!d.ok)
    assert.match(d.reason, /^--downloadBytesPerSecond .*slow/)
  })

  it('names the field of a bad value', () => {
    for (const [x, re] of [
      [{ monthlyUploadBytes: 0 }, /^monthlyUploadBytes must be above 0/],
      [{ monthlyUploadBytes: '5' }, /^monthlyUploadBytes must be a number/],
      [{ uploadRate: 5 }, /unknown member "uploadRate"/],
      [null, /must be an object/],
    ] as const) {
      const r = checkBandwidth(x)
      assert.ok(!r.ok)
      assert.match(r.reason, re)
    }
  })
})

/** By the time of every send, the bytes sent so far are within burst + rate * t. */
function assertWithinBound(
  sends: ReadonlyArray<{ at: number; bytes: number }>,
  burst: number,
  rate: number,
): void {
  for (const { at } of sends) {
    const sent = sends.filter((s) => s.at <= at).reduce((x, s) => x + s.bytes, 0)
    assert.ok(sent <= burst + (rate * at) / 1000 + 1e-6, `${sent} bytes by ${at} ms`)
  }
}
