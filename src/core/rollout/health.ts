/**
 * A node's health as the supervisor judges it, on probation and in the watch after commit: the
 * node runs and answers its API's cheap `/health`; {@link HEALTH_MISSES} misses in a row fail
 * it. One miss is forgiven (a busy machine, a garbage collection), three are not. The answer
 * is `/health`, never `/status`: a status that grows under hostile peers (issue 12) must not be
 * able to fail a probation by being slow. Pure.
 */

/** Misses in a row that fail a node's health. */
export const HEALTH_MISSES = 3

/** The supervisor's deadline for one health answer, ms. */
export const HEALTH_TIMEOUT_MS = 2000

/** After one probe: the misses in a row now, and whether they fail the node. */
export function afterProbe(misses: number, answered: boolean): { misses: number; failed: boolean } {
  if (answered) return { misses: 0, failed: false }
  const now = misses + 1
  // Counting starts again after a failure, so a node that stays down fails once per three.
  return now >= HEALTH_MISSES ? { misses: 0, failed: true } : { misses: now, failed: false }
}
