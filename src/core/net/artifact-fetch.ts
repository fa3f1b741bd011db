/**
 * Fetching a release's artifact from peers: how long a node tries, and which provider next.
 *
 * A node gives the artifact of a release it verified {@link ARTIFACT_FETCH_MS} to arrive: long
 * enough for a full artifact from slow providers, found again round after round, and bounded so
 * a fetch nobody can serve does not run for ever. A newer release supersedes it sooner.
 *
 * A fetch goes in rounds: each round tries every usable provider once, and a new one starts when
 * the caller has asked the DHT again. Within a round, providers never suspected (of contributing
 * to a copy whose hash did not match) come before suspects, and those never cut for being slow
 * before slow ones, so one bad or slow peer costs a fetch one attempt, not every round; then the
 * providers go in the order they were listed. A banned provider (the only contributor to a bad
 * copy) is never tried again. Pure: the caller keeps the standings and marks what it tried.
 */

/** How long a node tries to fetch a verified release's artifact, ms: 30 minutes. */
export const ARTIFACT_FETCH_MS: number = 30 * 60_000

/** What a fetch holds against one provider. */
export interface ProviderStanding {
  /** Position in the providers' lists: earlier lists and earlier places come first. */
  order: number
  /** Contributed to an attempt whose hash did not match. */
  suspect: boolean
  /** Times cut for being slow: such providers are tried after all others. */
  slow: number
  banned: boolean
  /** Round in which it was last tried. */
  round: number
}

/** True when `a` is tried before `b`: never-suspected, then never-slow, then listed order. */
export function providerBefore(a: ProviderStanding, b: ProviderStanding): boolean {
  if (a.suspect !== b.suspect) return !a.suspect
  if (a.slow !== b.slow) return a.slow < b.slow
  return a.order < b.order
}

/**
 * The provider to try next in `round`, or undefined when every usable one was tried in it.
 * `excluded` (a deranked or shadow peer) is asked only of providers not banned and not yet
 * tried in this round.
 */
export function nextProvider<T extends ProviderStanding>(
  providers: Iterable<T>,
  round: number,
  excluded: (p: T) => boolean,
): T | undefined {
  let best: T | undefined
  for (const p of providers) {
    if (p.banned || p.round === round) continue
    if (excluded(p)) continue
    if (best === undefined || providerBefore(p, best)) best = p
  }
  return best
}

/** Why a fetch waits between rounds: nobody provides it, all busy, the budgets spent, or all failed. */
export type WaitReason = 'no-provider' | 'all-busy' | 'budget-spent' | 'all-failed'

/** How a round of providers ended: answered busy (slots), busy (budget or quota), or failed. */
export interface RoundTally {
  busy: number
  budget: number
  failed: number
}

/**
 * Why a fetch with `providers` usable ones waits after a round that ended as `round` says: the
 * one rule of the whole-file and the chunked fetch.
 */
export function waitReason(providers: number, round: RoundTally): WaitReason {
  if (providers === 0) return 'no-provider'
  if (round.budget > 0 && round.busy === 0 && round.failed === 0) return 'budget-spent'
  if (round.busy + round.budget > 0 && round.failed === 0) return 'all-busy'
  return 'all-failed'
}
