/**
 * The shape of a node's status, as `GET /status` serves it and `convoy status` prints it.
 * Plain data: everything here is JSON-serialisable.
 */
import type { RevokedRelease } from '../../core/trust/revocations.ts'
import type { Rank } from '../../core/version/rank.ts'
import type { BandwidthStatus } from './bandwidth.ts'

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

/** An artifact this node is fetching, and why it waits when it does. */
export interface FetchStatus {
  version: string
  sha256: string
  received: number
  total: number
  /** Providers the fetch knows of. */
  providers: number
  /** ms since the epoch when the fetch started. */
  since: number
  /**
   * Set while the fetch waits between rounds: "no-provider" (nobody announced it),
   * "all-busy" (every provider's upload slots were taken), "budget-spent" (the providers spent
   * their upload budgets), "all-failed" (every transfer failed).
   */
  waiting?: 'no-provider' | 'all-busy' | 'budget-spent' | 'all-failed'
  /** ms since the epoch of the next round, while waiting. */
  retryAt?: number
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
  /** Artifacts being fetched now. */
  fetching: FetchStatus[]
  counters: Record<string, number>
  /**
   * The signed shadow and probation reports held, per release manifest digest (at most 32
   * releases): reporters counted once each, by their latest verdict. Empty on a shadow or a
   * publisher, which carry no reports.
   */
  evidence: Record<string, ReleaseEvidence>
  /**
   * `host:port` of every TCP address in the libp2p peer store: the addresses this node learned
   * from the network (IPv6 as `[addr]:port`), sorted, at most 2000. A supervisor tells a shadow
   * candidate's legitimate connections from "phone home" ones with it.
   */
  knownAddrs: string[]
  /**
   * Releases the maintainers revoked (t-of-n signed, verified here), oldest first, at most 256:
   * the supervisor rolls a node running one back and never starts one. Absent from a node older
   * than revocations.
   */
  revoked?: RevokedRelease[]
  /**
   * The bandwidth budgets (`null`: no limit) and their use this UTC month. Absent from a node
   * older than budgets.
   */
  bandwidth?: BandwidthStatus
}

/** How the reporters on one release split. */
export interface ReleaseEvidence {
  /** Reporters whose latest report passes the release. */
  passing: number
  /** Reporters whose latest report fails it. */
  failing: number
  /** Distinct reporters: `passing + failing`. */
  reporters: number
}
