/**
 * Evidence about a release: signed shadow and probation verdicts from distinct peers. The
 * adapter checks each report's signature and feeds the reporter id in; the core only counts.
 * One reporter counts once: its latest report wins, so a node cannot stuff the ballot.
 */
import { probationPassesNeeded, type RolloutPolicy } from '../manifest/release.ts'

/** One peer's verdict on a release. */
export interface Report {
  /** Peer id of the reporter (its signature was checked by the adapter). */
  reporter: string
  /** Digest of the release manifest the report is about. */
  release: string
  stage: 'shadow' | 'probation'
  verdict: 'pass' | 'fail'
  /** Reporter's time, ms since the epoch; orders a reporter's own reports. */
  at: number
  /** One line: why (for status). */
  reason?: string
}

/** What the evidence says, per the release's policy. */
export interface EvidenceSummary {
  /** Distinct reporters whose latest report passes the release (shadow or probation). */
  passing: number
  failing: number
  /** failing / (passing + failing); 0 with no reports. */
  failShare: number
  /** The reporters whose latest report is a probation result: nodes that ran the release live. */
  probationPassing: number
  probationFailing: number
  /** probationFailing / (probationPassing + probationFailing); 0 with none. */
  probationFailShare: number
  /**
   * Non-canaries may switch: at least `minProbationPasses` probation passes (nodes that ran the
   * release live through probation), enough distinct passing reporters, failure shares within the
   * limit. Shadow passes alone never make it true.
   */
  proceed: boolean
  /** Every node must stop upgrading to this release, and canaries roll back. */
  halt: boolean
  /** One line for status. */
  reason: string
}

/** Counts of distinct reporters, each by its latest report: what {@link summarizeCounts} reads. */
export interface EvidenceCounts {
  passing: number
  failing: number
  /** Of those, the ones whose latest report is a probation result. @default 0 */
  probationPassing?: number
  probationFailing?: number
  /**
   * Reporters the counting node knew before it saw the release (admission's electorate). The
   * failure share over all reports is taken over at least this many, so established liars weigh
   * their share of the network, not of the few reports that exist in the first minutes. @default 0
   */
  electorate?: number
}

/**
 * Whether `next` replaces `prior`, two reports of one reporter on one release: the later date
 * wins; at one date a failure wins. Between two of one date and one verdict, a caller that holds
 * the signed bodies passes `bodyOrder` (their byte order, next against prior: negative when
 * next's is smaller) and the smaller body wins, so every node keeps the same one and no pair can
 * bounce between nodes for ever; without it a failure replaces and a pass does not. The one rule
 * for the report service, the rollout core and the simulator.
 */
export function replacesReport(
  prior: Pick<Report, 'at' | 'verdict'>,
  next: Pick<Report, 'at' | 'verdict'>,
  bodyOrder?: number,
): boolean {
  if (next.at !== prior.at) return next.at > prior.at
  if (next.verdict !== prior.verdict) return next.verdict === 'fail'
  return bodyOrder === undefined ? next.verdict === 'fail' : bodyOrder < 0
}

/** Keeps the latest report per reporter, for one release ({@link replacesReport}). A new map. */
export function addReport(reports: ReadonlyMap<string, Report>, r: Report): Map<string, Report> {
  const out = new Map(reports)
  const prior = out.get(r.reporter)
  if (prior === undefined || replacesReport(prior, r)) out.set(r.reporter, r)
  return out
}

/**
 * Applies the release's thresholds to the reports that count (one per reporter: its latest),
 * with the counting node's electorate ({@link EvidenceCounts.electorate}) when it has one.
 */
export function summarize(
  reports: Iterable<Report>,
  policy: RolloutPolicy,
  electorate = 0,
): EvidenceSummary {
  const c = { passing: 0, failing: 0, probationPassing: 0, probationFailing: 0, electorate }
  for (const r of reports) {
    if (r.verdict === 'pass') c.passing++
    else c.failing++
    if (r.stage === 'probation') {
      if (r.verdict === 'pass') c.probationPassing++
      else c.probationFailing++
    }
  }
  return summarizeCounts(c, policy)
}

/**
 * The rule, from counts of distinct reporters (one report each, the latest). The simulator keeps
 * counts instead of a report map per node: at a million nodes the maps would not fit, and the
 * rule only reads the counts.
 *
 * Failures are weighed twice: against every report, and against the probation reports alone.
 * Every node shadow-runs a release as soon as it sees it and reports a pass, but only nodes that
 * switched (the canaries first) can see a fault that shows under real load; weighed against
 * nearly every node's shadow pass, the canaries' failures would never reach a threshold, and
 * the release would creep past the canary share until `maxFailureShare` stalls it. Compared
 * with the other probation results, they halt it. `haltMinFailures` applies to each count on its
 * own, so a single crashing canary never halts a release alone (unless the policy says 1).
 *
 * A halt weighs failures over at least the electorate (every report) and the canaries the
 * electorate implies (`canaryFraction` of it; probation reports): reports told early, before
 * the honest ones arrive, are then weighed as the share of the network their reporters are, so
 * established liars cannot halt a release they are a small part of. Proceeding reads the shares
 * of the reports that exist, which only ever makes it more cautious.
 */
export function summarizeCounts(counts: EvidenceCounts, policy: RolloutPolicy): EvidenceSummary {
  const { passing, failing } = counts
  const probationPassing = counts.probationPassing ?? 0
  const probationFailing = counts.probationFailing ?? 0
  const electorate = counts.electorate ?? 0
  const reported = passing + failing
  const failShare = reported === 0 ? 0 : failing / reported
  const probTotal = probationPassing + probationFailing
  const probationFailShare = probTotal === 0 ? 0 : probationFailing / probTotal
  const total = Math.max(reported, electorate)
  const haltShare = total === 0 ? 0 : failing / total
  const probFloor = Math.max(probTotal, Math.floor(electorate * policy.canaryFraction))
  const probHaltShare = probFloor === 0 ? 0 : probationFailing / probFloor
  const haltAll = failing >= policy.haltMinFailures && haltShare > policy.haltFailureShare
  const haltProbation =
    probationFailing >= policy.haltMinFailures && probHaltShare > policy.haltFailureShare
  const halt = haltAll || haltProbation
  const needProbation = probationPassesNeeded(policy)
  const proceed =
    !halt &&
    probationPassing >= needProbation &&
    passing >= policy.minPassReports &&
    failShare <= policy.maxFailureShare &&
    // Fewer failed probations than haltMinFailures are noise (a flaky machine, or a few Sybils'
    // claims), as they are for halting: they hold nobody back.
    (probationFailing < policy.haltMinFailures || probationFailShare <= policy.maxFailureShare)
  const reason = haltAll
    ? `halted: ${failing} of ${total} reporters failed the release (${pct(haltShare)} > ${pct(policy.haltFailureShare)})`
    : haltProbation
      ? `halted: ${probationFailing} of ${probFloor} nodes that ran it failed their probation (${pct(probHaltShare)} > ${pct(policy.haltFailureShare)})`
      : proceed
        ? `evidence good: ${probationPassing} probation passes, ${passing} passing, ${failing} failing`
        : probationPassing < needProbation
          ? `waiting for the canaries: ${probationPassing} of ${needProbation} probation passes`
          : passing < policy.minPassReports
            ? `waiting for evidence: ${passing} of ${policy.minPassReports} passing reports`
            : failShare > policy.maxFailureShare
              ? `waiting: failure share ${pct(failShare)} is above ${pct(policy.maxFailureShare)}`
              : `waiting: ${probationFailing} of ${probTotal} probations failed (${pct(probationFailShare)}, above ${pct(policy.maxFailureShare)})`
  return {
    passing,
    failing,
    failShare,
    probationPassing,
    probationFailing,
    probationFailShare,
    proceed,
    halt,
    reason,
  }
}

/** A share as a percentage, with one decimal where a whole number would mislead (10.3% > 10%). */
function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`
}
