/**
 * The shape of a node's status, as `GET /status` serves it and `convoy status` prints it.
 * Plain data: everything here is JSON-serialisable.
 */
import type { Rank } from '../../core/version/rank.ts'

/** One connected (or recently seen) peer. */
export interface PeerStatus {
  peerId: string
  /** Remote multiaddr of the current connection, if connected. */
  addr?: string
  connected: boolean
  /** From the peer's hello; undefined until the handshake completed. */
  version?: string
  channel?: string
  role?: 'node' | 'shadow' | 'publisher'
  capabilities?: string[]
  /** identify's agentVersion, e.g. "convoy/0.1.0". */
  agent?: string
  rank: Rank | 'pending'
  /** Signed releases newer than the peer's version, when known. */
  behind?: number
  reasons: string[]
  /** What the peer told us about ourselves in its verdict. */
  saysWeAre?: string
  /** Handshake and protocol faults counted against this peer. */
  misbehaviour: number
}

/** A manifest the node has verified. */
export interface ManifestStatus {
  channel: string
  version: string
  sequence: number
  digest: string
  expires: string
  expired: boolean
  /** True when this node holds the artifact for its platform in its release store. */
  artifactHeld: boolean
}

/** The freeze / eclipse suspicion on one channel. */
export interface FreezeStatus {
  channel: string
  suspected: boolean
  /** Highest sequence peers claimed. */
  claimedSequence: number
  /** Highest sequence this node verified. */
  verifiedSequence: number
  /** Distinct peers that claimed more than this node could verify. */
  claimedBy: number
  /** ms since the epoch when the gap was first seen. */
  since?: number
  reason?: string
}

/** Everything `GET /status` returns. */
export interface NodeStatus {
  peerId: string
  network: string
  version: string
  channel: string
  role: 'node' | 'shadow' | 'publisher'
  /** Listen multiaddrs including /p2p/<peerId>. */
  addresses: string[]
  rootVersion: number
  /** ms since the epoch. */
  startedAt: number
  now: number
  /** What peers say about this node, by status ("ok", "outdated", ...). */
  toldWeAre: Record<string, number>
  peers: PeerStatus[]
  manifests: ManifestStatus[]
  /** The newest verified release on the node's channel, if any. */
  latest?: { version: string; sequence: number }
  freeze: FreezeStatus[]
  counters: Record<string, number>
}
