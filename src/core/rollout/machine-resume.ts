/**
 * The machine's clock and restarts: `resume` re-issues what the current phase was doing after
 * the driver restarted, `tick` retries, lets a scheduled node switch at its slot, and forces a
 * transition past every deadline. Pure.
 */

import { onManifest } from './machine-manifest.ts'
import { onResult, settle } from './machine-results.ts'
import { trySwitch } from './machine-schedule.ts'
import { log, rest, startFetch, startRollback, startShadow } from './machine-transitions.ts'
import { RESTING, type RolloutEffect, type RolloutState, type StepResult } from './machine-types.ts'

export function onResume(s: RolloutState, now: number): StepResult {
  const r = resumePhase(s, now)
  const last = s.lastReport
  // Say again what this node last told the network: it may never have gone out.
  if (last === undefined || s.target?.digest !== last.digest) return r
  if (r.effects.some((e) => e.type === 'report')) return r
  return {
    state: r.state,
    effects: [
      {
        type: 'report',
        target: s.target,
        stage: last.stage,
        verdict: last.verdict,
        reason: last.reason,
      },
      ...r.effects,
    ],
  }
}

function resumePhase(s: RolloutState, now: number): StepResult {
  const t = s.target
  switch (s.phase) {
    case 'fetching':
      return {
        state: { ...s, deadline: now + s.timeouts.fetchMs },
        effects: [log('resuming fetch'), { type: 'fetch', target: t! }],
      }
    case 'staged':
      return {
        state: { ...s, deadline: now + s.timeouts.stageMs },
        effects: [log('resuming stage'), { type: 'stage', target: t! }],
      }
    case 'shadow':
      return startShadow(s, now)
    case 'switching':
      // The switch is idempotent in the driver: it re-checks where the `current` pointer is.
      return {
        state: { ...s, deadline: now + s.timeouts.switchMs },
        effects: [log('resuming switch'), { type: 'switch', from: s.current, target: t! }],
      }
    case 'rolled-back':
      return {
        state: { ...s, deadline: now + s.timeouts.rollbackMs },
        effects: [
          log('resuming rollback'),
          { type: 'rollback', from: t?.version ?? s.current, to: s.current, reason: s.reason },
        ],
      }
    case 'probation': {
      // The supervisor died during probation: a reboot, an OOM kill of the host, a power cut. That
      // says nothing against the new version yet, and under churn counting it as a failure stalls
      // good releases. Redo the switch once (the driver restores the switch's backup first) and
      // start probation afresh.
      // Twice: this machine cannot hold the new version up, so it goes back, but it tells the
      // network nothing (a host that keeps rebooting is no evidence against the release).
      if ((s.probationRestarts ?? 0) >= 1 || s.previous === undefined) {
        return startRollback(
          s,
          now,
          'the supervisor restarted twice during probation',
          'local',
          s.previous ?? s.lastGood,
        )
      }
      const state: RolloutState = {
        ...s,
        phase: 'switching',
        current: s.previous,
        probationRestarts: (s.probationRestarts ?? 0) + 1,
        deadline: now + s.timeouts.switchMs,
        reason: `the supervisor restarted during probation: switching ${s.previous} -> ${t!.version} again`,
      }
      return {
        state,
        effects: [log(state.reason), { type: 'switch', from: s.previous, target: t! }],
      }
    }
    default:
      return onTick(s, now)
  }
}

export function onTick(s: RolloutState, now: number): StepResult {
  // A release queued while another was in flight, once that one came to rest by a way other
  // than a switch settling (a failed shadow run, a halt): take it up now.
  if (RESTING.has(s.phase) && s.pending !== undefined) {
    const state = { ...s }
    delete state.pending
    return onManifest(state, s.pending, now)
  }
  if (s.phase === 'idle' && s.target !== undefined && s.retryAt !== undefined && now >= s.retryAt) {
    return startFetch(s, s.target, now, `retrying ${s.target.version} (attempt ${s.attempts + 1})`)
  }
  if (s.phase === 'scheduled') {
    const r = trySwitch(s, now)
    if (r.state !== s) return r
  }
  if (s.deadline === undefined || now < s.deadline) return { state: s, effects: [] }
  const t = s.target
  switch (s.phase) {
    case 'fetching':
      return onResult(s, { type: 'fetched', ok: false, reason: 'timed out' }, now)
    case 'staged':
      return onResult(s, { type: 'staged', ok: false, reason: 'timed out' }, now)
    case 'shadow': {
      const r = onResult(
        s,
        {
          type: 'shadow-result',
          verdict: 'inconclusive',
          reason: 'no verdict before the deadline',
        },
        now,
      )
      return { state: r.state, effects: [{ type: 'stop-shadow', target: t! }, ...r.effects] }
    }
    case 'scheduled':
      return rest(
        s,
        'idle',
        `no evidence for ${t!.version} by the end of the window: ${s.evidence?.reason ?? 'no reports'}`,
      )
    case 'switching':
      return onResult(s, { type: 'switched', ok: false, reason: 'timed out' }, now)
    case 'probation': {
      // Healthy to the end: commit.
      const state: RolloutState = {
        ...s,
        phase: 'committed',
        lastGood: s.current,
        committedAt: now,
        reason: `committed ${s.current}`,
      }
      const effects: RolloutEffect[] = [
        { type: 'commit', version: s.current, previous: s.previous ?? s.lastGood },
        {
          type: 'report',
          target: t!,
          stage: 'probation',
          verdict: 'pass',
          reason: 'healthy through probation',
        },
      ]
      const r = settle(state, now)
      return { state: r.state, effects: [...effects, ...r.effects] }
    }
    case 'rolled-back':
      return onResult(s, { type: 'rolled-back', ok: false, reason: 'timed out' }, now)
    default:
      return { state: s, effects: [] }
  }
}
