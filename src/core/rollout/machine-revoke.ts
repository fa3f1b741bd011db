/**
 * The machine's answer to a revocation: the maintainers' t-of-n word that a version must not run.
 * Unlike a halt (network evidence, which stops the spread and rolls back only nodes still on
 * probation), a revocation also takes a committed node back to the release before, and marks the
 * version bad for good. Pure.
 */

import { forNewTarget } from './machine-manifest.ts'
import { isRevoked, log, rest, revokedReason } from './machine-transitions.ts'
import { RESTING, type RolloutEffect, type RolloutState, type StepResult } from './machine-types.ts'

export { isRevoked, revokedReason }

export function onRevoked(
  s: RolloutState,
  input: { version: string; reason: string },
  now: number,
): StepResult {
  const v = input.version
  const why = revokedReason(input.reason)
  const t = s.target
  const runsIt = s.current === v
  const chasesIt = t?.version === v && !RESTING.has(s.phase)
  if (isRevoked(s, v) && !runsIt && !chasesIt && s.pending?.version !== v)
    return { state: s, effects: [] }
  const state: RolloutState = { ...s, bad: { ...s.bad, [v]: why } }
  if (state.pending?.version === v) delete state.pending
  if (t?.version === v) {
    switch (s.phase) {
      case 'idle':
        // Waiting to retry, or for an approval: neither may bring it back.
        if (s.current !== v) {
          const r = rest(state, 'bad', `${v} ${why}`)
          delete r.state.retryAt
          return r
        }
        break
      case 'fetching':
      case 'staged':
      case 'scheduled':
        return rest(state, 'bad', `${v} ${why}`)
      case 'shadow':
        return rest(state, 'bad', `${v} ${why}`, [{ type: 'stop-shadow', target: t }])
      case 'switching':
        // The pointer may or may not have moved: go back to what ran before the switch.
        return revokeRollback(state, now, v, s.current, why)
      case 'probation':
        return revokeRollback(state, now, v, s.previous ?? s.lastGood, why)
      case 'rolled-back':
        // Already on its way back.
        return { state, effects: [log(`${v} ${why}`)] }
      default:
        break
    }
  }
  // Running it, with nothing in flight that replaces it (a switch to another release does, and
  // probation means the switch is done): leave it now; another target waits until this settles.
  if (runsIt && s.phase !== 'switching' && s.phase !== 'probation' && s.phase !== 'rolled-back') {
    const to = returnTo(state, v)
    if (to === undefined) {
      const reason = stuck(v, why)
      return { state: { ...state, reason }, effects: [log(reason)] }
    }
    const extra: RolloutEffect[] =
      s.phase === 'shadow' && t !== undefined ? [{ type: 'stop-shadow', target: t }] : []
    const r = revokeRollback(state, now, v, to, why)
    return { state: r.state, effects: [...extra, ...r.effects] }
  }
  return { state, effects: [log(`${v} ${why}`)] }
}

/**
 * For a node that has just come to rest on `s.current`: if that version was revoked meanwhile, the
 * rollback away from it when an unrevoked release is installed, else the resting state saying
 * why it stays; undefined when the version is not revoked.
 */
export function leaveIfRevoked(s: RolloutState, now: number): StepResult | undefined {
  const v = s.current
  if (!isRevoked(s, v)) return undefined
  const to = returnTo(s, v)
  if (to === undefined)
    return { state: { ...s, reason: `${s.reason}; ${stuck(v, s.bad[v]!)}` }, effects: [] }
  const r = revokeRollback(s, now, v, to, s.bad[v]!)
  return { state: r.state, effects: [log(s.reason), ...r.effects] }
}

function stuck(v: string, why: string): string {
  return `${v} ${why}; it runs here and no earlier release is installed to go back to`
}

/** The release a node leaves `version` for: the one before it, else the last good, never a bad one. */
export function returnTo(s: RolloutState, version: string): string | undefined {
  return [s.previous, s.lastGood].find((x) => x !== undefined && x !== version && !s.bad[x])
}

/**
 * Rolls back from the revoked `version` to `to`. A target that is some other release (one awaiting
 * approval, say) is queued to be taken up again once the rollback settles.
 */
function revokeRollback(
  s: RolloutState,
  now: number,
  version: string,
  to: string,
  why: string,
): StepResult {
  let state: RolloutState = s
  if (s.target !== undefined && s.target.version !== version) {
    const other = s.target
    state = forNewTarget({ ...s })
    delete state.target
    if (state.pending === undefined && state.bad[other.version] === undefined) state.pending = other
  }
  state = {
    ...state,
    phase: 'rolled-back',
    current: to,
    lastGood: s.lastGood === version ? to : s.lastGood,
    deadline: now + s.timeouts.rollbackMs,
    reason: `rolling back ${version} -> ${to}: ${why}`,
  }
  delete state.shadowPassed
  return {
    state,
    effects: [{ type: 'rollback', from: version, to, reason: why }, log(state.reason)],
  }
}
