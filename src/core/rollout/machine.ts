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

import semver from 'semver'
import type { RolloutPolicy } from '../manifest/release.ts'
import type { EvidenceSummary } from './evidence.ts'
import { actsAsCanary, canarySlotTime, rolloutSlot, waveSlotTime } from './slot.ts'

/** Where a node is in a rollout. */
export type Phase =
  | 'idle'
  | 'fetching'
  | 'staged'
  | 'shadow'
  | 'scheduled'
  | 'switching'
  | 'probation'
  | 'committed'
  | 'rolled-back'
  | 'bad'
  | 'halted'

/** Phases in which nothing is in flight: a newer manifest may start at once. */
const RESTING: ReadonlySet<Phase> = new Set(['idle', 'committed', 'bad', 'halted'])

/** The release a rollout is about. */
export interface Target {
  version: string
  sequence: number
  /** Manifest digest: identifies the release in reports and in the slot hash. */
  digest: string
  /** Oldest version that may upgrade straight to this one. */
  minVersion: string
  policy: RolloutPolicy
}

/** Operator settings. */
export interface OperatorSettings {
  /** Start upgrades without an operator. @default true */
  autoUpgrade: boolean
  /** Never go past this version. */
  holdAt?: string
  /** Versions the operator approved (needed when autoUpgrade is false). */
  approved: string[]
}

/** Timeouts for phases whose length the policy does not set, in ms. */
export interface MachineTimeouts {
  fetchMs: number
  stageMs: number
  /** Added to the policy's shadow window before an unanswered shadow counts as inconclusive. */
  shadowGraceMs: number
  switchMs: number
  rollbackMs: number
  /** First retry delay after an inconclusive shadow or a failed fetch; doubles, capped at 1 h. */
  retryMs: number
}

/** Defaults for {@link MachineTimeouts}. */
export const DEFAULT_TIMEOUTS: Readonly<MachineTimeouts> = Object.freeze({
  fetchMs: 30 * 60_000,
  stageMs: 5 * 60_000,
  shadowGraceMs: 2 * 60_000,
  switchMs: 2 * 60_000,
  rollbackMs: 2 * 60_000,
  retryMs: 60_000,
})

/** Everything the machine remembers; persisted by the driver before it carries out effects. */
export interface RolloutState {
  phase: Phase
  /** Peer id: with the digest, it fixes this node's slot. */
  nodeId: string
  /** The version running now (or being returned to). */
  current: string
  /** The version that ran before `current`, kept for rollback. */
  previous?: string
  /** The last version that passed probation: reinstalled if a rollback fails too. */
  lastGood: string
  target?: Target
  /** A newer manifest that arrived while a switch was in flight. */
  pending?: Target
  /** When this node first saw the target: the start of its rollout window (ms). */
  windowStart?: number
  /**
   * When this node first held evidence that lets non-canaries go (the canaries' probation
   * passes): the start of its wave. A non-canary's slot counts from here (ms).
   */
  waveStart?: number
  slot?: number
  canary?: boolean
  /** The phase's deadline, ms since the epoch. */
  deadline?: number
  /** When to retry (after an inconclusive shadow or a failed fetch). */
  retryAt?: number
  attempts: number
  /** Versions skipped until a newer manifest: version -> reason. */
  bad: Record<string, string>
  /** The last evidence summary for the target. */
  evidence?: EvidenceSummary
  /** Digest of the target once its shadow run passed (so late evidence can schedule it). */
  shadowPassed?: string
  /** Restarts of the supervisor during the current target's probation; the second is a failure. */
  probationRestarts?: number
  settings: OperatorSettings
  timeouts: MachineTimeouts
  /** Why the machine is where it is, for status. */
  reason: string
  /**
   * The last verdict this node reported, kept so that `resume` can report it again: a driver
   * killed after persisting a state but before carrying out its effects would otherwise never
   * tell the network (and a lone node would wait for its own evidence forever).
   */
  lastReport?: {
    digest: string
    stage: 'shadow' | 'probation'
    verdict: 'pass' | 'fail'
    reason: string
  }
}

/** What happens to the machine. */
export type RolloutInput =
  /**
   * A verified manifest. `peers`: the peer ids of the nodes this one knows, for the canary rule
   * (`actsAsCanary`); a driver that leaves it out lets the canary fraction alone decide.
   */
  | { type: 'manifest'; target: Target; peers?: readonly string[] }
  | { type: 'fetched'; ok: boolean; reason?: string }
  | { type: 'staged'; ok: boolean; reason?: string }
  | { type: 'shadow-result'; verdict: 'pass' | 'fail' | 'inconclusive'; reason: string }
  | { type: 'evidence'; digest: string; summary: EvidenceSummary }
  | { type: 'switched'; ok: boolean; reason?: string }
  | { type: 'health'; ok: boolean; reason: string }
  | { type: 'rolled-back'; ok: boolean; reason?: string }
  | { type: 'reinstalled'; ok: boolean; reason?: string }
  | { type: 'settings'; settings: Partial<OperatorSettings> }
  | { type: 'approve'; version: string }
  /** The driver restarted: re-issue whatever the current phase was doing. */
  | { type: 'resume' }
  | { type: 'tick' }

/** What the driver must do. */
export type RolloutEffect =
  | { type: 'fetch'; target: Target }
  | { type: 'stage'; target: Target }
  | { type: 'start-shadow'; target: Target; durationMs: number }
  | { type: 'stop-shadow'; target: Target }
  | {
      type: 'report'
      target: Target
      stage: 'shadow' | 'probation'
      verdict: 'pass' | 'fail'
      reason: string
    }
  | { type: 'switch'; from: string; target: Target }
  | { type: 'commit'; version: string; previous: string }
  | { type: 'rollback'; from: string; to: string; reason: string }
  | { type: 'reinstall'; version: string; reason: string }
  | { type: 'log'; message: string }

/** The result of one step. */
export interface StepResult {
  state: RolloutState
  effects: RolloutEffect[]
}

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

/** Orders two versions by semver precedence (1.0.0-rc.9 before 1.0.0-rc.10). */
export function compareVersions(a: string, b: string): number {
  return semver.compare(a, b)
}

function log(message: string): RolloutEffect {
  return { type: 'log', message }
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

function startFetch(
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
function rest(
  s: RolloutState,
  phase: Phase,
  reason: string,
  extra: RolloutEffect[] = [],
): StepResult {
  const state: RolloutState = { ...s, phase, reason }
  delete state.deadline
  return { state, effects: [...extra, log(reason)] }
}

function failTarget(
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

function startRollback(
  s: RolloutState,
  now: number,
  reason: string,
  stage: 'shadow' | 'probation' | 'local',
  to: string,
): StepResult {
  const t = s.target!
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

function retryDelay(s: RolloutState): number {
  return Math.min(s.timeouts.retryMs * 2 ** Math.max(0, s.attempts - 1), 3_600_000)
}

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
function withWave(s: RolloutState, now: number): RolloutState {
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

function toScheduled(
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

function trySwitch(s0: RolloutState, now: number): StepResult {
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
      return { state, effects: [log(`approved ${input.version}`)] }
    }
    case 'manifest':
      return onManifest(s, input.target, now, input.peers)
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

function onManifest(
  s: RolloutState,
  t: Target,
  now: number,
  peers?: readonly string[],
): StepResult {
  if (s.target?.digest === t.digest && !RESTING.has(s.phase)) return { state: s, effects: [] }
  if (
    s.target?.digest === t.digest &&
    (s.phase === 'bad' || s.phase === 'halted' || s.phase === 'committed')
  ) {
    return { state: s, effects: [] }
  }
  if (s.target !== undefined && s.target.sequence > t.sequence) return { state: s, effects: [] }
  const why = refusal(s, t)
  if (why !== undefined) {
    const state = { ...s, reason: why, ...(s.settings.autoUpgrade ? {} : { target: t }) }
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

function onEvidence(
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
        // A canary that already moved goes back: the network judged the release bad.
        if (s.current === s.target.version && s.previous !== undefined) {
          return startRollback(state, now, input.summary.reason, 'probation', s.previous)
        }
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

function onResult(
  s: RolloutState,
  input: Exclude<
    RolloutInput,
    { type: 'manifest' | 'evidence' | 'resume' | 'tick' | 'settings' | 'approve' }
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
      return settle(
        {
          ...s,
          phase: 'bad',
          reason: `rolled back to ${s.current}; ${t?.version} skipped: ${t ? s.bad[t.version] : ''}`,
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
      return settle(
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

/** After a switch settles: rest, then take a release that arrived meanwhile. */
function settle(s: RolloutState, now: number): StepResult {
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

function startShadow(s: RolloutState, now: number): StepResult {
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

function onResume(s: RolloutState, now: number): StepResult {
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

function onTick(s: RolloutState, now: number): StepResult {
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
