/**
 * The one test of a version string, everywhere convoy takes one (manifests, the CLI, packing,
 * node options, scenarios): a strict semver version without a leading "v" or spaces, in the
 * one spelling semver prints. Comparisons use semver too (rank.ts, history.ts).
 */
import semver from 'semver'

/** True when `v` is a strict semver version such as `1.2.3` or `1.0.0-rc.10`. */
export function isVersion(v: unknown): v is string {
  return typeof v === 'string' && semver.valid(v) === v
}
