/**
 * The one way an inbound stream goes through its peer's budget (core/net/budget.ts): admitted,
 * or reset unread with a reason, so a peer over its rate or with too many open gets nothing.
 * And the one way a caller's AbortOptions meet a method's own deadline.
 */
import type { AbortOptions, Stream } from '@libp2p/interface'
import type { PeerBudgets } from '../../core/net/budget.ts'

/**
 * Admits one inbound stream of `peer` at `now`, or aborts it and calls `onRefused` (which counts
 * `budget_refused`). An admitted stream must be ended with `budgets.end(peer)`.
 */
export function admitStream(
  budgets: PeerBudgets,
  peer: string,
  now: number,
  stream: Stream,
  what: string,
  onRefused?: () => void,
): boolean {
  const b = budgets.begin(peer, now)
  if (b.ok) return true
  onRefused?.()
  stream.abort(new Error(`${what} budget spent (${b.reason}): slow down`))
  return false
}

/** The caller's signal (if any) or a deadline `timeoutMs` from now, whichever ends first. */
export function withDeadline(options: AbortOptions, timeoutMs: number): AbortSignal {
  const deadline = AbortSignal.timeout(timeoutMs)
  return options.signal ? AbortSignal.any([options.signal, deadline]) : deadline
}
