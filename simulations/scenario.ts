/**
 * Scenario files: what a simulation is about, read from JSON and checked once, up front.
 *
 * Every field is documented in docs/simulations.md with its unit and default. A bad field is a
 * {@link ScenarioError} whose message names the field's path and the rule it breaks, in the
 * gossipsub style: `releases[1].probability must be a number from 0 to 1 (got 1.5)`.
 * Unknown fields are refused too, so a typo never silently falls back to a default.
 */
import { DEFAULT_ROLLOUT, type RolloutPolicy } from '../src/core/manifest/release.ts'
import {
  compareVersions,
  DEFAULT_TIMEOUTS,
  type MachineTimeouts,
} from '../src/core/rollout/machine.ts'
import {
  array,
  at,
  describe,
  NAME_RE,
  num,
  type Obj,
  object,
  oneOf,
  ScenarioError,
  SEMVER_RE,
  str,
} from './scenario/fields.ts'
import type { Distribution, LiarClaim, Quality, ReleaseSpec, Scenario } from './scenario/types.ts'

export { ScenarioError } from './scenario/fields.ts'
export type {
  DelayComponent,
  Distribution,
  LiarClaim,
  Quality,
  ReleaseSpec,
  Scenario,
} from './scenario/types.ts'

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
/** Largest network a scenario may ask for. */
export const MAX_NODES = 2_000_000

function distribution(v: unknown, path: string): Distribution {
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

const TOP_KEYS = [
  '$schema',
  'name',
  'description',
  'nodes',
  'durationHours',
  'sampleMinutes',
  'initialVersion',
  'regions',
  'artifactMB',
  'network',
  'churn',
  'operators',
  'policy',
  'timeouts',
  'durations',
  'failures',
  'shadow',
  'releases',
  'adversaries',
  'calibration',
  'log',
]

/** Checks a parsed scenario document and fills in defaults; throws {@link ScenarioError}. */
export function parseScenario(doc: unknown): Scenario {
  const o = object(doc, '', TOP_KEYS)
  const name = str(o, '', 'name', NAME_RE, 'lower-case letters, digits and dashes, at most 64')
  const description = o.description === undefined ? '' : o.description
  if (typeof description !== 'string' || description.length > 2000)
    throw new ScenarioError('description', 'must be a string of at most 2000 characters')
  const nodes = num(o, '', 'nodes', 1, MAX_NODES, undefined, { integer: true })
  const durationHours = num(o, '', 'durationHours', 0, 24 * 366, undefined, { exclusiveMin: true })
  const sampleMinutes = num(o, '', 'sampleMinutes', 0, 24 * 60, 10, { exclusiveMin: true })
  if ((durationHours * 60) / sampleMinutes > 100_000)
    throw new ScenarioError(
      'sampleMinutes',
      `gives more than 100000 samples over ${durationHours} h: sample less often`,
    )
  const initialVersion = str(
    o,
    '',
    'initialVersion',
    SEMVER_RE,
    'a semver version like 1.0.0',
    '1.0.0',
  )

  const regions = parseRegions(o.regions)
  const artifactMB = num(o, '', 'artifactMB', 0, 10_000, 20, { exclusiveMin: true })

  const nw = object(o.network ?? {}, 'network', [
    'lookupIntervalSeconds',
    'lookupHops',
    'pushFanout',
    'gossipHops',
    'heartbeatMs',
    'maxUploads',
    'seedCopies',
  ])
  const network = {
    lookupIntervalSeconds: num(nw, 'network', 'lookupIntervalSeconds', 1, 86400, 60),
    lookupHops: num(nw, 'network', 'lookupHops', 1, 64, 4, { integer: true }),
    pushFanout: num(nw, 'network', 'pushFanout', 0, 64, 8, { integer: true }),
    gossipHops: num(nw, 'network', 'gossipHops', 1, 64, 3, { integer: true }),
    heartbeatMs: num(nw, 'network', 'heartbeatMs', 10, 60_000, 1000, { integer: true }),
    maxUploads: num(nw, 'network', 'maxUploads', 1, 1000, 4, { integer: true }),
    seedCopies: num(nw, 'network', 'seedCopies', 1, 1000, 2, { integer: true }),
  }

  let churn: Scenario['churn']
  if (o.churn !== undefined && o.churn !== null) {
    const c = object(o.churn, 'churn', ['session', 'downtime', 'departure'])
    if (c.session === undefined) throw new ScenarioError('churn.session', 'is required')
    if (c.downtime === undefined) throw new ScenarioError('churn.downtime', 'is required')
    churn = {
      session: distribution(c.session, 'churn.session'),
      downtime: distribution(c.downtime, 'churn.downtime'),
      departure: num(c, 'churn', 'departure', 0, 1, 0),
    }
  }

  const operators = parseOperators(o.operators)
  const policy = parsePolicy(o.policy ?? {}, 'policy', DEFAULT_ROLLOUT)

  const t = object(o.timeouts ?? {}, 'timeouts', Object.keys(DEFAULT_TIMEOUTS))
  const day = 86_400_000
  const timeouts: MachineTimeouts = {
    fetchMs: num(t, 'timeouts', 'fetchMs', 1, day, DEFAULT_TIMEOUTS.fetchMs, { integer: true }),
    stageMs: num(t, 'timeouts', 'stageMs', 1, day, DEFAULT_TIMEOUTS.stageMs, { integer: true }),
    shadowGraceMs: num(t, 'timeouts', 'shadowGraceMs', 1, day, DEFAULT_TIMEOUTS.shadowGraceMs, {
      integer: true,
    }),
    switchMs: num(t, 'timeouts', 'switchMs', 1, day, DEFAULT_TIMEOUTS.switchMs, { integer: true }),
    rollbackMs: num(t, 'timeouts', 'rollbackMs', 1, day, DEFAULT_TIMEOUTS.rollbackMs, {
      integer: true,
    }),
    retryMs: num(t, 'timeouts', 'retryMs', 1, day, DEFAULT_TIMEOUTS.retryMs, { integer: true }),
  }

  const d = object(o.durations ?? {}, 'durations', [
    'stageSeconds',
    'switchSeconds',
    'rollbackSeconds',
    'reinstallSeconds',
  ])
  const durations = {
    stageSeconds: num(d, 'durations', 'stageSeconds', 0, 86400, 5),
    switchSeconds: num(d, 'durations', 'switchSeconds', 0, 86400, 15),
    rollbackSeconds: num(d, 'durations', 'rollbackSeconds', 0, 86400, 10),
    reinstallSeconds: num(d, 'durations', 'reinstallSeconds', 0, 86400, 60),
  }
  const f = object(o.failures ?? {}, 'failures', ['fetch', 'switch', 'rollback'])
  const failures = {
    fetch: num(f, 'failures', 'fetch', 0, 1, 0),
    switch: num(f, 'failures', 'switch', 0, 1, 0),
    rollback: num(f, 'failures', 'rollback', 0, 1, 0),
  }
  const sh = object(o.shadow ?? {}, 'shadow', ['mode', 'sampleSeconds'])
  const shadow = {
    mode: oneOf(sh, 'shadow', 'mode', ['judge', 'skip'] as const, 'judge'),
    sampleSeconds: num(sh, 'shadow', 'sampleSeconds', 1, 3600, 15),
  }

  const releases = parseReleases(o, initialVersion, durationHours, policy)
  const versions = [initialVersion, ...releases.map((r) => r.version)]
  const adversaries = parseAdversaries(o.adversaries, versions)

  const cal = array(o, '', 'calibration', 0, 100) ?? []
  const calibration = cal.map((v, i) => {
    const p = `calibration[${i}]`
    const c = object(v, p, ['label', 'release', 'afterDays', 'share', 'tolerance'])
    const release = str(c, p, 'release', SEMVER_RE, 'a release version of this scenario')
    const r = releases.find((x) => x.version === release)
    if (r === undefined)
      throw new ScenarioError(
        `${p}.release`,
        `names no release of this scenario (got "${release}")`,
      )
    const afterDays = num(c, p, 'afterDays', 0, 366)
    if (r.atHours + afterDays * 24 > durationHours)
      throw new ScenarioError(
        `${p}.afterDays`,
        `falls after the end of the run (${durationHours} h)`,
      )
    const label = c.label === undefined ? `${release} after ${afterDays} d` : c.label
    if (typeof label !== 'string' || label.length > 200)
      throw new ScenarioError(`${p}.label`, 'must be a string of at most 200 characters')
    const share = c.share === undefined ? undefined : num(c, p, 'share', 0, 1)
    if (share === undefined && c.tolerance !== undefined)
      throw new ScenarioError(`${p}.tolerance`, 'needs a share to be checked against')
    return { label, release, afterDays, share, tolerance: num(c, p, 'tolerance', 0, 1, 0.05) }
  })

  const lg = object(o.log ?? {}, 'log', ['mode', 'sampleNodes'])
  const log = {
    mode: oneOf(
      lg,
      'log',
      'mode',
      ['full', 'sample', 'network'] as const,
      nodes <= 5000 ? 'full' : 'sample',
    ),
    sampleNodes: num(lg, 'log', 'sampleNodes', 0, 10_000, 200, { integer: true }),
  }

  return {
    name,
    description,
    nodes,
    durationHours,
    sampleMinutes,
    initialVersion,
    regions,
    artifactMB,
    network,
    churn,
    operators,
    policy,
    timeouts,
    durations,
    failures,
    shadow,
    releases,
    adversaries,
    calibration,
    log,
  }
}

function parseRegions(v: unknown): Scenario['regions'] {
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

function parseOperators(v: unknown): Scenario['operators'] {
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

function parseReleases(
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
    ])
    const version = str(r, p, 'version', SEMVER_RE, 'a semver version like 1.1.0')
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
    const minVersion = str(r, p, 'minVersion', SEMVER_RE, 'a semver version', initialVersion)
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
    })
  })
  return out
}

function parseAdversaries(v: unknown, versions: string[]): Scenario['adversaries'] {
  const o = object(v ?? {}, 'adversaries', ['falseReporters', 'eclipse', 'versionLiars'])
  const fr = object(o.falseReporters ?? {}, 'adversaries.falseReporters', [
    'count',
    'delayMinutes',
    'versions',
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
  const falseReporters = {
    count: num(fr, p, 'count', 0, 1_000_000, 0, { integer: true }),
    delayMinutes: num(fr, p, 'delayMinutes', 0, 100_000, 0),
    versions: targets,
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
