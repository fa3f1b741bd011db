/**
 * Evidence about a release: signed shadow and probation verdicts from distinct peers. The
 * adapter checks each report's signature and feeds the reporter id in; the core only counts.
 * One reporter counts once: its latest report wins, so a node cannot stuff the ballot.
 */
import type { RolloutPolicy } from '../manifest/release.ts'

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
  passing: number
  failing: number
  /** failing / (passing + failing); 0 with no reports. */
  failShare: number
  /** Non-canaries may switch: enough distinct passing reporters and a failure share within the limit. */
  proceed: boolean
  /** Every node must stop upgrading to this release, and canaries roll back. */
  halt: boolean
  /** One line for status. */
  reason: string
}

/** Keeps the latest report per reporter, for one release. Returns a new map. */
export function addReport(reports: ReadonlyMap<string, Report>, r: Report): Map<string, Report> {
  const out = new Map(reports)
  const prior = out.get(r.reporter)
  if (prior === undefined || prior.at < r.at || (prior.at === r.at && r.verdict === 'fail'))
    out.set(r.reporter, r)
  return out
}

/** Applies the release's thresholds to the reports held. */
export function summarize(reports: Iterable<Report>, policy: RolloutPolicy): EvidenceSummary {
  let passing = 0
  let failing = 0
  for (const r of reports) {
    if (r.verdict === 'pass') passing++
    else failing++
  }
  return summarizeCounts(passing, failing, policy)
}

/**
 * The same rule as {@link summarize}, from counts of distinct reporters (one report each, the
 * latest). The simulator keeps counts instead of a report map per node: at a million nodes the
 * maps would not fit, and the rule only ever reads the two counts.
 */
export function summarizeCounts(
  passing: number,
  failing: number,
  policy: RolloutPolicy,
): EvidenceSummary {
  const total = passing + failing
  const failShare = total === 0 ? 0 : failing / total
  const halt = failing >= policy.haltMinFailures && failShare > policy.haltFailureShare
  const proceed = !halt && passing >= policy.minPassReports && failShare <= policy.maxFailureShare
  const pct = (x: number) => `${Math.round(x * 100)}%`
  const reason = halt
    ? `halted: ${failing} of ${total} reporters failed the release (${pct(failShare)} > ${pct(policy.haltFailureShare)})`
    : proceed
      ? `evidence good: ${passing} passing, ${failing} failing`
      : passing < policy.minPassReports
        ? `waiting for evidence: ${passing} of ${policy.minPassReports} passing reports`
        : `waiting: failure share ${pct(failShare)} is above ${pct(policy.maxFailureShare)}`
  return { passing, failing, failShare, proceed, halt, reason }
}
