/**
 * The machine's intake from the network: a verified manifest (does it start a rollout, is it
 * queued behind a switch in flight) and the evidence on the target (halt, or let a scheduled
 * node go). Pure.
 */

import semver from 'semver'
import type { EvidenceSummary } from './evidence.ts'
import { toScheduled, trySwitch, withWave } from './machine-schedule.ts'
import { log, rest, startFetch, startRollback } from './machine-transitions.ts'
import {
  RESTING,
  type RolloutEffect,
  type RolloutState,
  type StepResult,
  type Target,
} from './machine-types.ts'

/** Orders two versions by semver precedence (1.0.0-rc.9 before 1.0.0-rc.10). */
export function compareVersions(a: string, b: string): number {
  return semver.compare(a, b)
}

/** Why a manifest does not start a rollout, or undefined when it may. */
function refusal(s: RolloutState, t: Target): string | undefined {
  if (compareVersions(t.version, s.current) <= 0)
    return `${t.version} is not newer than ${s.current}`
  if (s.bad[t.version] !== undefined) return `${t.version} is marked bad: ${s.bad[t.version]}`
  if (compareVersions(s.current, t.minVersion) < 0)
    return `${t.version} cannot upgrade from ${s.current} (needs ${t.minVersion} or newer)`
  if (s.settings.holdAt !== undefined && compareVersions(t.version, s.settings.holdAt) > 0)
    return `held at ${s.settings.holdAt} by the operator`
  if (!s.settings.autoUpgrade && !s.settings.approved.includes(t.version))
    return `awaiting approval: run \`convoy upgrade approve ${t.version}\``
  return undefined
}

/** `s` with every field that belonged to its previous target dropped. */
export function forNewTarget(s: RolloutState): RolloutState {
  const state = { ...s }
  for (const k of PER_TARGET) delete state[k]
  return state
}

/** The fields of a rollout state that describe one target, not the node. */
const PER_TARGET = [
  'windowStart',
  'slot',
  'canary',
  'waveStart',
  'evidence',
  'shadowPassed',
  'probationRestarts',
  'committedAt',
  'liveExits',
  'attempts',
  'retryAt',
  'deadline',
] as const satisfies readonly (keyof RolloutState)[]

export function onManifest(
  s: RolloutState,
  t: Target,
  now: number,
  peers?: readonly string[],
): StepResult {
  if (s.target?.digest === t.digest && !RESTING.has(s.phase)) return { state: s, effects: [] }
  // Done with this target: it runs (committed), was marked bad, or the network halted it. A
  // node committed on the version before, holding this target only to await approval, is not.
  if (
    s.target?.digest === t.digest &&
    (s.phase === 'bad' ||
      s.phase === 'halted' ||
      (s.phase === 'committed' && s.current === t.version))
  ) {
    return { state: s, effects: [] }
  }
  if (s.target !== undefined && s.target.sequence > t.sequence) return { state: s, effects: [] }
  const why = refusal(s, t)
  if (why !== undefined) {
    if (s.settings.autoUpgrade || s.target?.digest === t.digest)
      return { state: { ...s, reason: why }, effects: [log(why)] }
    // A manual node keeps the release it awaits approval for, so the approval can start it. Mid
    // rollout it is queued (the target in flight is never swapped under a running phase, which
    // a restart would re-issue for the new one); at rest it becomes the target, with nothing of
    // the previous target (its wave, its evidence, its first sight) carried over.
    if (!RESTING.has(s.phase)) return { state: { ...s, pending: t }, effects: [log(why)] }
    const state = forNewTarget({
      ...s,
      reason: why,
      target: t,
      // `bad` and `halted` speak of the target they were reached on, not this one.
      phase: s.phase === 'bad' || s.phase === 'halted' ? 'idle' : s.phase,
    })
    return { state, effects: [log(why)] }
  }
  if (s.phase === 'switching' || s.phase === 'probation' || s.phase === 'rolled-back') {
    // Never abandon a switch half-way: finish it, then take the newer release.
    return {
      state: { ...s, pending: t },
      effects: [log(`${t.version} queued until the switch to ${s.target?.version} settles`)],
    }
  }
  const effects: RolloutEffect[] = []
  if (s.phase === 'shadow' && s.target) effects.push({ type: 'stop-shadow', target: s.target })
  const r = startFetch(
    s,
    t,
    now,
    `upgrading ${s.current} -> ${t.version} (sequence ${t.sequence})`,
    peers,
  )
  return { state: r.state, effects: [...effects, ...r.effects] }
}

export function onEvidence(
  s: RolloutState,
  input: { digest: string; summary: EvidenceSummary },
  now: number,
): StepResult {
  if (s.target?.digest !== input.digest) return { state: s, effects: [] }
  const state = withWave({ ...s, evidence: input.summary }, now)
  if (input.summary.halt) {
    switch (s.phase) {
      case 'fetching':
      case 'staged':
      case 'scheduled':
      case 'idle':
        return rest(state, 'halted', input.summary.reason)
      case 'shadow':
        return rest(state, 'halted', input.summary.reason, [
          { type: 'stop-shadow', target: s.target },
        ])
      case 'switching':
        // Not switched yet as far as the machine knows: go back to what was running.
        return startRollback(state, now, input.summary.reason, 'probation', s.current)
      case 'probation':
        return startRollback(
          state,
          now,
          input.summary.reason,
          'probation',
          s.previous ?? s.lastGood,
        )
      case 'committed':
        // Evidence stops the spread; it never takes a committed release off a node. Reports
        // can be forged by anyone with keys, so that takes the maintainers' signed revocation.
        if (s.current === s.target.version)
          return rest(
            state,
            'halted',
            `${input.summary.reason}; ${s.current} stays committed here until the maintainers revoke it`,
          )
        return rest(state, 'halted', input.summary.reason)
      default:
        return { state, effects: [] }
    }
  }
  if (s.phase === 'scheduled') return trySwitch(state, now)
  if (
    s.phase === 'idle' &&
    s.shadowPassed === s.target.digest &&
    refusal(s, s.target) === undefined
  ) {
    return toScheduled(state, now, `evidence arrived for ${s.target.version}`, [])
  }
  return { state, effects: [] }
}
