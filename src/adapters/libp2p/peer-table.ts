/**
 * The peers a node knows: the hello exchanged with each, its rank (carried out as a
 * connection-manager tag), and pruning over the connection limit. Decisions live in src/core
 * (rank, hello, pruning); this carries them out.
 */
import type { Connection, PeerId } from '@libp2p/interface'
import { backedCapabilities, type Hello, type Verdict } from '../../core/net/hello.ts'
import { connectionsToPrune, DEFAULT_MAX_CONNECTIONS } from '../../core/net/pruning.ts'
import { capabilitiesOf, channelHistory, currentRoot } from '../../core/trust/trust.ts'
import { withoutReleases } from '../../core/version/history.ts'
import { type PeerRank, rankHello } from '../../core/version/rank.ts'
import { HelloFault } from './errors.ts'
import type { HelloOutcome, HelloSide } from './hello.ts'
import type { NodeParts, NodeState } from './node-state.ts'

/** Peers remembered at most (connected ones are never forgotten; see forgetOnePeer). */
const MAX_PEER_ENTRIES = 4096

/** What a node knows of one peer. */
export interface PeerEntry {
  peerId: PeerId
  hello?: Hello
  verdictOnUs?: Verdict
  rank?: PeerRank
  agent?: string
  protocols?: string[]
  misbehaviour: number
  /** ms since the epoch of the last hello. */
  lastSeen?: number
}

/** How long a disconnected peer stays listed (status, the canary rule, admission), ms. */
export const RECENT_PEER_MS: number = 10 * 60_000

/** True for a peer heard from within {@link RECENT_PEER_MS} of `now`. */
export function recentlySeen(e: { lastSeen?: number }, now: number): boolean {
  return e.lastSeen !== undefined && now - e.lastSeen < RECENT_PEER_MS
}

/** The peer table of a node: hello, ranking and pruning. */
export class PeerTable {
  /** Every peer remembered, by peer id. */
  readonly peers: Map<string, PeerEntry> = new Map()
  /** Digests of this channel's releases that the reports this node holds halt. */
  halted: ReadonlySet<string> = new Set()
  /** The highest root version a peer's hello named. */
  rootHint = 0
  private readonly state: NodeState
  private readonly parts: NodeParts
  private readonly capabilities: string[]

  constructor(state: NodeState, parts: NodeParts, capabilities: string[]) {
    this.state = state
    this.parts = parts
    this.capabilities = capabilities
  }

  /** The hello this node sends: what it verified (or `claimSequences`), its root and role. */
  ownHello(): Hello {
    const sequences: Record<string, number> = {}
    for (const [ch, t] of Object.entries(this.state.trust.channels))
      if (t.latest) sequences[ch] = t.latest.sequence
    return {
      network: this.state.network.network,
      version: this.state.version,
      channel: this.state.channel,
      capabilities: this.capabilities,
      sequences: this.state.init.claimSequences ?? sequences,
      rootVersion: currentRoot(this.state.trust).version,
      role: this.state.role,
    }
  }

  /** What answerHello and openHello need: this node's hello, a judge of the peer's, a deadline. */
  helloSide(): HelloSide {
    return {
      ownHello: () => this.ownHello(),
      judge: (peerHello: Hello) => this.verdictFor(this.rankOf(peerHello, undefined)),
      timeoutMs: this.state.init.helloTimeoutMs ?? 5000,
    }
  }

  /** Runs hello on `conn` as the side that opens the stream. */
  async runHello(conn: Connection): Promise<void> {
    if (this.state.stopped || conn.status !== 'open') return
    try {
      this.onHello(conn, await this.state.libp2p.services.hello.open(conn))
    } catch (e) {
      // A peer without convoy's hello on this network (or gone) is a `closed` fault: counted,
      // not misbehaviour.
      this.onHelloFault(conn, e)
    }
  }

  /** A hello that failed; a faulty (not merely closed) one is misbehaviour and closes `conn`. */
  onHelloFault(conn: Connection, e: unknown): void {
    this.state.counters.hello_failed!++
    if (e instanceof HelloFault && e.kind !== 'closed') {
      const entry = this.entry(conn.remotePeer)
      entry.misbehaviour++
      this.state.counters.misbehaviour!++
      this.state.emit(
        `hello from ${conn.remotePeer.toString()} refused (${e.kind}): ${e.message}; closing`,
      )
      void conn.close().catch(() => conn.abort(e))
    }
  }

  /** A hello that completed: the peer is remembered, reranked, and its claims noted. */
  onHello(conn: Connection, outcome: HelloOutcome): void {
    this.state.counters.hello_ok!++
    const entry = this.entry(conn.remotePeer)
    entry.hello = outcome.peerHello
    entry.verdictOnUs = outcome.verdictOnUs
    entry.lastSeen = this.state.now()
    if (outcome.peerHello.rootVersion > this.rootHint) this.rootHint = outcome.peerHello.rootVersion
    this.rerank(entry)
    const h = outcome.peerHello
    if (h.role === 'node') this.parts.admission.sawPeer(conn.remotePeer.toString(), conn.remoteAddr)
    if (h.role === 'shadow') return
    for (const [channel, seq] of Object.entries(h.sequences))
      this.parts.lookups.noteClaim(conn.remotePeer.toString(), channel, seq)
  }

  /**
   * The peers that said in their hello they are nodes and are connected or were seen in the
   * last 10 minutes: the nodes status lists, which the canary rule and admission read.
   */
  nodePeers(): string[] {
    const connected = new Set(
      this.state.libp2p.getConnections().map((c) => c.remotePeer.toString()),
    )
    const now = this.state.now()
    const out: string[] = []
    for (const [id, e] of this.peers) {
      if (e.hello?.role !== 'node') continue
      if (connected.has(id) || recentlySeen(e, now)) out.push(id)
    }
    return out
  }

  /** The entry of `peerId`, made (forgetting an old peer at the bound) when new. */
  entry(peerId: PeerId): PeerEntry {
    const id = peerId.toString()
    let e = this.peers.get(id)
    if (e === undefined) {
      if (this.peers.size >= MAX_PEER_ENTRIES) this.forgetOnePeer()
      e = { peerId, misbehaviour: 0 }
      this.peers.set(id, e)
    }
    return e
  }

  /**
   * Bounds per-peer state: forgets the disconnected peer seen longest ago (the map is in
   * insertion order, so the first disconnected one is a fair stand-in when none has lastSeen).
   */
  private forgetOnePeer(): void {
    const connected = new Set(
      this.state.libp2p.getConnections().map((c) => c.remotePeer.toString()),
    )
    let oldest: string | undefined
    let oldestSeen = Number.POSITIVE_INFINITY
    for (const [id, e] of this.peers) {
      if (connected.has(id)) continue
      const seen = e.lastSeen ?? 0
      if (seen < oldestSeen) {
        oldest = id
        oldestSeen = seen
        if (seen === 0) break
      }
    }
    if (oldest !== undefined) this.peers.delete(oldest)
  }

  private rankOf(h: Hello, protocols: string[] | undefined): PeerRank {
    // Against this node's own channel; the peer's claimed channel and role exempt nothing.
    const channel = this.state.channel
    return rankHello(h, channel, {
      // Halted releases do not count: staying off one is what the network asked of everyone.
      history: withoutReleases(channelHistory(this.state.trust, channel), this.halted),
      capabilitiesOf: (v) => capabilitiesOf(this.state.trust, channel, v),
      ...(protocols !== undefined
        ? { backedCapabilities: backedCapabilities(this.state.network.network, protocols) }
        : {}),
    })
  }

  private verdictFor(rank: PeerRank): Verdict {
    const latest = this.state.trust.channels[this.state.channel]?.latest
    const status = rank.rank === 'deranked' ? 'outdated' : rank.rank === 'normal' ? 'ok' : rank.rank
    return {
      status,
      ...(latest ? { current: { version: latest.version, sequence: latest.sequence } } : {}),
      reasons: rank.reasons.slice(0, 8).map((r) => r.slice(0, 256)),
    }
  }

  /** Ranks the peer again and carries the rank out as its connection-manager tag. */
  rerank(entry: PeerEntry): void {
    if (entry.hello === undefined) return
    const before = entry.rank?.rank
    entry.rank = this.rankOf(entry.hello, entry.protocols)
    if (before !== entry.rank.rank && before !== undefined) {
      this.state.emit(
        `peer ${entry.peerId.toString()} rank ${before} -> ${entry.rank.rank}${entry.rank.reasons.length ? `: ${entry.rank.reasons.join('; ')}` : ''}`,
      )
    }
    void this.state.libp2p.peerStore
      .merge(entry.peerId, { tags: { 'convoy-rank': { value: entry.rank.tagValue } } })
      .catch(() => {})
    this.enforceLimit()
  }

  /**
   * Over the connection limit, closes what the core's pruning rule says (core/net/pruning.ts:
   * deranked peers first, then suspicious ones).
   */
  enforceLimit(): void {
    const max = this.state.init.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    const conns = this.state.libp2p.getConnections()
    const rankOf = (c: Connection) => this.peers.get(c.remotePeer.toString())?.rank?.rank
    for (const { conn: c, rank } of connectionsToPrune(conns, max, rankOf)) {
      this.state.counters.pruned!++
      this.state.emit(
        `over the limit of ${max} connections: closing ${rank} peer ${c.remotePeer.toString()}`,
      )
      void c.close().catch((e: Error) => c.abort(e))
    }
  }

  /** Reranks every peer (after trust or the halted releases changed). */
  rerankAll(): void {
    for (const e of this.peers.values()) this.rerank(e)
  }
}
