/**
 * Restarting a node that exited on its own. The supervisor waits, then starts it again; the
 * wait doubles with each crash, from the first delay up to a cap, so a build that dies at once
 * does not spin the machine. A node that ran longer than {@link HEALTHY_RUN_MS} was healthy, so
 * its crash starts the backoff afresh: a rare crash is restarted after the first delay, not
 * after the cap that old crashes built up. Within the watch after commit the machine also judges
 * crash loops (machine-watch.ts); this rule only says when to start the node again. Pure: the
 * caller passes how long the node ran.
 */

/** The first wait before a restart, ms, when the supervisor is given none. */
export const DEFAULT_RESTART_MS = 1000
/** The longest wait before a restart, ms, when the supervisor is given none. */
export const DEFAULT_MAX_RESTART_MS = 30_000
/** A node that ran longer than this, ms, was healthy: its crash resets the backoff. */
export const HEALTHY_RUN_MS = 60_000

/** The bounds of the restart backoff, ms. */
export interface RestartBackoff {
  firstMs: number
  maxMs: number
}

/**
 * The restart after a crash of a node that ran `ranMs`, with the backoff at `backoffMs`: wait
 * `waitMs` before starting it again, and start from `nextMs` at the next crash.
 */
export function restartAfterCrash(
  backoffMs: number,
  ranMs: number,
  bounds: RestartBackoff,
): { waitMs: number; nextMs: number } {
  const waitMs = ranMs > HEALTHY_RUN_MS ? bounds.firstMs : backoffMs
  return { waitMs, nextMs: Math.min(waitMs * 2, bounds.maxMs) }
}
