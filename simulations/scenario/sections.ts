/**
 * The parsers of a scenario's larger sections: duration distributions, rollout policies,
 * regions, operators, releases and adversaries.
 */
import { DEFAULT_ROLLOUT, type RolloutPolicy } from '../../src/core/manifest/release.ts'
import { compareVersions } from '../../src/core/rollout/machine.ts'
import { isVersion } from '../../src/core/version/version.ts'
import { ScenarioError } from '../errors.ts'
import { array, at, describe, NAME_RE, num, type Obj, object, oneOf, str } from './fields.ts'
import type { Distribution, LiarClaim, Quality, ReleaseSpec, Scenario } from './types.ts'

/**
 * SimBlock's 2019 network (NetworkConfiguration.java): regions, the share of Bitcoin nodes in
 * each, the mean one-way latency between regions (ms) and each region's download bandwidth.
 */
export const SIMBLOCK_2019: Readonly<Scenario['regions']> = Object.freeze({
  names: ['north-america', 'europe', 'south-america', 'asia-pacific', 'japan', 'australia'],
  share: [0.3316, 0.4998, 0.009, 0.1177, 0.0224, 0.0195],
  latencyMs: [
    [32, 124, 184, 198, 151, 189],
    [124, 11, 227, 237, 252, 294],
    [184, 227, 88, 325, 301, 322],
    [198, 237, 325, 85, 58, 198],
    [151, 252, 301, 58, 12, 126],
    [189, 294, 322, 198, 126, 16],
  ],
  bandwidthMbps: [52, 40, 18, 22.8, 22.8, 29.9],
})

const QUALITIES: readonly Quality[] = ['good', 'crash-in-shadow', 'fails-in-probation', 'slow-leak']
const CLAIMS: readonly LiarClaim[] = [
  'newer-unsigned',
  'older-unsigned',
  'oldest-signed',
  'extra-capabilities',
]

export function distribution(v: unknown, path: string): Distribution {
  const kind = object(v, path, [
    'distribution',
    'minHours',
    'shape',
    'medianHours',
    'sigma',
    'meanHours',
  ])
  const d = oneOf(kind, path, 'distribution', ['pareto', 'lognormal', 'exponential'] as const)
  const only = (keys: string[]) => {
    for (const k of Object.keys(kind))
      if (k !== 'distribution' && !keys.includes(k))
        throw new ScenarioError(
          at(path, k),
          `does not apply to a ${d} distribution (use ${keys.join(', ')})`,
        )
  }
  if (d === 'pareto') {
    only(['minHours', 'shape'])
    return {
      distribution: d,
      minHours: num(kind, path, 'minHours', 0, 10_000, undefined, { exclusiveMin: true }),
      // shape > 1 keeps the mean finite, which the stationary start of churn needs.
      shape: num(kind, path, 'shape', 1, 100, undefined, { exclusiveMin: true }),
    }
  }
  if (d === 'lognormal') {
    only(['medianHours', 'sigma'])
    return {
      distribution: d,
      medianHours: num(kind, path, 'medianHours', 0, 100_000, undefined, { exclusiveMin: true }),
      sigma: num(kind, path, 'sigma', 0, 5),
    }
  }
  only(['meanHours'])
  return {
    distribution: d,
    meanHours: num(kind, path, 'meanHours', 0, 100_000, undefined, { exclusiveMin: true }),
  }
}

const POLICY_KEYS = [...Object.keys(DEFAULT_ROLLOUT), 'minProbationPasses'] as Array<
  keyof RolloutPolicy
>

/**
 * A rollout policy: `base` with the fields of `v` replaced, under the same ranges as a signed
 * manifest's `rollout` (src/core/manifest/release.ts).
 */
export function parsePolicy(v: unknown, path: string, base: RolloutPolicy): RolloutPolicy {
  const o = object(v, path, POLICY_KEYS)
  const int = { integer: true }
  const policy: RolloutPolicy = {
    windowSeconds: num(o, path, 'windowSeconds', 0, 365 * 86400, base.windowSeconds, int),
    canaryFraction: num(o, path, 'canaryFraction', 0, 1, base.canaryFraction),
    shadowSeconds: num(o, path, 'shadowSeconds', 0, 7 * 86400, base.shadowSeconds, int),
    probationSeconds: num(o, path, 'probationSeconds', 0, 7 * 86400, base.probationSeconds, int),
    minPassReports: num(o, path, 'minPassReports', 0, 1_000_000, base.minPassReports, int),
    maxFailureShare: num(o, path, 'maxFailureShare', 0, 1, base.maxFailureShare),
    haltFailureShare: num(o, path, 'haltFailureShare', 0, 1, base.haltFailureShare),
    haltMinFailures: num(o, path, 'haltMinFailures', 1, 1_000_000, base.haltMinFailures, int),
  }
  if (o.minProbationPasses !== undefined || base.minProbationPasses !== undefined)
    policy.minProbationPasses = num(
      o,
      path,
      'minProbationPasses',
      1,
      1_000_000,
      base.minProbationPasses,
      int,
    )
  if (policy.maxFailureShare > policy.haltFailureShare)
    throw new ScenarioError(at(path, 'maxFailureShare'), 'must not exceed haltFailureShare')
  return policy
}

export function parseRegions(v: unknown): Scenario['regions'] {
  if (v === undefined) {
    return {
      names: [...SIMBLOCK_2019.names],
      share: [...SIMBLOCK_2019.share],
      latencyMs: SIMBLOCK_2019.latencyMs.map((row) => [...row]),
      bandwidthMbps: [...SIMBLOCK_2019.bandwidthMbps],
    }
  }
  const o = object(v, 'regions', ['names', 'share', 'latencyMs', 'bandwidthMbps'])
  const names = array(o, 'regions', 'names', 1, 64)
  if (names === undefined) throw new ScenarioError('regions.names', 'is required')
  names.forEach((n, i) => {
    if (typeof n !== 'string' || !NAME_RE.test(n))
      throw new ScenarioError(
        `regions.names[${i}]`,
        `must be a lower-case name (got ${describe(n)})`,
      )
  })
  if (new Set(names).size !== names.length)
    throw new ScenarioError('regions.names', 'must not name a region twice')
  const k = names.length
  const vec = (key: string, min: number, max: number): number[] => {
    const a = array(o, 'regions', key, k, k)
    if (a === undefined)
      throw new ScenarioError(`regions.${key}`, `is required (one entry per region)`)
    return a.map((x, i) => {
      if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max)
        throw new ScenarioError(
          `regions.${key}[${i}]`,
          `must be a number from ${min} to ${max} (got ${describe(x)})`,
        )
      return x
    })
  }
  const share = vec('share', 0, 1)
  const total = share.reduce((a, b) => a + b, 0)
  if (Math.abs(total - 1) > 0.01)
    throw new ScenarioError('regions.share', `must add up to 1 (got ${total.toFixed(4)})`)
  const rows = array(o, 'regions', 'latencyMs', k, k)
  if (rows === undefined)
    throw new ScenarioError('regions.latencyMs', `is required (a ${k} x ${k} matrix)`)
  const latencyMs = rows.map((row, i) => {
    if (!Array.isArray(row) || row.length !== k)
      throw new ScenarioError(`regions.latencyMs[${i}]`, `must be a row of ${k} numbers`)
    return row.map((x, j) => {
      if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 60_000)
        throw new ScenarioError(
          `regions.latencyMs[${i}][${j}]`,
          `must be a number of ms from 0 to 60000 (got ${describe(x)})`,
        )
      return x
    })
  })
  const bandwidthMbps =
    o.bandwidthMbps === undefined ? names.map(() => 25) : vec('bandwidthMbps', 0.01, 1_000_000)
  return { names: names as string[], share: share.map((s) => s / total), latencyMs, bandwidthMbps }
}

export function parseOperators(v: unknown): Scenario['operators'] {
  const o = object(v ?? {}, 'operators', ['auto', 'manual', 'never', 'manualDelay'])
  const auto = num(
    o,
    'operators',
    'auto',
    0,
    1,
    o.manual === undefined && o.never === undefined ? 1 : 0,
  )
  const manual = num(o, 'operators', 'manual', 0, 1, 0)
  const never = num(o, 'operators', 'never', 0, 1, 0)
  if (Math.abs(auto + manual + never - 1) > 1e-6)
    throw new ScenarioError(
      'operators',
      `auto + manual + never must be 1 (got ${auto + manual + never})`,
    )
  const list = array(o, 'operators', 'manualDelay', 1, 16)
  if (list === undefined && manual > 0)
    throw new ScenarioError('operators.manualDelay', 'is required when operators.manual is above 0')
  const manualDelay = (list ?? []).map((c, i) => {
    const p = `operators.manualDelay[${i}]`
    const x = object(c, p, ['weight', 'medianHours', 'sigma'])
    return {
      weight: num(x, p, 'weight', 0, 1, undefined, { exclusiveMin: true }),
      medianHours: num(x, p, 'medianHours', 0, 100_000, undefined, { exclusiveMin: true }),
      sigma: num(x, p, 'sigma', 0, 5),
    }
  })
  return { auto, manual, never, manualDelay }
}

export function parseReleases(
  o: Obj,
  initialVersion: string,
  durationHours: number,
  policy: RolloutPolicy,
): ReleaseSpec[] {
  const list = array(o, '', 'releases', 1, 64)
  if (list === undefined) throw new ScenarioError('releases', 'is required (at least one release)')
  const out: ReleaseSpec[] = []
  list.forEach((v, i) => {
    const p = `releases[${i}]`
    const r = object(v, p, [
      'version',
      'atHours',
      'quality',
      'probability',
      'leakMiBPerHour',
      'memoryLimitMiB',
      'minVersion',
      'policy',
      'revokeAtHours',
    ])
    const version = str(r, p, 'version', isVersion, 'a semver version like 1.1.0')
    const prev = out.at(-1)?.version ?? initialVersion
    if (compareVersions(version, prev) <= 0)
      throw new ScenarioError(
        `${p}.version`,
        `must be newer than ${prev} (releases are listed oldest first)`,
      )
    const atHours = num(r, p, 'atHours', 0, durationHours)
    if (out.length > 0 && atHours < out.at(-1)!.atHours)
      throw new ScenarioError(`${p}.atHours`, `must not be before releases[${i - 1}].atHours`)
    const quality = oneOf(r, p, 'quality', QUALITIES, 'good')
    if (quality === 'good') {
      for (const k of ['probability', 'leakMiBPerHour', 'memoryLimitMiB'])
        if (r[k] !== undefined)
          throw new ScenarioError(`${p}.${k}`, 'does not apply to a good release')
    }
    if (quality !== 'slow-leak') {
      for (const k of ['leakMiBPerHour', 'memoryLimitMiB'])
        if (r[k] !== undefined)
          throw new ScenarioError(`${p}.${k}`, 'applies only to a slow-leak release')
    }
    const minVersion = str(r, p, 'minVersion', isVersion, 'a semver version', initialVersion)
    if (compareVersions(minVersion, version) >= 0)
      throw new ScenarioError(`${p}.minVersion`, `must be older than ${version}`)
    out.push({
      version,
      atHours,
      quality,
      probability: quality === 'good' ? 0 : num(r, p, 'probability', 0, 1, 1),
      leakMiBPerHour: num(r, p, 'leakMiBPerHour', 0, 1_000_000, 50, { exclusiveMin: true }),
      memoryLimitMiB: num(r, p, 'memoryLimitMiB', 0, 1_000_000, 1024, { exclusiveMin: true }),
      minVersion,
      policy: r.policy === undefined ? policy : parsePolicy(r.policy, `${p}.policy`, policy),
      revokeAtHours:
        r.revokeAtHours === undefined
          ? undefined
          : num(r, p, 'revokeAtHours', atHours, durationHours),
    })
  })
  return out
}

export function parseAdversaries(v: unknown, versions: string[]): Scenario['adversaries'] {
  const o = object(v ?? {}, 'adversaries', ['falseReporters', 'eclipse', 'versionLiars'])
  const fr = object(o.falseReporters ?? {}, 'adversaries.falseReporters', [
    'count',
    'delayMinutes',
    'versions',
    'established',
    'verdict',
    'stage',
  ])
  const p = 'adversaries.falseReporters'
  const list = array(fr, p, 'versions', 1, 64)
  const targets = list?.map((x, i) => {
    if (typeof x !== 'string' || !versions.slice(1).includes(x))
      throw new ScenarioError(
        `${p}.versions[${i}]`,
        `must name a release of this scenario (got ${describe(x)})`,
      )
    return x
  })
  const established = fr.established ?? false
  if (typeof established !== 'boolean')
    throw new ScenarioError(`${p}.established`, 'must be true or false')
  const verdict = fr.verdict ?? 'fail'
  if (verdict !== 'pass' && verdict !== 'fail')
    throw new ScenarioError(`${p}.verdict`, `must be pass or fail (got ${describe(verdict)})`)
  const stage = fr.stage ?? 'probation'
  if (stage !== 'shadow' && stage !== 'probation')
    throw new ScenarioError(`${p}.stage`, `must be shadow or probation (got ${describe(stage)})`)
  const falseReporters = {
    count: num(fr, p, 'count', 0, 1_000_000, 0, { integer: true }),
    delayMinutes: num(fr, p, 'delayMinutes', 0, 100_000, 0),
    versions: targets,
    established,
    verdict: verdict as 'pass' | 'fail',
    stage: stage as 'shadow' | 'probation',
  }
  const e = object(o.eclipse ?? {}, 'adversaries.eclipse', [
    'fraction',
    'honestContactsPerDay',
    'directFetchSuccess',
  ])
  const eclipse = {
    fraction: num(e, 'adversaries.eclipse', 'fraction', 0, 1, 0),
    honestContactsPerDay: num(e, 'adversaries.eclipse', 'honestContactsPerDay', 0, 100_000, 0),
    directFetchSuccess: num(e, 'adversaries.eclipse', 'directFetchSuccess', 0, 1, 0),
  }
  const l = object(o.versionLiars ?? {}, 'adversaries.versionLiars', [
    'count',
    'claims',
    'contactsPerDay',
    'sequenceAhead',
  ])
  const lp = 'adversaries.versionLiars'
  const claims = (array(l, lp, 'claims', 1, 4) ?? ['newer-unsigned']).map((c, i) => {
    if (typeof c !== 'string' || !CLAIMS.includes(c as LiarClaim))
      throw new ScenarioError(
        `${lp}.claims[${i}]`,
        `must be one of ${CLAIMS.join(', ')} (got ${describe(c)})`,
      )
    return c as LiarClaim
  })
  const ahead = l.sequenceAhead ?? false
  if (typeof ahead !== 'boolean')
    throw new ScenarioError(`${lp}.sequenceAhead`, 'must be true or false')
  const versionLiars = {
    count: num(l, lp, 'count', 0, 1_000_000, 0, { integer: true }),
    claims,
    contactsPerDay: num(l, lp, 'contactsPerDay', 0, 100_000, 0),
    sequenceAhead: ahead,
  }
  return { falseReporters, eclipse, versionLiars }
}
