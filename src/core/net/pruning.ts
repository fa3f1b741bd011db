/**
 * Pruning over the connection limit: which connections a node closes when it has more than its
 * limit. Deranked peers go first, then suspicious ones, each in the order the connections are
 * listed, until the node is at the limit; normal, unverified and pending (no hello yet) peers are
 * never closed by this rule, so being far behind or lying costs a peer its connection before it
 * costs an honest peer anything. The node carries this out itself because libp2p's pruner skips
 * connections with streams it does not know how to close (every convoy protocol). Pure.
 */
import type { Rank } from '../version/rank.ts'

/** Connections a node keeps when it is given no limit. */
export const DEFAULT_MAX_CONNECTIONS = 100

/** The ranks pruning closes, in the order it closes them. */
export const PRUNE_ORDER: readonly Rank[] = Object.freeze(['deranked', 'suspicious'])

/**
 * The connections to close to be at `max`, in the order to close them, each with the rank it
 * was closed for; `rankOf` is undefined for a peer not ranked yet.
 */
export function connectionsToPrune<T>(
  conns: readonly T[],
  max: number,
  rankOf: (conn: T) => Rank | undefined,
): Array<{ conn: T; rank: Rank }> {
  let excess = conns.length - max
  const out: Array<{ conn: T; rank: Rank }> = []
  for (const rank of PRUNE_ORDER) {
    for (const conn of conns) {
      if (excess <= 0) return out
      if (rankOf(conn) !== rank) continue
      excess--
      out.push({ conn, rank })
    }
  }
  return out
}
