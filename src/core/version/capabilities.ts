/**
 * Capability sets: what a release can do, named like protocols ("hello/1"). A peer's claim is
 * credible only when it is a subset of what its release's manifest lists and of what its
 * protocol list backs.
 */

/** A sorted set of capability names without repeats. */
export type CapabilitySet = readonly string[]

/** Normalises a list into a {@link CapabilitySet}. */
export function capabilitySet(names: Iterable<string>): CapabilitySet {
  return [...new Set(names)].sort()
}

/** True when every capability in `a` is also in `b`. */
export function isSubset(a: Iterable<string>, b: Iterable<string>): boolean {
  const have = new Set(b)
  for (const c of a) if (!have.has(c)) return false
  return true
}

/** True when `a` contains every capability of `b`. */
export function isSuperset(a: Iterable<string>, b: Iterable<string>): boolean {
  return isSubset(b, a)
}

/** Capabilities in `a` that `b` lacks, sorted. */
export function missingFrom(a: Iterable<string>, b: Iterable<string>): CapabilitySet {
  const have = new Set(b)
  return capabilitySet([...a].filter((c) => !have.has(c)))
}
