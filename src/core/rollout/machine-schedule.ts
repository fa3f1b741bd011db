/**
 * Scheduling a release that passed its shadow run: when this node may switch (its slot, from its
 * first sight for a canary, from the start of its wave otherwise), and the moves from shadow to
 * scheduled and from scheduled to switching. Pure.
 */

import { log } from './machine-transitions.ts'
import type { RolloutEffect, RolloutState, StepResult } from './machine-types.ts'
import { canarySlotTime, waveSlotTime } from './slot.ts'

/**
 * When a scheduled node may switch, or undefined while it may not yet: a canary at its slot from
 * its first sight of the release; a non-canary at its slot from the start of its wave, which
 * needs the canaries' probation evidence (`proceed`). Shadow passes alone never start a wave.
 */
export function switchTime(s: RolloutState): number | undefined {
  const t = s.target!
  const { canaryFraction, windowSeconds } = t.policy
  if (s.canary === true)
    return canarySlotTime(s.slot!, canaryFraction, s.windowStart!, windowSeconds)
  if (s.evidence?.proceed !== true || s.waveStart === undefined) return undefined
  return waveSlotTime(s.slot!, canaryFraction, s.waveStart, windowSeconds)
}

/** The wave starts the first time the evidence lets non-canaries go. */
export function withWave(s: RolloutState, now: number): RolloutState {
  if (s.waveStart !== undefined || s.evidence?.proceed !== true) return s
  const state: RolloutState = { ...s, waveStart: now }
  // A scheduled node's wait now ends at its slot in the wave, and one more window after it.
  if (state.phase === 'scheduled' && state.canary !== true && state.target !== undefined) {
    const p = state.target.policy
    const at = waveSlotTime(state.slot!, p.canaryFraction, now, p.windowSeconds)
    state.deadline = Math.max(state.deadline ?? 0, at + p.windowSeconds * 1000 + 60_000)
  }
  return state
}

export function toScheduled(
  s0: RolloutState,
  now: number,
  reason: string,
  extra: RolloutEffect[],
): StepResult {
  const s = withWave(s0, now)
  const t = s.target!
  const p = t.policy
  // Wait for the slot (a non-canary: for its wave, which needs the canaries' whole probation),
  // then at most one more window; after that, rest and let new evidence (or a newer manifest)
  // pick the release up again.
  const from =
    switchTime(s) ??
    canarySlotTime(1, p.canaryFraction, s.windowStart!, p.windowSeconds) +
      s.timeouts.switchMs +
      p.probationSeconds * 1000
  const state: RolloutState = {
    ...s,
    phase: 'scheduled',
    deadline: Math.max(from, now) + p.windowSeconds * 1000 + 60_000,
    reason,
  }
  const next = trySwitch(state, now)
  return { state: next.state, effects: [...extra, log(reason), ...next.effects] }
}

export function trySwitch(s0: RolloutState, now: number): StepResult {
  if (s0.phase !== 'scheduled') return { state: s0, effects: [] }
  const s = withWave(s0, now)
  const at = switchTime(s)
  if (at === undefined || now < at || s.evidence?.halt === true) return { state: s, effects: [] }
  const t = s.target!
  const state: RolloutState = {
    ...s,
    phase: 'switching',
    deadline: now + s.timeouts.switchMs,
    reason: `switching ${s.current} -> ${t.version}${s.canary ? ' (canary)' : ''}`,
  }
  return { state, effects: [log(state.reason), { type: 'switch', from: s.current, target: t }] }
}
