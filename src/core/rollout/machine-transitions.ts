/**
 * The moves into a phase that several of the machine's handlers share: starting a fetch or a
 * shadow run, going back to rest, marking the target bad, and starting a rollback. Pure.
 */

import type { Phase, RolloutEffect, RolloutState, StepResult, Target } from './machine-types.ts'
import { actsAsCanary, rolloutSlot } from './slot.ts'

export function log(message: string): RolloutEffect {
  return { type: 'log', message }
}

export function startFetch(
  s: RolloutState,
  t: Target,
  now: number,
  why: string,
  peers?: readonly string[],
): StepResult {
  const slot = rolloutSlot(s.nodeId, t.digest)
  const sameTarget = s.target?.digest === t.digest
  const state: RolloutState = {
    ...s,
    phase: 'fetching',
    target: t,
    windowStart: sameTarget && s.windowStart !== undefined ? s.windowStart : now,
    slot,
    // Decided once, at first sight, with the peers known then; a retry keeps it.
    canary:
      sameTarget && s.canary !== undefined
        ? s.canary
        : actsAsCanary(s.nodeId, t.digest, t.policy.canaryFraction, peers),
    deadline: now + s.timeouts.fetchMs,
    attempts: sameTarget ? s.attempts : 0,
    reason: why,
  }
  delete state.retryAt
  delete state.evidence
  delete state.shadowPassed
  if (!sameTarget) {
    delete state.probationRestarts
    delete state.waveStart
  }
  if (sameTarget && s.evidence) state.evidence = s.evidence
  return { state, effects: [log(why), { type: 'fetch', target: t }] }
}

/** Goes back to rest, keeping the target so evidence or an approval can pick it up again. */
export function rest(
  s: RolloutState,
  phase: Phase,
  reason: string,
  extra: RolloutEffect[] = [],
): StepResult {
  const state: RolloutState = { ...s, phase, reason }
  delete state.deadline
  return { state, effects: [...extra, log(reason)] }
}

export function failTarget(
  s: RolloutState,
  reason: string,
  stage: 'shadow' | 'probation',
  extra: RolloutEffect[] = [],
): StepResult {
  const t = s.target!
  const state: RolloutState = {
    ...s,
    phase: 'bad',
    bad: { ...s.bad, [t.version]: reason },
    reason: `${t.version} is bad: ${reason}`,
  }
  delete state.deadline
  return {
    state,
    effects: [
      ...extra,
      { type: 'report', target: t, stage, verdict: 'fail', reason },
      log(state.reason),
    ],
  }
}

/** The reason recorded in `bad` for a revoked version. */
export function revokedReason(reason: string): string {
  return `revoked by the maintainers: ${reason}`
}

/** True when `version` is marked bad because it was revoked. */
export function isRevoked(s: RolloutState, version: string): boolean {
  return s.bad[version]?.startsWith('revoked by the maintainers') === true
}

export function startRollback(
  s: RolloutState,
  now: number,
  reason: string,
  stage: 'shadow' | 'probation' | 'local',
  toWanted: string,
): StepResult {
  const t = s.target!
  // Never back onto a revoked release while an unrevoked one is installed.
  const to = isRevoked(s, toWanted)
    ? ([s.previous, s.lastGood].find(
        (x) => x !== undefined && x !== toWanted && x !== t.version && !s.bad[x],
      ) ?? toWanted)
    : toWanted
  const state: RolloutState = {
    ...s,
    phase: 'rolled-back',
    current: to,
    // A committed canary that is rolled back was never "good" in the network's eyes.
    lastGood: s.lastGood === t.version ? to : s.lastGood,
    bad: { ...s.bad, [t.version]: reason },
    deadline: now + s.timeouts.rollbackMs,
    reason: `rolling back ${t.version} -> ${to}: ${reason}`,
  }
  delete state.shadowPassed
  return {
    state,
    effects: [
      { type: 'rollback', from: t.version, to, reason },
      // A 'local' failure says something about this machine, not the release: not reported.
      ...(stage === 'local'
        ? []
        : [{ type: 'report' as const, target: t, stage, verdict: 'fail' as const, reason }]),
      log(state.reason),
    ],
  }
}

export function startShadow(s: RolloutState, now: number): StepResult {
  const t = s.target!
  const durationMs = t.policy.shadowSeconds * 1000
  const state: RolloutState = {
    ...s,
    phase: 'shadow',
    deadline: now + durationMs + s.timeouts.shadowGraceMs,
    reason: `shadow-running ${t.version} for ${t.policy.shadowSeconds} s`,
  }
  delete state.retryAt
  return { state, effects: [log(state.reason), { type: 'start-shadow', target: t, durationMs }] }
}
