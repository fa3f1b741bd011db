/** The types of a checked scenario, every default filled in (see docs/simulations.md). */
import type { RolloutPolicy } from '../../src/core/manifest/release.ts'
import type { MachineTimeouts } from '../../src/core/rollout/machine.ts'

/** A duration distribution, in hours. */
export type Distribution =
  /** Heavy-tailed: P(X > x) = (minHours / x)^shape for x >= minHours; shape > 1 (finite mean). */
  | { distribution: 'pareto'; minHours: number; shape: number }
  /** Heavy-tailed: exp(N(ln medianHours, sigma^2)). */
  | { distribution: 'lognormal'; medianHours: number; sigma: number }
  | { distribution: 'exponential'; meanHours: number }

/** One lognormal component of the manual operators' delay mixture. */
export interface DelayComponent {
  /** Share of manual operators in this component; weights are normalised. */
  weight: number
  medianHours: number
  sigma: number
}

/** How good a release is, and how its faults show. */
export type Quality = 'good' | 'crash-in-shadow' | 'fails-in-probation' | 'slow-leak'

/** A release published during the run. */
export interface ReleaseSpec {
  version: string
  /** When maintainers publish it, hours after the start. */
  atHours: number
  quality: Quality
  /** Share of nodes the fault hits (crash-in-shadow, fails-in-probation, slow-leak). @default 1 */
  probability: number
  /** slow-leak: memory growth, MiB per hour. @default 50 */
  leakMiBPerHour: number
  /** slow-leak: extra memory at which the process is killed, MiB. @default 1024 */
  memoryLimitMiB: number
  /** Oldest version that may upgrade straight to it. @default the initial version */
  minVersion: string
  /** The release's signed rollout policy: the scenario's policy with these fields replaced. */
  policy: RolloutPolicy
  /**
   * When the maintainers revoke it (a t-of-n signed revocation, pushed to every peer at once),
   * hours after the start; undefined: never.
   */
  revokeAtHours: number | undefined
}

/** Ways a version liar lies; see docs/simulations.md. */
export type LiarClaim = 'newer-unsigned' | 'older-unsigned' | 'oldest-signed' | 'extra-capabilities'

/** A checked scenario with every default filled in. */
export interface Scenario {
  name: string
  description: string
  nodes: number
  durationHours: number
  sampleMinutes: number
  initialVersion: string
  regions: { names: string[]; share: number[]; latencyMs: number[][]; bandwidthMbps: number[] }
  artifactMB: number
  network: {
    lookupIntervalSeconds: number
    lookupHops: number
    pushFanout: number
    gossipHops: number
    heartbeatMs: number
    maxUploads: number
    seedCopies: number
  }
  churn:
    | {
        session: Distribution
        downtime: Distribution
        departure: number
      }
    | undefined
  operators: { auto: number; manual: number; never: number; manualDelay: DelayComponent[] }
  policy: RolloutPolicy
  timeouts: MachineTimeouts
  durations: {
    stageSeconds: number
    switchSeconds: number
    rollbackSeconds: number
    reinstallSeconds: number
  }
  failures: { fetch: number; switch: number; rollback: number }
  shadow: { mode: 'judge' | 'skip'; sampleSeconds: number }
  releases: ReleaseSpec[]
  adversaries: {
    falseReporters: {
      count: number
      delayMinutes: number
      versions: string[] | undefined
      /**
       * True: the identities were known to every node before the release (introduced earlier,
       * the Sybil bound admission leaves); false: made after it, so admission counts none.
       */
      established: boolean
      /** What they claim. */
      verdict: 'pass' | 'fail'
      stage: 'shadow' | 'probation'
    }
    eclipse: { fraction: number; honestContactsPerDay: number; directFetchSuccess: number }
    versionLiars: {
      count: number
      claims: LiarClaim[]
      contactsPerDay: number
      sequenceAhead: boolean
    }
  }
  /** Measurement points; with `share`, also a check that the run reproduces a published figure. */
  calibration: Array<{
    label: string
    release: string
    afterDays: number
    share: number | undefined
    tolerance: number
  }>
  log: { mode: 'full' | 'sample' | 'network'; sampleNodes: number }
}
