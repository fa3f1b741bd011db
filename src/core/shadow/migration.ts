/**
 * Judging a migration: the rules a release's `migrate.mjs` (and its reverse, `migrate-down.mjs`)
 * must keep, whether it runs in rehearsal on the shadow's copy of the data or for real at a
 * switch. The driver gathers the facts (what makes the node itself, before and after; how the
 * process ended); the verdict is decided here, once, for both. Pure.
 *
 * What makes the node itself belongs to the supervisor, not to the migration: its identity (the
 * peer id of `identity.key`: its slot, its reputation, its reports) and its trust floor (per
 * channel, the highest sequence ever trusted, in `trust.json`). A migration may change any other
 * data, but every state file that parsed before must still parse after.
 */

/** What makes a node itself, read from a data dir. */
export interface NodeSelf {
  /** Peer id of `identity.key`; undefined when it is missing or does not parse. */
  peerId?: string
  /** Per channel, the trust floor's sequence; undefined when `trust.json` does not parse. */
  floors?: Record<string, number>
  /** State files (JSON, relative paths) that do not parse. */
  unreadable: string[]
}

/** How one migration process ended. */
export interface MigrationRun {
  /** Exit code, or null when it was killed. */
  exitCode: number | null
  /** True when it was killed at the deadline. */
  timedOut: boolean
  elapsedMs: number
  /** The last line it printed, for the reason. */
  lastLine: string
}

/** The limits a migration runs under. */
export interface MigrationLimits {
  /** Killed past this, ms. */
  deadlineMs: number
  /** The policy's downtime budget, ms (`maxDowntimeSeconds`); undefined: none. */
  budgetMs?: number
}

/** A verdict: `ok`, or the reason it is not. */
export type MigrationVerdict = { ok: true } | { ok: false; reason: string }

/**
 * The verdict on a migration that ran over a data dir that was `before` and is now `after`.
 * The first broken rule is the reason: how it ended, its time, then the node's own state.
 */
export function judgeMigration(
  what: string,
  before: NodeSelf,
  after: NodeSelf,
  run: MigrationRun,
  limits: MigrationLimits,
): MigrationVerdict {
  const tail = run.lastLine === '' ? '' : `: ${run.lastLine}`
  if (run.timedOut)
    return {
      ok: false,
      reason:
        limits.budgetMs !== undefined && limits.budgetMs <= limits.deadlineMs
          ? `${what} took longer than the release's downtime budget of ${limits.budgetMs} ms (stopped at it)`
          : `${what} did not end within ${limits.deadlineMs} ms (killed)`,
    }
  if (run.exitCode !== 0)
    return {
      ok: false,
      reason: `${what} failed (${run.exitCode === null ? 'killed' : `exit code ${run.exitCode}`})${tail}`,
    }
  if (limits.budgetMs !== undefined && run.elapsedMs > limits.budgetMs)
    return {
      ok: false,
      reason: `${what} took ${run.elapsedMs} ms, over the release's downtime budget of ${limits.budgetMs} ms`,
    }
  const self = selfChanged(before, after)
  return self === undefined ? { ok: true } : { ok: false, reason: `${what} ${self}` }
}

/**
 * How `after` broke what makes the node itself in `before`, or undefined: the identity changed
 * or went, the trust floor went, became unreadable or was lowered, or a state file that parsed
 * no longer does. The supervisor applies it after every migration and every switch.
 */
export function selfChanged(before: NodeSelf, after: NodeSelf): string | undefined {
  if (before.peerId !== undefined && after.peerId !== before.peerId)
    return after.peerId === undefined
      ? 'removed or damaged the node identity (identity.key): the node would come back as a new peer'
      : `changed the node identity (identity.key: ${before.peerId} -> ${after.peerId})`
  if (before.floors !== undefined) {
    if (after.floors === undefined)
      return 'left trust.json unreadable or removed it (the floor of trusted sequences)'
    for (const [channel, seq] of Object.entries(before.floors)) {
      const now = after.floors[channel]
      if (now === undefined || now < seq)
        return `lowered the trust floor of channel ${channel} (sequence ${seq} -> ${now ?? 'none'})`
    }
  }
  const broken = after.unreadable.filter((f) => !before.unreadable.includes(f))
  if (broken.length > 0)
    return `left state files that no longer parse: ${broken.slice(0, 5).join(', ')}${broken.length > 5 ? `, and ${broken.length - 5} more` : ''}`
  return undefined
}
