/**
 * The supervisor's outbox of signed reports: a report its node could not take yet (the node is
 * restarting, or answered 5xx or 401 before it wrote its API token) stays queued and is handed
 * over again at the next turn of the rollout clock, at most {@link MAX_REPORT_TRIES} times. Only
 * hand-overs to a running node count, so a node that is down costs a report nothing; 600 is ten
 * minutes of refusals at the default 1 s clock, longer than any restart takes, and a node that
 * refuses longer than that will not take the report, which is then dropped (and logged) instead
 * of queued for ever. A refusal that trying again cannot cure drops it at once. Pure.
 */

/** Hand-overs a report gets before it is dropped. */
export const MAX_REPORT_TRIES = 600

/**
 * After the `tries`-th hand-over of a report failed: true when it stays queued, which needs a
 * failure that trying again can cure (`retry`) and tries left.
 */
export function keepReport(retry: boolean, tries: number): boolean {
  return retry && tries < MAX_REPORT_TRIES
}
