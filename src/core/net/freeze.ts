/**
 * Freeze and eclipse suspicion: peers claim a newer manifest sequence than the node can verify.
 *
 * A claim alone proves nothing (anyone can claim a number), so a node never acts on it beyond
 * looking harder: it fetches from the claiming peer at once and, while the gap stays open, runs
 * its DHT lookups {@link LOOKUP_WIDENING} times as often. After {@link FREEZE_FAILED_LOOKUPS}
 * lookups that each failed to close the gap, it says in status that a freeze or an eclipse is
 * possible. The libp2p node applies these rules; the simulator schedules by them. Pure.
 */

/** Lookups that failed to close a gap after which a freeze or eclipse is suspected. */
export const FREEZE_FAILED_LOOKUPS = 2

/** While a gap is open, lookups run this many times as often as the base interval. */
export const LOOKUP_WIDENING = 4

/** The shortest wait between two lookups, ms. */
export const MIN_LOOKUP_MS = 250

/** What a node knows about one channel's claims. */
export interface ClaimView {
  /** The highest sequence any peer claims. */
  claimed: number
  /** The highest sequence this node verified. */
  verified: number
  /** Lookups since the gap opened that ended without closing it. */
  failedLookups: number
}

/** True when peers claim more than the node verified and enough lookups failed to find it. */
export function freezeSuspected(v: ClaimView): boolean {
  return v.claimed > v.verified && v.failedLookups >= FREEZE_FAILED_LOOKUPS
}

/**
 * Whether a lookup failed to close the gap: a peer still claims more than the node verified
 * after it, and the lookup verified nothing new (`before` and `after` are the verified sequence
 * around it).
 */
export function lookupFailed(claimed: number, before: number, after: number): boolean {
  return claimed > after && after <= before
}

/**
 * The wait before the next lookup, ms: at once-ish when one was asked for while another ran
 * (`again`), widened while a gap is open, otherwise the base interval with the caller's jitter
 * already applied (`jitteredMs`).
 */
export function nextLookupMs(o: {
  again: boolean
  gap: boolean
  baseMs: number
  jitteredMs: number
}): number {
  if (o.again) return MIN_LOOKUP_MS
  if (o.gap) return Math.max(MIN_LOOKUP_MS, o.baseMs / LOOKUP_WIDENING)
  return o.jitteredMs
}

/**
 * How long after a gap opens a node that finds nothing comes to suspect a freeze, ms: the first
 * lookup runs at once, each later one a widened interval after the previous ended, each takes
 * `lookupMs`. What the simulator schedules for an eclipsed node.
 */
export function suspicionAfterMs(lookupMs: number, baseMs: number): number {
  const widened = nextLookupMs({ again: false, gap: true, baseMs, jitteredMs: baseMs })
  return FREEZE_FAILED_LOOKUPS * lookupMs + (FREEZE_FAILED_LOOKUPS - 1) * widened
}
