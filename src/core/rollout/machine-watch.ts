/**
 * The watch after commit: for `watchSeconds` after a node commits a release (the policy's, or
 * {@link DEFAULT_WATCH_SECONDS}), a crash loop ({@link CRASH_LOOP_EXITS} exits within
 * {@link CRASH_LOOP_MS}) or a node that stops answering is a late failure: the node rolls back
 * to the release before, marks the version bad, and reports a probation failure, which the
 * evidence counts as it counts any other (so a release that breaks a minute after commit halts
 * everywhere, instead of being restarted for ever). After the watch, an exit is only restarted.
 * Pure.
 */

import type { RolloutPolicy } from '../manifest/release.ts'
import { startRollback } from './machine-transitions.ts'
import type { RolloutState, StepResult } from './machine-types.ts'

/** How long a committed release is watched when its policy names no `watchSeconds`. */
export const DEFAULT_WATCH_SECONDS = 600
/** Exits that make a crash loop... */
export const CRASH_LOOP_EXITS = 3
/** ...within this long, ms. */
export const CRASH_LOOP_MS: number = 10 * 60_000

/** The policy's watch after commit, seconds. */
export function watchSeconds(policy: RolloutPolicy): number {
  return policy.watchSeconds ?? DEFAULT_WATCH_SECONDS
}

/** True while the node runs a release it committed less than its watch ago. */
export function inWatch(s: RolloutState, now: number): boolean {
  const t = s.target
  return (
    s.phase === 'committed' &&
    t !== undefined &&
    s.current === t.version &&
    s.committedAt !== undefined &&
    now - s.committedAt <= watchSeconds(t.policy) * 1000
  )
}

/** The node exited on its own: within the watch, a third exit in 10 minutes is a late failure. */
export function onExited(s: RolloutState, input: { reason: string }, now: number): StepResult {
  if (!inWatch(s, now)) return { state: s, effects: [] }
  const exits = [...(s.liveExits ?? []), now].filter((t) => now - t <= CRASH_LOOP_MS)
  if (exits.length >= CRASH_LOOP_EXITS)
    return lateFailure(
      s,
      now,
      `${exits.length} exits within ${Math.round((now - exits[0]!) / 1000)} s, ${Math.round((now - s.committedAt!) / 1000)} s after its commit (last: ${input.reason})`,
    )
  return { state: { ...s, liveExits: exits }, effects: [] }
}

/** Health after commit: within the watch, a node that stopped answering is a late failure. */
export function onCommittedHealth(
  s: RolloutState,
  input: { ok: boolean; reason: string },
  now: number,
): StepResult {
  if (input.ok || !inWatch(s, now)) return { state: s, effects: [] }
  return lateFailure(s, now, input.reason)
}

function lateFailure(s: RolloutState, now: number, reason: string): StepResult {
  // Reported as a probation failure: the evidence counts it as one, and every older node reads it.
  const r = startRollback(
    s,
    now,
    `late failure after commit: ${reason}`,
    'probation',
    s.previous ?? s.lastGood,
  )
  const state = { ...r.state }
  delete state.liveExits
  delete state.committedAt
  return { state, effects: r.effects }
}
