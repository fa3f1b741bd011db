/**
 * The upgrade state machine, shared by the supervisor and the simulator:
 *
 *   idle -> fetching -> staged -> shadow -> scheduled -> switching -> probation -> committed
 *
 * with failure edges to rolled-back and bad (the version is skipped until a newer manifest), and
 * halted (the network's evidence stopped the release). `step(state, input, now)` is pure: time
 * comes in as `now` (ms), randomness as the slot hash, and everything to do goes out as effects
 * that a driver carries out and answers with inputs. Every non-resting phase has a deadline; a
 * `tick` past it forces a transition, so no wait is forever.
 */

import { onEvidence, onManifest } from './machine-manifest.ts'
import { onResult } from './machine-results.ts'
import { onResume, onTick } from './machine-resume.ts'
import { onRevoked } from './machine-revoke.ts'
import { log } from './machine-transitions.ts'
import {
  DEFAULT_TIMEOUTS,
  type MachineTimeouts,
  type OperatorSettings,
  RESTING,
  type RolloutEffect,
  type RolloutInput,
  type RolloutState,
  type StepResult,
} from './machine-types.ts'
import { onExited } from './machine-watch.ts'

export { compareVersions } from './machine-manifest.ts'
export { isRevoked, revokedReason } from './machine-revoke.ts'
export { switchTime } from './machine-schedule.ts'
export type {
  MachineTimeouts,
  OperatorSettings,
  Phase,
  RolloutEffect,
  RolloutInput,
  RolloutState,
  StepResult,
  Target,
} from './machine-types.ts'
export { DEFAULT_TIMEOUTS } from './machine-types.ts'
export { CRASH_LOOP_EXITS, CRASH_LOOP_MS, inWatch, watchSeconds } from './machine-watch.ts'

/** A fresh machine for a node running `version`. */
export function initialRollout(
  nodeId: string,
  version: string,
  settings: Partial<OperatorSettings> = {},
  timeouts: Partial<MachineTimeouts> = {},
): RolloutState {
  return {
    phase: 'idle',
    nodeId,
    current: version,
    lastGood: version,
    attempts: 0,
    bad: {},
    settings: { autoUpgrade: true, approved: [], ...settings },
    timeouts: { ...DEFAULT_TIMEOUTS, ...timeouts },
    reason: `running ${version}`,
  }
}

/** One step of the machine. Pure. */
export function step(s: RolloutState, input: RolloutInput, now: number): StepResult {
  const r = stepInner(s, input, now)
  let report: Extract<RolloutEffect, { type: 'report' }> | undefined
  for (const e of r.effects) if (e.type === 'report') report = e
  if (report === undefined) return r
  const lastReport = {
    digest: report.target.digest,
    stage: report.stage,
    verdict: report.verdict,
    reason: report.reason,
  }
  return { state: { ...r.state, lastReport }, effects: r.effects }
}

function stepInner(s: RolloutState, input: RolloutInput, now: number): StepResult {
  switch (input.type) {
    case 'settings': {
      const state = { ...s, settings: { ...s.settings, ...input.settings } }
      return { state, effects: [log(`settings: ${JSON.stringify(input.settings)}`)] }
    }
    case 'approve': {
      const state = {
        ...s,
        settings: {
          ...s.settings,
          approved: [...new Set([...s.settings.approved, input.version])],
        },
      }
      if (
        RESTING.has(s.phase) &&
        s.target?.version === input.version &&
        s.phase !== 'bad' &&
        s.phase !== 'halted'
      ) {
        return onManifest(state, s.target, now)
      }
      // A release queued while another was in flight, now at rest: take it up.
      if (RESTING.has(s.phase) && s.pending?.version === input.version) {
        const pending = s.pending
        const rest = { ...state }
        delete rest.pending
        return onManifest(rest, pending, now)
      }
      return { state, effects: [log(`approved ${input.version}`)] }
    }
    case 'manifest':
      return onManifest(s, input.target, now, input.peers)
    case 'revoked':
      return onRevoked(s, input, now)
    case 'exited':
      return onExited(s, input, now)
    case 'evidence':
      return onEvidence(s, input, now)
    case 'resume':
      return onResume(s, now)
    case 'tick':
      return onTick(s, now)
    default:
      return onResult(s, input, now)
  }
}
