/**
 * A channel's signed release history, and distances counted in releases, not semver digits.
 *
 * "More than one release behind" means: more than one signed release of the channel is newer
 * than the one a peer runs. A version with no signed release is not "far behind"; it is unknown,
 * and the caller decides what an unbacked claim is worth (never a derank on its own).
 */
import semver from 'semver'

/** One signed release as the history needs it. */
export interface ReleaseRef {
  version: string
  sequence: number
  /** Digest of the manifest, to tell a re-sign from a conflicting one. */
  digest?: string
}

/** A channel's releases, ordered by sequence, oldest first. */
export interface ReleaseHistory {
  readonly releases: readonly ReleaseRef[]
  /** Versions that two different manifests (different digests) claim: a maintainer-key misuse. */
  readonly conflicts: readonly string[]
}

/** Builds a history from verified releases in any order; duplicates of one sequence collapse. */
export function buildHistory(refs: Iterable<ReleaseRef>): ReleaseHistory {
  const bySequence = new Map<number, ReleaseRef>()
  for (const r of refs) if (!bySequence.has(r.sequence)) bySequence.set(r.sequence, r)
  const releases = [...bySequence.values()].sort((a, b) => a.sequence - b.sequence)
  const seen = new Map<string, ReleaseRef>()
  const conflicts = new Set<string>()
  for (const r of releases) {
    const prior = seen.get(r.version)
    if (prior !== undefined && prior.digest !== r.digest) conflicts.add(r.version)
    seen.set(r.version, r)
  }
  return { releases, conflicts: [...conflicts].sort(semver.compare) }
}

/**
 * The history without the releases whose manifest digest is in `digests`: a node leaves out the
 * releases the network halted, so a peer that rightly never took a halted release is not counted
 * a release further behind for it.
 */
export function withoutReleases(
  history: ReleaseHistory,
  digests: ReadonlySet<string>,
): ReleaseHistory {
  if (digests.size === 0) return history
  return {
    releases: history.releases.filter((r) => r.digest === undefined || !digests.has(r.digest)),
    conflicts: history.conflicts,
  }
}

/** The newest release of the history, if any. */
export function latestRelease(history: ReleaseHistory): ReleaseRef | undefined {
  return history.releases.at(-1)
}

/**
 * How many signed releases of the channel are newer than `version`: 0 for the latest, 1 for the
 * one before, and so on. Undefined when `version` has no signed release in the history.
 */
export function releasesBehind(history: ReleaseHistory, version: string): number | undefined {
  const rs = history.releases
  let at = -1
  for (let i = rs.length - 1; i >= 0; i--) {
    if (rs[i]!.version === version) {
      at = i
      break
    }
  }
  if (at < 0) return undefined
  const newer = new Set<string>()
  for (let i = at + 1; i < rs.length; i++) if (rs[i]!.version !== version) newer.add(rs[i]!.version)
  return newer.size
}

/**
 * Orders two versions by their place in the signed history (negative: `a` is older). Versions
 * without a signed release sort before every signed one, then by semver.
 */
export function compareByHistory(history: ReleaseHistory, a: string, b: string): number {
  const da = releasesBehind(history, a)
  const db = releasesBehind(history, b)
  if (da === undefined && db === undefined) return semver.compare(a, b)
  if (da === undefined) return -1
  if (db === undefined) return 1
  return db - da
}
