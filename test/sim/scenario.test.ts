/** Scenario validation: a bad field is refused with its path and the rule it breaks. */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parsePolicyVariant } from '../../simulations/run.ts'
import { parseScenario, ScenarioError, SIMBLOCK_2019 } from '../../simulations/scenario.ts'
import { DEFAULT_ROLLOUT } from '../../src/core/manifest/release.ts'
import { POLICIES } from './helpers.ts'

const base = {
  name: 'v',
  nodes: 100,
  durationHours: 10,
  releases: [{ version: '1.1.0', atHours: 1 }],
}

function refused(doc: unknown, field: string, rule: RegExp): void {
  assert.throws(
    () => parseScenario(doc),
    (e: unknown) => {
      assert.ok(e instanceof ScenarioError, `a ScenarioError, got ${String(e)}`)
      assert.equal(e.field, field)
      assert.ok(e.message.startsWith(`${field} `), e.message)
      assert.match(e.message, rule)
      assert.ok(!e.message.includes('\n'))
      return true
    },
  )
}

describe('scenario validation', () => {
  it('fills in documented defaults', () => {
    const s = parseScenario(base)
    assert.equal(s.initialVersion, '1.0.0')
    assert.equal(s.sampleMinutes, 10)
    assert.deepEqual(s.policy, DEFAULT_ROLLOUT)
    assert.deepEqual(s.regions.names, SIMBLOCK_2019.names)
    assert.equal(s.operators.auto, 1)
    assert.equal(s.churn, undefined)
    assert.equal(s.releases[0]!.quality, 'good')
    assert.deepEqual(s.releases[0]!.policy, DEFAULT_ROLLOUT)
    assert.equal(s.log.mode, 'full')
    assert.equal(parseScenario({ ...base, nodes: 10_000 }).log.mode, 'sample')
  })

  it('names the field and the rule', () => {
    refused({ ...base, nodez: 1 }, 'nodez', /is not a known field/)
    refused({ ...base, nodes: undefined }, 'nodes', /is required/)
    refused({ ...base, nodes: 0 }, 'nodes', /must be an integer from 1 to 2000000 \(got 0\)/)
    refused({ ...base, nodes: 1.5 }, 'nodes', /integer/)
    refused({ ...base, name: 'Bad Name' }, 'name', /lower-case/)
    refused({ ...base, durationHours: -1 }, 'durationHours', /greater than 0/)
    refused(
      { ...base, releases: [{ version: '1.1.0', atHours: 1, quality: 'meh' }] },
      'releases[0].quality',
      /must be one of good, crash-in-shadow, fails-in-probation, slow-leak \(got "meh"\)/,
    )
    refused(
      { ...base, releases: [{ version: '0.9.0', atHours: 1 }] },
      'releases[0].version',
      /must be newer than 1.0.0/,
    )
    refused(
      {
        ...base,
        releases: [
          { version: '1.1.0', atHours: 5 },
          { version: '1.2.0', atHours: 2 },
        ],
      },
      'releases[1].atHours',
      /must not be before releases\[0\].atHours/,
    )
    refused(
      { ...base, releases: [{ version: '1.1.0', atHours: 1, quality: 'good', probability: 0.5 }] },
      'releases[0].probability',
      /does not apply to a good release/,
    )
    refused(
      {
        ...base,
        releases: [{ version: '1.1.0', atHours: 1, quality: 'crash-in-shadow', probability: 2 }],
      },
      'releases[0].probability',
      /from 0 to 1 \(got 2\)/,
    )
    refused(
      { ...base, policy: { maxFailureShare: 0.5, haltFailureShare: 0.2 } },
      'policy.maxFailureShare',
      /must not exceed haltFailureShare/,
    )
    refused({ ...base, policy: { canaryFraction: 1.2 } }, 'policy.canaryFraction', /from 0 to 1/)
    refused({ ...base, policy: { window: 5 } }, 'policy.window', /is not a known field/)
    refused(
      { ...base, operators: { auto: 0.5, manual: 0.2 } },
      'operators',
      /auto \+ manual \+ never must be 1/,
    )
    refused(
      { ...base, operators: { auto: 0.5, manual: 0.5 } },
      'operators.manualDelay',
      /is required when operators.manual is above 0/,
    )
    refused(
      {
        ...base,
        churn: {
          session: { distribution: 'pareto', minHours: 1, shape: 1 },
          downtime: { distribution: 'exponential', meanHours: 1 },
        },
      },
      'churn.session.shape',
      /greater than 1/,
    )
    refused(
      {
        ...base,
        churn: {
          session: { distribution: 'lognormal', medianHours: 1, shape: 2 },
          downtime: { distribution: 'exponential', meanHours: 1 },
        },
      },
      'churn.session.shape',
      /does not apply to a lognormal distribution/,
    )
    refused(
      {
        ...base,
        regions: {
          names: ['a', 'b'],
          share: [0.5, 0.4],
          latencyMs: [
            [1, 2],
            [2, 1],
          ],
        },
      },
      'regions.share',
      /must add up to 1/,
    )
    refused(
      { ...base, regions: { names: ['a', 'b'], share: [0.5, 0.5], latencyMs: [[1, 2], [2]] } },
      'regions.latencyMs[1]',
      /row of 2 numbers/,
    )
    refused(
      { ...base, calibration: [{ release: '9.9.9', afterDays: 1, share: 0.5 }] },
      'calibration[0].release',
      /names no release/,
    )
    refused(
      { ...base, calibration: [{ release: '1.1.0', afterDays: 5, share: 0.5 }] },
      'calibration[0].afterDays',
      /after the end of the run/,
    )
    refused(
      { ...base, adversaries: { versionLiars: { count: 3, claims: ['lies'] } } },
      'adversaries.versionLiars.claims[0]',
      /must be one of/,
    )
    refused({ ...base, timeouts: { fetchMs: 0 } }, 'timeouts.fetchMs', /from 1 to/)
    refused({ ...base, log: { mode: 'everything' } }, 'log.mode', /full, sample, network/)
    refused([], '', /must be an object/)
  })

  it('policy files name their field too, and the shipped ones parse', () => {
    assert.throws(
      () => parsePolicyVariant({ canaryFraction: 3 }, 'x', DEFAULT_ROLLOUT),
      /policy.canaryFraction must be a number from 0 to 1 \(got 3\)/,
    )
    assert.throws(
      () => parsePolicyVariant({ name: 'a b' }, 'x', DEFAULT_ROLLOUT),
      /^ScenarioError: name must be/,
    )
    const files = readdirSync(POLICIES).filter((f) => f.endsWith('.json'))
    assert.ok(files.length >= 3)
    for (const f of files) {
      const v = parsePolicyVariant(
        JSON.parse(readFileSync(join(POLICIES, f), 'utf8')),
        f,
        DEFAULT_ROLLOUT,
      )
      assert.ok(v.name.length > 0)
    }
  })
})
