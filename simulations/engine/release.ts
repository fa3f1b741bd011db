/** The state a run keeps per release, and how it is set up. */
import { sha256 } from '@noble/hashes/sha2.js'
import { toHex, utf8 } from '../../src/core/bytes.ts'
import type { RolloutInput, Target } from '../../src/core/rollout/machine.ts'
import { type ShadowBank, shadowBank } from '../model.ts'
import type { ReleaseSpec, Scenario } from '../scenario.ts'
import { DeltaQueue } from './delta-queue.ts'
import { HOUR } from './events.ts'
import { SHADOW_SKIPPED } from './inputs.ts'
import { THRESHOLDS } from './output.ts'

/** One release of the run: its target, the inputs that carry it, its evidence and its counts. */
export interface Rel {
  v: number
  spec: ReleaseSpec
  target: Target
  manifestInput: RolloutInput
  approveInput: RolloutInput
  publishAt: number
  published: boolean
  bank: ShadowBank | undefined
  cleanInputs: RolloutInput[]
  leakInputs: RolloutInput[]
  crashInput: RolloutInput
  // Evidence: the latest verdict per reporter identity (0 none, 1 pass, 2 fail) and its time.
  verdict: Int8Array
  lastAt: Float64Array
  pass: Float64Array
  fail: Float64Array
  /** Per region: reporters whose latest report is a probation pass / fail. */
  probPass: Float64Array
  probFail: Float64Array
  flags: Int8Array
  regionInput: Array<RolloutInput | undefined>
  dirty: Uint8Array
  fifo: DeltaQueue[]
  drainAt: Float64Array
  everHalted: Uint8Array
  globalPass: number
  globalFail: number
  swarmRequests: number
  swarmFirst: number
  /** The earliest any region's evidence let non-canaries proceed (admission's wave start). */
  waveStart: number
  /** Reports admission left out, by reason. */
  notCounted: Record<string, number>
  /** True once the maintainers revoked it. */
  revoked: boolean
  /** Slots (by identity) that ever switched to this release. */
  switched: Uint8Array
  stats: {
    nodesSwitched: number
    switches: number
    commits: number
    rollbacks: number
    reinstalls: number
    shadowFailures: number
    shadowInconclusive: number
    probationFailures: number
    firstSwitchAt: number
    haltedRegions: number
    firstHaltAt: number
    autoAt: number[]
    allAt: number[]
    maxOn: number
    leakCrashes: number
    /** When it was revoked, how many nodes ran it then, and when the last of them left it. */
    revokedAt: number
    onAtRevoke: number
    clearedAt: number
  }
  /** ms after the revocation at which each node that left the release did. */
  leftAfterRevoke: number[]
}

/**
 * Release `v` of the run (1 for the first after the initial version), with an identity-indexed
 * evidence table of `identityCap` entries and per-region tallies over `R` regions.
 */
export function makeRel(
  s: Scenario,
  seed: number,
  R: number,
  identityCap: number,
  spec: ReleaseSpec,
  v: number,
): Rel {
  const digest = toHex(sha256(utf8(`convoy-sim-release\0${s.name}\0${spec.version}\0${v + 1}`)))
  const target: Target = {
    version: spec.version,
    sequence: v + 1,
    digest,
    minVersion: spec.minVersion,
    policy: spec.policy,
  }
  const bank =
    s.shadow.mode === 'judge'
      ? shadowBank(spec, spec.policy.shadowSeconds, s.shadow.sampleSeconds, seed, v)
      : undefined
  const toInput = (x: {
    verdict: 'pass' | 'fail' | 'inconclusive'
    reason: string
  }): RolloutInput => ({
    type: 'shadow-result',
    verdict: x.verdict,
    reason: x.reason,
  })
  const rel: Rel = {
    v,
    spec,
    target,
    manifestInput: { type: 'manifest', target },
    approveInput: { type: 'approve', version: spec.version },
    publishAt: spec.atHours * HOUR,
    published: false,
    bank,
    cleanInputs: bank ? bank.clean.map(toInput) : [],
    leakInputs: bank ? bank.leak.map(toInput) : [],
    crashInput: bank ? toInput(bank.crash) : SHADOW_SKIPPED,
    verdict: new Int8Array(identityCap),
    lastAt: new Float64Array(identityCap),
    pass: new Float64Array(R),
    fail: new Float64Array(R),
    probPass: new Float64Array(R),
    probFail: new Float64Array(R),
    flags: new Int8Array(R),
    regionInput: new Array(R).fill(undefined),
    dirty: new Uint8Array(R),
    fifo: Array.from({ length: R * R }, () => new DeltaQueue()),
    drainAt: new Float64Array(R).fill(Number.NaN),
    everHalted: new Uint8Array(R),
    globalPass: 0,
    globalFail: 0,
    swarmRequests: 0,
    swarmFirst: Number.NaN,
    waveStart: Number.NaN,
    notCounted: {},
    revoked: false,
    switched: new Uint8Array(identityCap),
    stats: {
      nodesSwitched: 0,
      switches: 0,
      commits: 0,
      rollbacks: 0,
      reinstalls: 0,
      shadowFailures: 0,
      shadowInconclusive: 0,
      probationFailures: 0,
      firstSwitchAt: Number.NaN,
      haltedRegions: 0,
      firstHaltAt: Number.NaN,
      autoAt: THRESHOLDS.map(() => Number.NaN),
      allAt: THRESHOLDS.map(() => Number.NaN),
      maxOn: 0,
      leakCrashes: 0,
      revokedAt: Number.NaN,
      onAtRevoke: 0,
      clearedAt: Number.NaN,
    },
    leftAfterRevoke: [],
  }
  return rel
}
