/**
 * How a node ranks a peer from what the peer claims and what the node can verify.
 *
 * Distance is counted in signed releases of the channel. 0 or 1 behind: normal. More than 1:
 * deranked (lowest connection-manager tag, never an artifact provider, told "outdated"). A claim
 * the node cannot back with a signed release, or capabilities the peer's protocol list does not
 * back, make the peer "suspicious": a small penalty on that peer alone. Nothing a third peer says
 * can lower anyone else's rank: ranks come only from verified releases and the peer's own
 * protocol list, so a Sybil that lies about releases harms only itself.
 */
import semver from 'semver'
import { missingFrom } from './capabilities.ts'
import { latestRelease, type ReleaseHistory, releasesBehind } from './history.ts'

/** The rank classes, best first. */
export type Rank = 'normal' | 'unverified' | 'suspicious' | 'deranked'

/** Connection-manager tag value per rank. Pruning closes the lowest sums first; libp2p's own
 * DHT tags add at most 51, so every normal peer (100) outranks every deranked one (0 + 51). */
export const RANK_TAG_VALUE: Readonly<Record<Rank, number>> = Object.freeze({
  normal: 100,
  unverified: 80,
  suspicious: 20,
  deranked: 0,
})

/** Capabilities every convoy node serves; each is backed by a protocol of the same name. */
export const BASE_CAPABILITIES: readonly string[] = Object.freeze([
  'artifact/1',
  'hello/1',
  'id/1',
  'kad/1',
  'manifest/1',
  'ping/1',
])

/** What a peer said about itself in its hello. */
export interface PeerClaim {
  version: string
  capabilities: readonly string[]
}

/** What the node knows when it ranks. */
export interface RankContext {
  /** The channel's verified release history. */
  history: ReleaseHistory
  /** Capability set of each verified version, from its manifest. */
  capabilitiesOf: (version: string) => readonly string[] | undefined
  /** Capabilities backed by the protocols identify reported for the peer; undefined if not yet known. */
  backedCapabilities?: readonly string[]
}

/** The verdict on one peer. */
export interface PeerRank {
  rank: Rank
  /** Signed releases newer than the peer's version; undefined when its version is not signed. */
  behind?: number
  /** One line per finding, for status. Empty when normal. */
  reasons: string[]
  /** True when the peer must not be picked as an artifact provider (deranked peers). */
  excludeAsProvider: boolean
  /** Connection-manager tag value. */
  tagValue: number
}

/** Ranks a peer. Pure; see the module comment for the rule. */
export function rankPeer(claim: PeerClaim, ctx: RankContext): PeerRank {
  const reasons: string[] = []
  let rank: Rank = 'normal'
  const behind = releasesBehind(ctx.history, claim.version)
  const latest = latestRelease(ctx.history)
  if (behind !== undefined) {
    if (behind > 1) {
      rank = 'deranked'
      reasons.push(`outdated: ${claim.version} is ${behind} releases behind ${latest!.version}`)
    }
    const signedCaps = ctx.capabilitiesOf(claim.version)
    if (signedCaps !== undefined) {
      const extra = missingFrom(claim.capabilities, signedCaps)
      if (extra.length > 0) {
        if (rank === 'normal') rank = 'suspicious'
        reasons.push(
          `claims capabilities its release ${claim.version} does not list: ${extra.join(', ')}`,
        )
      }
    }
  } else if (
    latest === undefined ||
    (semver.valid(claim.version) && semver.gt(claim.version, latest.version))
  ) {
    // Possibly a release this node has not fetched yet: not a fault until proven otherwise.
    rank = 'unverified'
    reasons.push(`version ${claim.version} has no signed release known here yet`)
  } else {
    rank = 'suspicious'
    reasons.push(`version ${claim.version} has no signed release on this channel`)
  }
  if (ctx.backedCapabilities !== undefined) {
    const unbacked = missingFrom(claim.capabilities, ctx.backedCapabilities)
    if (unbacked.length > 0) {
      if (rank === 'normal' || rank === 'unverified') rank = 'suspicious'
      reasons.push(`claims capabilities its protocol list does not back: ${unbacked.join(', ')}`)
    }
  }
  return {
    rank,
    ...(behind !== undefined ? { behind } : {}),
    reasons,
    // Only distance excludes a provider: bytes are hash-checked, so a suspicious claim costs rank,
    // not service.
    excludeAsProvider: rank === 'deranked',
    tagValue: RANK_TAG_VALUE[rank],
  }
}

/** What ranking reads of a hello. */
export interface HelloClaim extends PeerClaim {
  /** The channel the peer says it follows. */
  channel: string
  /** The role the peer says it has. */
  role: 'node' | 'shadow' | 'publisher'
}

/**
 * Ranks a peer from its hello. `ctx` is this node's own channel's (`ownChannel`): a peer is
 * ranked against what this node verified, never against a channel the peer names (a channel
 * nobody here follows has no history, and ranking by it let a peer escape any derank). The role
 * a peer claims is no exemption either: a publisher or a shadow that claims an old version is
 * deranked like a node (its rank, its connection tag, its place in pruning). Which peers may
 * serve artifacts is a separate question: a shadow never (a build under test, not a node); a
 * publisher always, whatever version its tool runs, because seeding a release must work and
 * the bytes it serves are checked against the signed hash anyway.
 */
export function rankHello(h: HelloClaim, ownChannel: string, ctx: RankContext): PeerRank {
  const r = rankPeer(h, ctx)
  const reasons =
    h.channel === ownChannel
      ? r.reasons
      : [
          ...r.reasons,
          `follows channel ${h.channel}, not ${ownChannel}: ranked against ${ownChannel}`,
        ]
  const excludeAsProvider =
    h.role === 'shadow' ? true : h.role === 'publisher' ? false : r.excludeAsProvider
  return { ...r, reasons, excludeAsProvider }
}
