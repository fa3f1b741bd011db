/**
 * Who a node pushes a new sequence to (a hello re-run, which the peer answers by asking for
 * the manifest): at most `fanout` connected peers that have not said they hold it, peers this
 * node ranks `normal` first, then `unverified` and `suspicious`, deranked and unranked last;
 * random within each tier, so that different nodes push to different peers and the whole
 * network hears in O(log n) rounds.
 *
 * Why ranked first. Before, the pick was random over every connection: a node with 24 hostile
 * connections and 2 honest ones pushed to 8 random peers and missed both honest ones about half
 * the time, which left them to their next DHT lookup, itself slowed by the hostile DHT servers
 * (the flood suite measured 16 s from publication to the last honest node verifying). Hostile
 * peers that send a hello this node ranks normal still dilute the push; the periodic lookup
 * bounds the delay then (docs/threat-model.md). Pure: randomness comes in as `random`.
 */
import type { Rank } from '../version/rank.ts'

/** Peers a node pushes a new sequence to. */
export const ANNOUNCE_FANOUT = 8

export interface AnnounceCandidate {
  peer: string
  /** The highest sequence of this channel the peer claimed; 0 when it claimed none. */
  claimed: number
  /** How this node ranks the peer; undefined before its hello. */
  rank?: Rank
}

const TIER: Record<Rank, number> = { normal: 0, unverified: 1, suspicious: 1, deranked: 2 }

/** The peers to push sequence `ours` to, in order. */
export function announceTargets(
  candidates: readonly AnnounceCandidate[],
  ours: number,
  random: () => number,
  fanout: number = ANNOUNCE_FANOUT,
): string[] {
  return candidates
    .filter((c) => c.claimed < ours)
    .map((c) => ({ peer: c.peer, tier: c.rank === undefined ? 2 : TIER[c.rank], r: random() }))
    .sort((a, b) => a.tier - b.tier || a.r - b.r)
    .slice(0, fanout)
    .map((c) => c.peer)
}
