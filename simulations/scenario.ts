/**
 * Scenario files: what a simulation is about, read from JSON and checked once, up front.
 *
 * Every field is documented in docs/simulations.md with its unit and default. A bad field is a
 * {@link ScenarioError} whose message names the field's path and the rule it breaks, in the
 * gossipsub style: `releases[1].probability must be a number from 0 to 1 (got 1.5)`.
 * Unknown fields are refused too, so a typo never silently falls back to a default.
 */
import { DEFAULT_ROLLOUT } from '../src/core/manifest/release.ts'
import { DEFAULT_TIMEOUTS, type MachineTimeouts } from '../src/core/rollout/machine.ts'
import { array, NAME_RE, num, object, oneOf, str } from './scenario/fields.ts'
import {
  distribution,
  parseAdversaries,
  parseOperators,
  parsePolicy,
  parseRegions,
  parseReleases,
} from './scenario/sections.ts'
import type { Scenario } from './scenario/types.ts'

export { ScenarioError } from './errors.ts'
export { parsePolicy, SIMBLOCK_2019 } from './scenario/sections.ts'
export type {
  DelayComponent,
  Distribution,
  LiarClaim,
  Quality,
  ReleaseSpec,
  Scenario,
} from './scenario/types.ts'

import { isVersion } from '../src/core/version/version.ts'
import { ScenarioError } from './errors.ts'

/** Largest network a scenario may ask for. */
export const MAX_NODES = 2_000_000

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
    isVersion,
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
    const release = str(c, p, 'release', isVersion, 'a release version of this scenario')
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
