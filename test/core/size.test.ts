/** Sizes and rates as people write them (core/size.ts). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { formatSize, parseSize, SIZE_UNITS } from '../../src/core/size.ts'

const MULT: Record<string, number> = {
  B: 1,
  kB: 1e3,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
}

describe('parseSize', () => {
  it('reads the forms of the flags', () => {
    const v = (s: string, rate = false) => {
      const r = parseSize(s, { rate })
      assert.ok(r.ok, s)
      return r.value
    }
    assert.equal(v('5MB'), 5_000_000)
    assert.equal(v('512KiB'), 524_288)
    assert.equal(v('1.5MiB'), 1_572_864)
    assert.equal(v('200GB'), 200e9)
    assert.equal(v('1048576'), 1_048_576)
    assert.equal(v('5MB/s', true), 5_000_000)
    assert.equal(v(' 2 MiB/s ', true), 2 * 1024 ** 2)
  })

  it('refuses what is not a size, saying how to write one', () => {
    for (const s of ['', 'fast', '5mb', '1.5', '-5MB', '5MB/s', '5 MB ps', '1e9', 'Infinity']) {
      const r = parseSize(s)
      assert.ok(!r.ok, s)
      assert.match(r.reason, /is not a size: use an integer of bytes or a number with B, KB/)
    }
    assert.equal(parseSize('99999999TiB').ok, false)
  })

  it('any integer with any unit is that many units, rounded down to bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom(...SIZE_UNITS),
        fc.boolean(),
        (n, unit, rate) => {
          const r = parseSize(`${n}${unit}${rate ? '/s' : ''}`, { rate })
          const bytes = Math.floor(n * MULT[unit]!)
          if (Number.isSafeInteger(bytes)) assert.deepEqual(r, { ok: true, value: bytes })
          else assert.equal(!r.ok && r.code, 'too-large')
        },
      ),
    )
  })

  it('decimals parse to the nearest byte below, and no text throws', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 0, max: 99 }), (a, b) => {
        const text = `${a}.${String(b).padStart(2, '0')}`
        const r = parseSize(`${text}MiB`)
        assert.deepEqual(r, { ok: true, value: Math.floor(Number(text) * 1024 ** 2) })
      }),
    )
    fc.assert(fc.property(fc.string(), (s) => void parseSize(s, { rate: true })))
  })

  it('formats binary sizes', () => {
    assert.equal(formatSize(512), '512 B')
    assert.equal(formatSize(1536), '1.5 KiB')
    assert.equal(formatSize(200 * 1024 ** 3), '200.0 GiB')
    assert.equal(formatSize(Number.POSITIVE_INFINITY), 'unlimited')
  })
})
