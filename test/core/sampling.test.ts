/** The shadow run's sampling cadence and its memory limit. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  MAX_SAMPLE_MS,
  MEMORY_FLOOR_BYTES,
  MIN_SAMPLE_MS,
  memoryLimitBytes,
  SHADOW_SAMPLES,
  sampleMs,
  sampleWaitMs,
} from '../../src/core/shadow/sampling.ts'
import { DEFAULT_SHADOW_RULE } from '../../src/core/shadow/verdict.ts'

const MIB = 1024 * 1024

describe('shadow sampling', () => {
  it('samples a window 24 times, within 200 ms and 10 s', () => {
    assert.equal(sampleMs(120_000), 5000)
    assert.equal(sampleMs(600_000), MAX_SAMPLE_MS, 'the default 600 s window: every 10 s')
    assert.equal(sampleMs(1000), MIN_SAMPLE_MS)
    fc.assert(
      fc.property(fc.nat(10_000_000), (d) => {
        const p = sampleMs(d)
        assert.ok(p >= MIN_SAMPLE_MS && p <= MAX_SAMPLE_MS)
      }),
    )
  })

  it('takes more samples than the verdict needs', () => {
    assert.ok(SHADOW_SAMPLES >= 2 * DEFAULT_SHADOW_RULE.minSamples)
  })

  it('keeps a fixed cadence: a late sample does not push the next one back', () => {
    assert.equal(sampleWaitMs(10_000, 1, 1000, 10_000), 1000)
    assert.equal(sampleWaitMs(10_000, 2, 1000, 11_700), 300, 'the second sample was 700 ms late')
    assert.equal(sampleWaitMs(10_000, 3, 1000, 14_000), 0, 'behind: at once, never negative')
  })

  it('kills past max(4 x the live node, 512 MiB)', () => {
    assert.equal(memoryLimitBytes(100 * MIB), MEMORY_FLOOR_BYTES)
    assert.equal(memoryLimitBytes(200 * MIB), 800 * MIB)
    assert.equal(memoryLimitBytes(undefined), 512 * MIB, 'live node not read: the floor')
  })
})
