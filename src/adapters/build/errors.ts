/**
 * The errors of builds (pack, tar, rebuild).
 * Each sets `name`; its message says what was wrong and what to do.
 */

/** A rebuild that cannot go ahead; the message is one line for a person to act on. */
export class RebuildError extends Error {
  override name = 'RebuildError'
}

/** A path or size the ustar format cannot hold, or a malformed entry. */
export class TarFormatError extends Error {
  override name = 'TarFormatError'
}

/**
 * A pack that cannot be made from these inputs (bad version, not a source tree, missing
 * node_modules or migration, bundling failed). The message is one line for a person to act on.
 */
export class PackError extends Error {
  override name = 'PackError'
}
