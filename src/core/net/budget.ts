/**
 * Per-peer budgets for the protocols a peer can open: how many requests a peer may make per
 * second (a token bucket with a burst), and how many it may have open at once. Everything a
 * peer sends is hostile; a budget is what bounds the work one identity can make a node do.
 *
 * The state is bounded: at most `maxPeers` buckets, the least recently used forgotten first
 * (a forgotten peer starts again with a full bucket, which costs it nothing it did not have),
 * and a peer's state is dropped when it disconnects. Fresh identities are cheap, so a budget
 * bounds the rate per connection; the connection manager's cap bounds the connections.
 *
 * Pure: the caller passes the time.
 */

/** A rate and a burst, plus how many requests may be open at once. */
export interface Budget {
  /** Requests per second, sustained. */
  perSecond: number
  /** Requests that may arrive at once after a quiet spell. */
  burst: number
  /** Requests in progress at the same time. */
  concurrent: number
}

/**
 * The budgets of convoy's protocols, per peer. Generous for an honest peer (which says hello
 * once a connection, asks for a manifest when it hears of one, pushes a report per verdict and
 * fetches an artifact once), far below what a flood sends.
 */
export const PROTOCOL_BUDGETS: Readonly<
  Record<'hello' | 'manifest' | 'reports' | 'artifacts' | 'revoke', Budget>
> = Object.freeze({
  hello: { perSecond: 1, burst: 10, concurrent: 2 },
  manifest: { perSecond: 1, burst: 8, concurrent: 2 },
  // Per report, not per stream: a sync on connect sends up to 2,048 at once.
  reports: { perSecond: 50, burst: 2048, concurrent: 4 },
  artifacts: { perSecond: 2, burst: 16, concurrent: 2 },
  // Per push stream (up to 64 revocations each): sent on connect and when one is new.
  revoke: { perSecond: 2, burst: 8, concurrent: 1 },
})

/** Why a request was refused. */
export type BudgetRefusal = 'rate' | 'concurrency'

interface Bucket {
  tokens: number
  at: number
  open: number
}

/** One protocol's budgets for every peer. */
export class PeerBudgets {
  readonly budget: Budget
  readonly maxPeers: number
  private readonly buckets = new Map<string, Bucket>()
  /** Requests refused, by reason. */
  readonly refused: Record<BudgetRefusal, number> = { rate: 0, concurrency: 0 }

  constructor(budget: Budget, maxPeers = 4096) {
    if (!(budget.perSecond > 0) || !(budget.burst >= 1) || !(budget.concurrent >= 1))
      throw new TypeError('a budget needs perSecond > 0, burst >= 1 and concurrent >= 1')
    this.budget = budget
    this.maxPeers = maxPeers
  }

  /** Peers with state held. */
  get size(): number {
    return this.buckets.size
  }

  /**
   * Asks to start one request of `peer` at `now` (ms). On `ok`, the caller must call
   * {@link end} when the request ends, however it ends.
   */
  begin(peer: string, now: number): { ok: true } | { ok: false; reason: BudgetRefusal } {
    let b = this.buckets.get(peer)
    if (b === undefined) {
      b = { tokens: this.budget.burst, at: now, open: 0 }
      if (this.buckets.size >= this.maxPeers) this.evictIdle()
    } else this.buckets.delete(peer) // re-inserted below: the map's order is recency
    this.buckets.set(peer, b)
    const elapsed = Math.max(0, now - b.at) / 1000
    b.tokens = Math.min(this.budget.burst, b.tokens + elapsed * this.budget.perSecond)
    b.at = Math.max(b.at, now)
    if (b.open >= this.budget.concurrent) {
      this.refused.concurrency++
      return { ok: false, reason: 'concurrency' }
    }
    if (b.tokens < 1) {
      this.refused.rate++
      return { ok: false, reason: 'rate' }
    }
    b.tokens -= 1
    b.open++
    return { ok: true }
  }

  /** A request {@link begin} let through has ended. */
  end(peer: string): void {
    const b = this.buckets.get(peer)
    if (b !== undefined && b.open > 0) b.open--
  }

  /** The peer disconnected: its state goes (requests still open end on their own). */
  forget(peer: string): void {
    const b = this.buckets.get(peer)
    if (b !== undefined && b.open === 0) this.buckets.delete(peer)
  }

  private evictIdle(): void {
    for (const [peer, b] of this.buckets) {
      if (b.open === 0) {
        this.buckets.delete(peer)
        return
      }
    }
    // Every peer held has a request open: forget the least recent anyway (the bound holds).
    const first = this.buckets.keys().next()
    if (!first.done) this.buckets.delete(first.value)
  }
}

/** Requests a budget has refused, whatever the reason: what the services report in their stats. */
export function refusedCount(b: PeerBudgets): number {
  return b.refused.rate + b.refused.concurrency
}
