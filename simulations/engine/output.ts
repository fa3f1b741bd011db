/**
 * What a run writes out: the phases and columns of timeseries.csv (the real testnet writes the
 * same columns), and the shape of summary.json.
 */
import type { Phase } from '../../src/core/rollout/machine.ts'
import type { Rank } from '../../src/core/version/rank.ts'
import type { ReleaseSpec, Scenario } from '../scenario.ts'

/** Phases in a fixed order, for counters and columns. */
export const PHASES: readonly Phase[] = [
  'idle',
  'fetching',
  'staged',
  'shadow',
  'scheduled',
  'switching',
  'probation',
  'committed',
  'rolled-back',
  'bad',
  'halted',
]
export const PHASE_INDEX: Map<Phase, number> = new Map(PHASES.map((p, i) => [p, i]))

/** The columns of timeseries.csv, for a run over `versions` (the real testnet writes them too). */
export function timeseriesColumns(versions: readonly string[]): string[] {
  return [
    't_hours',
    'online',
    ...versions.map((v) => `v${v}`),
    ...PHASES.map((p) => p.replace('-', '_')),
    'deranked',
    'stranded',
    'on_bad_release',
    'rollbacks',
    'reinstalls',
    'reports_pass',
    'reports_fail',
    'eclipse_suspected',
    'false_freeze_suspected',
    'leak_crashes',
  ]
}
export const BAD_PHASE: number = PHASE_INDEX.get('bad')!
export const HALTED_PHASE: number = PHASE_INDEX.get('halted')!

/** Shares of auto-upgrading nodes whose arrival times the summary reports. */
export const THRESHOLDS: readonly number[] = [0.5, 0.9, 0.99]

/** Lines of events.jsonl kept at most; the rest are counted, and the log says so. */
export const MAX_LOG_LINES = 1_000_000

/** What the summary says about one release. */
export interface ReleaseOutcome {
  version: string
  sequence: number
  quality: ReleaseSpec['quality']
  digest: string
  publishedAtHours: number
  /** Hours from publication until that share of online auto-upgrading nodes ran exactly it; null if never. */
  autoUpgradeHours: Record<string, number | null>
  /** The same over all online nodes. */
  allNodesHours: Record<string, number | null>
  /** Share of online nodes on it (or newer) at the end. */
  finalShare: number
  /** Most nodes (online or not) that ran it at once. */
  mostNodesOn: number
  firstSwitchAtHours: number | null
  /** Distinct nodes that ever switched to it: how far it reached. */
  nodesSwitched: number
  switches: number
  commits: number
  rollbacks: number
  reinstalls: number
  shadowFailures: number
  shadowInconclusive: number
  probationFailures: number
  reporters: { passing: number; failing: number }
  /**
   * Reports reporter admission left out, by reason (src/core/rollout/admission.ts); absent from
   * the testnet, whose nodes count for themselves.
   */
  notCounted?: Record<string, number>
  /** Regions whose evidence ever halted it, and when the first did. */
  haltedRegions: number
  firstHaltAtHours: number | null
  /** Nodes whose machine ended halted on it, or marking it bad. */
  nodesHalted: number
  nodesMarkedBad: number
  leakCrashesAfterCommit: number
  /**
   * Present when the scenario revokes the release: when (hours after publication), how many
   * nodes ran it then, and hours from the revocation until no node ran it (null: some still do).
   */
  revocation?: {
    atHours: number
    nodesOn: number
    clearedAfterHours: number | null
    /** Nodes that left it after the revocation, and hours until half, 99% and all of them had. */
    nodesLeft: number
    leftAfterHours: { '50%': number | null; '99%': number | null; '100%': number | null }
    /**
     * Nodes still on it at the end: first installed on it, they have no older release to go
     * back to (docs/rollout.md, "Revocation").
     */
    stranded: number
  }
}

/** summary.json. */
export interface SimSummary {
  scenario: string
  description: string
  seed: number
  policyName: string
  policy: Scenario['policy']
  nodes: number
  durationHours: number
  releases: ReleaseOutcome[]
  /** Most nodes running a release whose quality is not good at one time. */
  mostNodesOnBadRelease: { nodes: number; share: number; atHours: number | null }
  /** The widest reach of a bad release: distinct nodes that ever switched to it. */
  badReleaseReach: { version: string | null; nodes: number; share: number }
  rollbacks: number
  reinstalls: number
  versionSkew: {
    /** Online nodes more than one signed release behind (rankPeer: deranked). */
    derankedMax: number
    derankedMaxAtHours: number | null
    derankedFinal: number
    /** Online nodes older than the latest release's minVersion: cannot upgrade straight. */
    strandedFinal: number
  }
  eclipse: {
    /** Nodes eclipsed (a replaced node's successor draws afresh). */
    eclipsed: number
    /** Eclipsed nodes an honest hello ever reached. */
    contacted: number
    /** Eclipsed nodes that suspected a freeze or eclipse (the node's rule, core/net/freeze.ts). */
    suspected: number
    /** Eclipsed nodes that fetched a manifest from an honest peer at least once, and how often. */
    escapedNodes: number
    escapes: number
    /** Eclipsed nodes that neither suspected nor escaped. */
    unnoticed: number
    /** Eclipsed nodes not on the newest release at the end. */
    behindAtEnd: number
    medianHoursToSuspicion: number | null
  }
  versionLiars: {
    count: number
    /** How honest nodes rank the liars at the end (rankPeer). */
    ranks: Record<Rank, number>
    /** Honest nodes whose freeze suspicion a liar's higher sequence claim set off. */
    falseFreezeSuspicions: number
  }
  falseReports: number
  churn: { leaves: number; joins: number; departures: number }
  calibration: Array<{
    label: string
    release: string
    afterDays: number
    /** The published figure, or null for a plain measurement. */
    expected: number | null
    measured: number
    tolerance: number | null
    ok: boolean | null
  }>
  log: { mode: string; lines: number; dropped: number; loggedNodes: number }
  engine: { events: number; machineSteps: number }
}

/** Everything a run produces, before it is written out. */
export interface SimResult {
  summary: SimSummary
  /** CSV header and rows of timeseries.csv. */
  columns: string[]
  rows: number[][]
  /** Lines of events.jsonl, without newlines. */
  events: string[]
}
