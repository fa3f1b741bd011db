/**
 * The rollout state machine's vocabulary: its phases, the release it is about, the operator's
 * settings and timeouts, the state it persists, and the inputs and effects of a `step`
 * (machine.ts). Types and constants only.
 */

import type { RolloutPolicy } from '../manifest/release.ts'
import type { EvidenceSummary } from './evidence.ts'

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
export const RESTING: ReadonlySet<Phase> = new Set(['idle', 'committed', 'bad', 'halted'])

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
  /** When this node committed the target (the start of its watch after commit), ms. */
  committedAt?: number
  /** The node's own exits since then, within the crash-loop span, ms. */
  liveExits?: number[]
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
  /**
   * The maintainers revoked `version` (a verified revocation): skip it for good, and leave it if
   * it runs here. `reason` is the revocation's.
   */
  | { type: 'revoked'; version: string; reason: string }
  /**
   * The node exited on its own (a crash) while committed: within the watch after commit, a
   * crash loop is a late failure (machine-watch.ts).
   */
  | { type: 'exited'; reason: string }
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
