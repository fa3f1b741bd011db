/**
 * The driver's answers to the machine's effects (fetched, staged, shadow result, switched,
 * health, rolled back, reinstalled), with the retries, the rollback and reinstall that failures
 * lead to, and the settling of a switch. Pure.
 */

import { onManifest } from './machine-manifest.ts'
import { leaveIfRevoked } from './machine-revoke.ts'
import { toScheduled } from './machine-schedule.ts'
import { failTarget, log, rest, startRollback, startShadow } from './machine-transitions.ts'
import type { RolloutEffect, RolloutInput, RolloutState, StepResult } from './machine-types.ts'
import { onCommittedHealth } from './machine-watch.ts'

function retryDelay(s: RolloutState): number {
  return Math.min(s.timeouts.retryMs * 2 ** Math.max(0, s.attempts - 1), 3_600_000)
}

export function onResult(
  s: RolloutState,
  input: Exclude<
    RolloutInput,
    {
      type:
        | 'manifest'
        | 'evidence'
        | 'resume'
        | 'tick'
        | 'settings'
        | 'approve'
        | 'revoked'
        | 'exited'
    }
  >,
  now: number,
): StepResult {
  const t = s.target
  switch (input.type) {
    case 'fetched': {
      if (s.phase !== 'fetching' || t === undefined) return { state: s, effects: [] }
      if (!input.ok) {
        const attempts = s.attempts + 1
        const state = { ...s, attempts }
        return rest(
          { ...state, retryAt: now + retryDelay(state) },
          'idle',
          `fetch of ${t.version} failed: ${input.reason ?? 'unknown'}; retrying later`,
        )
      }
      const state: RolloutState = {
        ...s,
        phase: 'staged',
        deadline: now + s.timeouts.stageMs,
        reason: `staging ${t.version}`,
      }
      return { state, effects: [log(state.reason), { type: 'stage', target: t }] }
    }
    case 'staged': {
      if (s.phase !== 'staged' || t === undefined) return { state: s, effects: [] }
      if (!input.ok)
        return failTarget(s, `could not be staged: ${input.reason ?? 'unknown'}`, 'shadow')
      return startShadow(s, now)
    }
    case 'shadow-result': {
      if (s.phase !== 'shadow' || t === undefined) return { state: s, effects: [] }
      if (input.verdict === 'fail')
        return failTarget(s, `shadow run failed: ${input.reason}`, 'shadow')
      if (input.verdict === 'inconclusive') {
        const attempts = s.attempts + 1
        const state = { ...s, attempts }
        // Inconclusive never promotes: retry later, with a growing delay.
        return rest(
          { ...state, retryAt: now + retryDelay(state) },
          'idle',
          `shadow run of ${t.version} inconclusive (${input.reason}); retry ${attempts} later`,
        )
      }
      const report: RolloutEffect = {
        type: 'report',
        target: t,
        stage: 'shadow',
        verdict: 'pass',
        reason: input.reason,
      }
      return toScheduled(
        { ...s, attempts: 0, shadowPassed: t.digest },
        now,
        `${t.version} passed its shadow run; slot ${(s.slot! * 100).toFixed(2)}% of the window${s.canary ? ' (canary)' : ''}`,
        [report],
      )
    }
    case 'switched': {
      if (s.phase !== 'switching' || t === undefined) return { state: s, effects: [] }
      if (!input.ok)
        return startRollback(
          s,
          now,
          `switch failed: ${input.reason ?? 'unknown'}`,
          'probation',
          s.current,
        )
      const state: RolloutState = {
        ...s,
        phase: 'probation',
        previous: s.current,
        current: t.version,
        deadline: now + t.policy.probationSeconds * 1000,
        reason: `${t.version} on probation for ${t.policy.probationSeconds} s`,
      }
      return { state, effects: [log(state.reason)] }
    }
    case 'health': {
      if (s.phase === 'committed') return onCommittedHealth(s, input, now)
      if (s.phase !== 'probation' || t === undefined) return { state: s, effects: [] }
      if (!input.ok)
        return startRollback(
          s,
          now,
          `probation failed: ${input.reason}`,
          'probation',
          s.previous ?? s.lastGood,
        )
      return { state: s, effects: [] }
    }
    case 'rolled-back': {
      if (s.phase !== 'rolled-back') return { state: s, effects: [] }
      if (!input.ok) {
        return reinstall(
          { ...s, current: s.lastGood },
          now,
          `rollback failed (${input.reason ?? 'unknown'}); reinstalling ${s.lastGood}`,
        )
      }
      return landed(
        {
          ...s,
          phase: 'bad',
          reason: t
            ? `rolled back to ${s.current}; ${t.version} skipped: ${s.bad[t.version] ?? ''}`
            : `rolled back to ${s.current}`,
        },
        now,
      )
    }
    case 'reinstalled': {
      if (s.phase !== 'rolled-back') return { state: s, effects: [] }
      if (!input.ok) {
        return reinstall(
          s,
          now,
          `reinstall of ${s.lastGood} failed (${input.reason ?? 'unknown'}); retrying`,
        )
      }
      return landed(
        { ...s, phase: 'bad', current: s.lastGood, reason: `reinstalled ${s.lastGood}` },
        now,
      )
    }
  }
}

/** Reinstalls the last good version from the release store, with a fresh deadline. */
function reinstall(s: RolloutState, now: number, reason: string): StepResult {
  const state: RolloutState = { ...s, deadline: now + s.timeouts.rollbackMs, reason }
  return { state, effects: [log(reason), { type: 'reinstall', version: s.lastGood, reason }] }
}

/**
 * A rollback or reinstall has landed. If the maintainers revoked the version it landed on while it
 * was under way, leave that one at once (when anything unrevoked is installed); else settle.
 */
function landed(s: RolloutState, now: number): StepResult {
  const away = leaveIfRevoked(s, now)
  return away?.state.phase === 'rolled-back' ? away : settle(away?.state ?? s, now)
}

/** After a switch settles: rest, then take a release that arrived meanwhile. */
export function settle(s: RolloutState, now: number): StepResult {
  const state: RolloutState = { ...s }
  delete state.deadline
  const pending = state.pending
  delete state.pending
  if (pending !== undefined) {
    const r = onManifest(state, pending, now)
    return { state: r.state, effects: [log(s.reason), ...r.effects] }
  }
  return { state, effects: [log(s.reason)] }
}
