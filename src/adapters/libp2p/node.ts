/**
 * A convoy node: libp2p (TCP, noise, yamux, identify, ping, kad-dht) with network-scoped
 * protocols, the hello handshake, peer ranking carried out as connection-manager tags, signed
 * records in the DHT guarded by validators and selectors, freeze detection, artifacts served
 * from and fetched from peers, and signed shadow/probation reports gossiped between nodes.
 *
 * A node of role "shadow" (a candidate build under test) or "publisher" never speaks for the
 * network: it carries no reports, makes no DHT puts, announces no provider records and fetches
 * no artifacts.
 *
 * Decisions live in src/core (trust, rank, hello); this class carries them out.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Connection, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { utf8 } from '../../core/bytes.ts'
import {
  decodeRelease,
  type ReleaseSigned,
  type RolloutPolicy,
  type VerifiedRelease,
} from '../../core/manifest/release.ts'
import { formatDhtKey, parseDhtKey } from '../../core/net/dht-keys.ts'
import { backedCapabilities, type Hello, type Verdict } from '../../core/net/hello.ts'
import type { NetworkConfig } from '../../core/net/network-config.ts'
import { fail, type Result } from '../../core/result.ts'
import type { Report } from '../../core/rollout/evidence.ts'
import { summarize } from '../../core/rollout/evidence.ts'
import {
  acceptRelease,
  acceptRoot,
  capabilitiesOf,
  channelHistory,
  checkReleaseRecord,
  currentRoot,
  type TrustState,
} from '../../core/trust/trust.ts'
import { latestRelease, withoutReleases } from '../../core/version/history.ts'
import {
  BASE_CAPABILITIES,
  type PeerRank,
  RANK_TAG_VALUE,
  rankPeer,
} from '../../core/version/rank.ts'
import { opensslVerify } from '../crypto/ed25519.ts'
import { NodeStore } from '../fs/node-store.ts'
import { type ArtifactService, announceArtifact, artifactCid, artifacts } from './artifacts.ts'
import { RecordRejectedError, RoleRefusedError } from './errors.ts'
import { answerHello, HelloFault, type HelloOutcome, helloProtocol, openHello } from './hello.ts'
import { manifestProtocol, requestManifest, serveManifest } from './manifest-exchange.ts'
import type { ConvoyNodeInit } from './node-init.ts'
import { type ReportService, reports, type SubmitResult } from './reports.ts'
import type { FetchStatus, FreezeStatus, ManifestStatus, NodeStatus, PeerStatus } from './status.ts'

export { RecordRejectedError, RoleRefusedError } from './errors.ts'
export type { ConvoyNodeInit } from './node-init.ts'

/** Version of this convoy build, from package.json. */
export const CONVOY_VERSION: string = (
  await import('../../../package.json', { with: { type: 'json' } })
).default.version

export { BASE_CAPABILITIES }

/** The platform name of convoy's own artifact: a Node.js bundle that runs wherever Node 24 does. */
export const DEFAULT_PLATFORM = 'node'

interface PeerEntry {
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

interface ClaimState {
  byPeer: Map<string, number>
  since?: number
  failedLookups: number
}

type Services = {
  identify: ReturnType<ReturnType<typeof identify>>
  ping: unknown
  dht: KadDHT
  artifacts: ArtifactService
  reports: ReportService
}

/**
 * How many peers are in a kad-dht routing table. kad-dht's public `KadDHT` type leaves the table
 * out; the single-DHT implementation has it, and callers need it to know a node has joined.
 */
export function routingTableSize(dht: KadDHT): number {
  return (dht as unknown as { routingTable: { size: number } }).routingTable.size
}

/** DHT key of a channel's newest manifest. */
export function latestKey(network: string, channel: string): Uint8Array {
  return utf8(formatDhtKey({ kind: 'latest', network, channel }))
}
/** DHT key of one manifest by sequence (the history a late joiner backfills). */
export function sequenceKey(network: string, channel: string, sequence: number): Uint8Array {
  return utf8(formatDhtKey({ kind: 'sequence', network, channel, sequence }))
}
/** DHT key of root `version`. */
export function rootKey(network: string, version: number): Uint8Array {
  return utf8(formatDhtKey({ kind: 'root', network, version }))
}

/** Peers remembered at most (connected ones are never forgotten; see forgetOnePeer). */
const MAX_PEER_ENTRIES = 4096

/** Most entries of {@link NodeStatus.knownAddrs}. */
export const MAX_KNOWN_ADDRS = 2000

/** How many older manifests a node fetches behind the newest, to count distances. */
const HISTORY_BACKFILL = 8
/** How often a node puts the latest manifest into the DHT again, ms (randomised +-25%). */
const REPUBLISH_MS = 6 * 3_600_000
/** How often a node recomputes which releases its reports halt, ms. */
const HALT_REFRESH_MS = 5000
/** Peers a node pushes a new sequence to. */
const ANNOUNCE_FANOUT = 8

/** A running convoy node. */
export class ConvoyNode {
  readonly libp2p: Libp2p<Services>
  readonly store: NodeStore
  readonly network: NetworkConfig
  readonly channel: string
  readonly version: string
  readonly role: 'node' | 'publisher' | 'shadow'
  readonly platform: string
  private trust: TrustState
  private readonly init: ConvoyNodeInit
  private readonly now: () => number
  private readonly peers = new Map<string, PeerEntry>()
  private readonly claims = new Map<string, ClaimState>()
  private readonly counters: Record<string, number> = {
    hello_ok: 0,
    hello_failed: 0,
    misbehaviour: 0,
    records_accepted: 0,
    manifests_from_peers: 0,
    records_rejected: 0,
    lookups: 0,
    pruned: 0,
    artifacts_fetched: 0,
  }
  private readonly startedAt: number
  private lookupTimer?: NodeJS.Timeout
  private bootstrapTimer?: NodeJS.Timeout
  private republishTimer?: NodeJS.Timeout
  private lookupRunning?: Promise<void>
  private lookupAgain = false
  private stopped = false
  private persistChain: Promise<void> = Promise.resolve()
  /** Artifacts being fetched, by sha256, with what status shows of them. */
  private readonly fetching = new Map<string, FetchStatus>()
  private fetchAbort?: AbortController
  private readonly capabilities: string[]

  private constructor(
    init: ConvoyNodeInit,
    store: NodeStore,
    trust: TrustState,
    libp2p: Libp2p<Services>,
  ) {
    this.init = init
    this.store = store
    this.trust = trust
    this.libp2p = libp2p
    this.network = init.network
    this.channel = init.channel ?? 'stable'
    this.version = init.version ?? CONVOY_VERSION
    this.role = init.role ?? 'node'
    this.platform = init.platform ?? DEFAULT_PLATFORM
    this.now = init.now ?? Date.now
    this.startedAt = this.now()
    // A DHT client serves no kad protocol, so it does not claim one.
    const base =
      this.role === 'node' ? BASE_CAPABILITIES : BASE_CAPABILITIES.filter((c) => c !== 'kad/1')
    this.capabilities = [...(init.capabilities ?? base)].sort()
  }

  /** Opens the data dir, rebuilds trust, and assembles (but does not start) libp2p. */
  static async create(init: ConvoyNodeInit): Promise<ConvoyNode> {
    const store = new NodeStore(init.dataDir)
    await store.open()
    try {
      const now = (init.now ?? Date.now)()
      const { state } = await store.loadTrust(init.network.anchor, now, opensslVerify)
      const privateKey = await store.identity()
      let node: ConvoyNode | undefined
      const libp2p = await ConvoyNode.assemble(init, privateKey, store, () => node!)
      node = new ConvoyNode(init, store, state, libp2p)
      return node
    } catch (e) {
      await store.close()
      throw e
    }
  }

  private static async assemble(
    init: ConvoyNodeInit,
    privateKey: PrivateKey,
    store: NodeStore,
    self: () => ConvoyNode,
  ): Promise<Libp2p<Services>> {
    const net = init.network.network
    return createLibp2p({
      privateKey,
      start: false,
      addresses: { listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        maxConnections: init.maxConnections ?? 100,
        // libp2p's default (5 per second per host) resets peers that share one address, such as a
        // testnet on one machine or many nodes behind one NAT; 50 still stops a connection flood.
        inboundConnectionThreshold: init.inboundConnectionThreshold ?? 50,
        maxIncomingPendingConnections: 32,
      },
      nodeInfo: {
        name: 'convoy',
        version: init.version ?? CONVOY_VERSION,
        userAgent: `convoy/${init.version ?? CONVOY_VERSION}`,
      },
      services: {
        identify: identify({ protocolPrefix: `convoy/${net}` }),
        ping: ping({ protocolPrefix: `convoy/${net}` }),
        dht: kadDHT({
          protocol: `/convoy/${net}/kad/1.0.0`,
          clientMode: (init.role ?? 'node') !== 'node',
          peerInfoMapper: passthroughMapper,
          allowQueryWithZeroPeers: true,
          validators: {
            'convoy-rel': async (key, value) => self().validateReleaseRecord(key, value),
            'convoy-root': async (key, value) => self().validateRootRecord(key, value),
          },
          selectors: {
            'convoy-rel': (key, records) => self().selectReleaseRecord(key, records),
            'convoy-root': (key, records) => self().selectRootRecord(key, records),
          },
        }),
        artifacts: artifacts({
          network: net,
          storeDir: store.artifactsDir,
          ...(init.artifactOptions ?? {}),
        }),
        // A shadow must not speak for the node, nor a publisher for anyone: neither carries reports.
        reports: reports({
          network: net,
          relay: (init.role ?? 'node') === 'node',
          isKnownRelease: (digest) => self().knowsRelease(digest),
          onMisbehaviour: (peer, reason) => self().onReportFault(peer, reason),
          ...(init.now ? { now: init.now } : {}),
        }),
      },
    }) as Promise<Libp2p<Services>>
  }

  private emit(line: string): void {
    this.init.log?.(line)
  }

  /** Starts libp2p, the hello protocol, bootstrap dials and periodic lookups. */
  async start(): Promise<void> {
    const lp = this.libp2p
    await lp.start()
    await lp.handle(
      helloProtocol(this.network.network),
      (stream, connection) => {
        void answerHello(stream, this.helloSide())
          .then((outcome) => this.onHello(connection, outcome))
          .catch((e) => this.onHelloFault(connection, e, stream))
      },
      { maxInboundStreams: 4 },
    )
    await lp.handle(
      manifestProtocol(this.network.network),
      (stream) =>
        void serveManifest(
          stream,
          (channel, rootVersion) => this.offerFor(channel, rootVersion),
          5000,
        ),
      { maxInboundStreams: 4 },
    )
    lp.addEventListener('connection:open', (evt) => {
      const conn = evt.detail
      if (conn.direction === 'outbound') void this.runHello(conn)
      this.enforceLimit()
    })
    lp.addEventListener('peer:identify', (evt) => {
      const entry = this.entry(evt.detail.peerId)
      entry.protocols = evt.detail.protocols
      entry.agent = evt.detail.agentVersion
      this.rerank(entry)
    })
    lp.addEventListener('peer:disconnect', (evt) => {
      for (const c of this.claims.values()) c.byPeer.delete(evt.detail.toString())
    })
    lp.addEventListener('connection:prune', (evt) => {
      this.counters.pruned! += evt.detail.length
      for (const c of evt.detail)
        this.emit(
          `pruned connection to ${c.remotePeer.toString()} (rank ${this.peers.get(c.remotePeer.toString())?.rank?.rank ?? 'pending'})`,
        )
    })
    await this.dialBootstrap()
    // A node started before its bootstrap peers, or cut off later, keeps trying every 5 s.
    this.bootstrapTimer = setInterval(() => {
      if (!this.stopped && this.libp2p.getConnections().length === 0) void this.dialBootstrap()
    }, 5000)
    this.bootstrapTimer.unref()
    if (this.role === 'node') {
      await this.announceHeldArtifacts()
      this.scheduleLookup(500)
      // DHT nodes forget records after 36 h: every node that trusts the latest manifest puts it
      // (and the roots behind it) again every 6 h or so, so a network outlives its publisher.
      this.republishTimer = setInterval(() => void this.republish(), jitter(REPUBLISH_MS))
      this.republishTimer.unref()
      this.haltTimer = setInterval(() => void this.refreshHalted(), HALT_REFRESH_MS)
      this.haltTimer.unref()
    }
  }

  /** Digests of this channel's releases that the reports this node holds halt. */
  private halted: ReadonlySet<string> = new Set()
  private haltTimer?: NodeJS.Timeout
  private readonly policies = new Map<string, RolloutPolicy>()

  /**
   * Recomputes which releases the network halted, from the reports this node holds and each
   * release's signed policy (the same `summarize` the supervisor runs), and reranks peers when
   * that changed.
   */
  async refreshHalted(): Promise<void> {
    const next = new Set<string>()
    for (const r of this.trust.channels[this.channel]?.releases ?? []) {
      if (r.digest === undefined) continue
      let policy = this.policies.get(r.digest)
      if (policy === undefined) {
        const bytes = await this.store.readManifest(this.channel, r.sequence)
        const d = bytes ? decodeRelease(bytes) : undefined
        if (!d?.ok) continue
        policy = d.value.signed.rollout
        this.policies.set(r.digest, policy)
      }
      const reports = this.libp2p.services.reports.reportsFor(r.digest)
      if (reports.length > 0 && summarize(reports, policy).halt) next.add(r.digest)
    }
    const changed = next.size !== this.halted.size || [...next].some((d) => !this.halted.has(d))
    this.halted = next
    if (changed) {
      this.emit(
        `halted releases: ${next.size === 0 ? 'none' : [...next].map((d) => d.slice(0, 12)).join(', ')}`,
      )
      this.rerankAll()
    }
  }

  /** Stops everything and releases the data dir. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.lookupTimer) clearTimeout(this.lookupTimer)
    if (this.announceTimer) clearTimeout(this.announceTimer)
    if (this.bootstrapTimer) clearInterval(this.bootstrapTimer)
    if (this.republishTimer) clearInterval(this.republishTimer)
    if (this.haltTimer) clearInterval(this.haltTimer)
    this.fetchAbort?.abort(new Error('node stopping'))
    await this.libp2p.stop()
    await this.persistChain.catch(() => {})
    await this.store.close()
  }

  private async dialBootstrap(): Promise<void> {
    await Promise.all(
      this.network.bootstrap.map(async (addr) => {
        try {
          await this.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(5000) })
        } catch (e) {
          this.emit(`bootstrap ${addr} unreachable: ${(e as Error).message}`)
        }
      }),
    )
  }

  /** Dials a peer by multiaddr (tests and the CLI use it to join). */
  async dial(addr: string): Promise<void> {
    await this.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(5000) })
  }

  // ---------------------------------------------------------------- hello

  private ownHello(): Hello {
    const sequences: Record<string, number> = {}
    for (const [ch, t] of Object.entries(this.trust.channels))
      if (t.latest) sequences[ch] = t.latest.sequence
    return {
      network: this.network.network,
      version: this.version,
      channel: this.channel,
      capabilities: this.capabilities,
      sequences: this.init.claimSequences ?? sequences,
      rootVersion: currentRoot(this.trust).version,
      role: this.role,
    }
  }

  private helloSide() {
    return {
      ownHello: () => this.ownHello(),
      judge: (peerHello: Hello) => this.verdictFor(this.rankOf(peerHello, undefined)),
      timeoutMs: this.init.helloTimeoutMs ?? 5000,
    }
  }

  private async runHello(conn: Connection): Promise<void> {
    if (this.stopped || conn.status !== 'open') return
    let stream: Awaited<ReturnType<Connection['newStream']>>
    try {
      stream = await conn.newStream(helloProtocol(this.network.network), {
        signal: AbortSignal.timeout(this.init.helloTimeoutMs ?? 5000),
      })
    } catch {
      // The peer does not speak convoy's hello on this network (or went away): not misbehaviour.
      this.counters.hello_failed!++
      return
    }
    try {
      this.onHello(conn, await openHello(stream, this.helloSide()))
    } catch (e) {
      this.onHelloFault(conn, e, stream)
    }
  }

  private onHelloFault(
    conn: Connection,
    e: unknown,
    stream: { abort: (err: Error) => void },
  ): void {
    this.counters.hello_failed!++
    stream.abort(e instanceof Error ? e : new Error(String(e)))
    if (e instanceof HelloFault && e.kind !== 'closed') {
      const entry = this.entry(conn.remotePeer)
      entry.misbehaviour++
      this.counters.misbehaviour!++
      this.emit(
        `hello from ${conn.remotePeer.toString()} refused (${e.kind}): ${e.message}; closing`,
      )
      void conn.close().catch(() => conn.abort(e))
    }
  }

  private onHello(conn: Connection, outcome: HelloOutcome): void {
    this.counters.hello_ok!++
    const entry = this.entry(conn.remotePeer)
    entry.hello = outcome.peerHello
    entry.verdictOnUs = outcome.verdictOnUs
    entry.lastSeen = this.now()
    if (outcome.peerHello.rootVersion > this.rootHint) this.rootHint = outcome.peerHello.rootVersion
    this.rerank(entry)
    const h = outcome.peerHello
    if (h.role === 'shadow') return
    for (const [channel, seq] of Object.entries(h.sequences))
      this.noteClaim(conn.remotePeer.toString(), channel, seq)
  }

  private entry(peerId: PeerId): PeerEntry {
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
    const connected = new Set(this.libp2p.getConnections().map((c) => c.remotePeer.toString()))
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

  // ---------------------------------------------------------------- ranking

  private rankOf(h: Hello, protocols: string[] | undefined): PeerRank {
    const channel = h.channel
    if (h.role !== 'node') {
      // A publisher's or a shadow's version says nothing about the network: it is a tool run
      // briefly, not a peer to keep. Never deranked for it, never a reason to derank anyone.
      return {
        rank: 'unverified',
        reasons: [`${h.role}, not a node`],
        excludeAsProvider: h.role === 'shadow',
        tagValue: RANK_TAG_VALUE.unverified,
      }
    }
    return rankPeer(
      { version: h.version, capabilities: h.capabilities },
      {
        // Halted releases do not count: staying off one is what the network asked of everyone.
        history: withoutReleases(channelHistory(this.trust, channel), this.halted),
        capabilitiesOf: (v) => capabilitiesOf(this.trust, channel, v),
        ...(protocols !== undefined
          ? { backedCapabilities: backedCapabilities(this.network.network, protocols) }
          : {}),
      },
    )
  }

  private verdictFor(rank: PeerRank): Verdict {
    const latest = this.trust.channels[this.channel]?.latest
    const status = rank.rank === 'deranked' ? 'outdated' : rank.rank === 'normal' ? 'ok' : rank.rank
    return {
      status,
      ...(latest ? { current: { version: latest.version, sequence: latest.sequence } } : {}),
      reasons: rank.reasons.slice(0, 8).map((r) => r.slice(0, 256)),
    }
  }

  private rerank(entry: PeerEntry): void {
    if (entry.hello === undefined) return
    const before = entry.rank?.rank
    entry.rank = this.rankOf(entry.hello, entry.protocols)
    if (before !== entry.rank.rank && before !== undefined) {
      this.emit(
        `peer ${entry.peerId.toString()} rank ${before} -> ${entry.rank.rank}${entry.rank.reasons.length ? `: ${entry.rank.reasons.join('; ')}` : ''}`,
      )
    }
    void this.libp2p.peerStore
      .merge(entry.peerId, { tags: { 'convoy-rank': { value: entry.rank.tagValue } } })
      .catch(() => {})
    this.enforceLimit()
  }

  /**
   * Over the connection limit, close deranked peers first, then suspicious ones. libp2p's own
   * pruner sorts by the same tags but skips connections with streams it does not know how to
   * close (every convoy protocol), so the node carries out its rule itself.
   */
  private enforceLimit(): void {
    const max = this.init.maxConnections ?? 100
    const conns = this.libp2p.getConnections()
    let excess = conns.length - max
    if (excess <= 0) return
    for (const worst of ['deranked', 'suspicious'] as const) {
      for (const c of conns) {
        if (excess <= 0) return
        if (this.peers.get(c.remotePeer.toString())?.rank?.rank !== worst) continue
        excess--
        this.counters.pruned!++
        this.emit(
          `over the limit of ${max} connections: closing ${worst} peer ${c.remotePeer.toString()}`,
        )
        void c.close().catch((e: Error) => c.abort(e))
      }
    }
  }

  private rerankAll(): void {
    for (const e of this.peers.values()) this.rerank(e)
  }

  // ---------------------------------------------------------------- claims and freeze

  private noteClaim(peer: string, channel: string, sequence: number): void {
    // Only channels this node follows or trusts a manifest of: a claim on any other is nothing
    // it can act on, and keeping it let one peer grow /status without bound (16 new names a hello).
    if (channel !== this.channel && this.trust.channels[channel] === undefined) return
    let c = this.claims.get(channel)
    if (c === undefined) {
      c = { byPeer: new Map(), failedLookups: 0 }
      this.claims.set(channel, c)
    }
    c.byPeer.set(peer, sequence)
    const verified = this.trust.channels[channel]?.latest?.sequence ?? 0
    if (sequence > verified && channel === this.channel) {
      c.since ??= this.now()
      void this.fetchFromPeer(peer, channel, sequence)
    }
  }

  private readonly peerFetches = new Set<string>()
  /**
   * Asks the peer that claimed a newer sequence for it directly (one round trip), verifying what
   * arrives exactly like a DHT record. Falls back to a DHT lookup when the peer cannot show it.
   */
  private async fetchFromPeer(peer: string, channel: string, sequence: number): Promise<void> {
    const entry = this.peers.get(peer)
    if (entry === undefined || this.peerFetches.has(peer) || this.stopped) return
    this.peerFetches.add(peer)
    try {
      const stream = await this.libp2p.dialProtocol(
        entry.peerId,
        manifestProtocol(this.network.network),
        { signal: AbortSignal.timeout(5000) },
      )
      const offer = await requestManifest(stream, channel, currentRoot(this.trust).version, 5000)
      for (const r of offer.roots) await this.ingestRoot(r)
      if (offer.manifest && (await this.ingestRelease(offer.manifest)))
        this.counters.manifests_from_peers!++
    } catch (e) {
      this.emit(`manifest from ${peer.slice(-8)} not fetched: ${(e as Error).message}`)
    } finally {
      this.peerFetches.delete(peer)
    }
    if ((this.trust.channels[channel]?.latest?.sequence ?? 0) < sequence) this.scheduleLookup(0)
  }

  /** What this node can show a peer that asks: roots newer than the peer's, and the latest manifest. */
  private async offerFor(
    channel: string,
    rootVersion: number,
  ): Promise<{ roots: Uint8Array[]; manifest?: Uint8Array }> {
    const roots: Uint8Array[] = []
    for (const r of this.trust.roots) {
      if (r.version <= rootVersion || r.version <= this.network.anchor.version) continue
      const bytes = await this.store.readRoot(r.version)
      if (bytes) roots.push(bytes)
    }
    // What is trusted is persisted first; wait for any write in flight so the offer is complete.
    await this.persistChain.catch(() => {})
    const latest = this.trust.channels[channel]?.latest
    const manifest = latest ? await this.store.readManifest(channel, latest.sequence) : undefined
    return { roots, ...(manifest ? { manifest } : {}) }
  }

  private freezeStatus(channel: string): FreezeStatus {
    const c = this.claims.get(channel)
    const verified = this.trust.channels[channel]?.latest?.sequence ?? 0
    let claimed = 0
    let by = 0
    for (const s of c?.byPeer.values() ?? []) {
      claimed = Math.max(claimed, s)
      if (s > verified) by++
    }
    const gap = claimed > verified
    const suspected = gap && (c?.failedLookups ?? 0) >= 2
    return {
      channel,
      suspected,
      claimedSequence: claimed,
      verifiedSequence: verified,
      claimedBy: by,
      ...(gap && c?.since !== undefined ? { since: c.since } : {}),
      ...(suspected
        ? {
            reason: `${by} peer(s) claim sequence ${claimed} but only ${verified} could be verified after ${c?.failedLookups} lookups: a freeze or eclipse is possible; lookups widened`,
          }
        : {}),
    }
  }

  // ---------------------------------------------------------------- DHT records

  /**
   * The verdict on a release record under `key`, with no side effect: the validator counts and
   * ingests on top of it, the selector only sorts by it.
   */
  private releaseRecordVerdict(key: Uint8Array, value: Uint8Array): Result<VerifiedRelease> {
    const k = parseDhtKey(new TextDecoder().decode(key))
    if (k === undefined || k.kind === 'root' || k.network !== this.network.network) {
      return fail('malformed', 'record key is not a canonical convoy release key of this network')
    }
    return checkReleaseRecord(this.trust, value, {
      channel: k.channel,
      now: this.now(),
      verify: opensslVerify,
      ...(k.kind === 'sequence' ? { sequence: k.sequence } : {}),
    })
  }

  /** kad-dht validator for /convoy-rel/<network>/<channel>[/<sequence>]. Throws to refuse. */
  validateReleaseRecord(key: Uint8Array, value: Uint8Array): void {
    const r = this.releaseRecordVerdict(key, value)
    if (!r.ok) {
      this.counters.records_rejected!++
      throw new RecordRejectedError(r.reason)
    }
    this.counters.records_accepted!++
    // A record good enough to store is good enough to trust: learn it now, not at the next lookup.
    queueMicrotask(() => void this.ingestRelease(value))
  }

  /** The verdict on a root record under `key`, with no side effect. */
  private rootRecordVerdict(key: Uint8Array, value: Uint8Array): string | undefined {
    const k = parseDhtKey(new TextDecoder().decode(key))
    const r = acceptRoot(this.trust, value, { now: this.now(), verify: opensslVerify })
    if (k?.kind !== 'root' || k.network !== this.network.network) {
      return 'record key is not a canonical convoy root key of this network'
    }
    if (!r.ok) return r.reason
    return r.value.root.version === k.version ? undefined : 'record key does not match the root'
  }

  /** kad-dht validator for /convoy-root/<network>/<version>. */
  validateRootRecord(key: Uint8Array, value: Uint8Array): void {
    const problem = this.rootRecordVerdict(key, value)
    if (problem !== undefined) {
      this.counters.records_rejected!++
      throw new RecordRejectedError(problem)
    }
    this.counters.records_accepted!++
    queueMicrotask(() => void this.ingestRoot(value))
  }

  /**
   * kad-dht selector: the highest verified sequence wins; unverifiable records never do. Pure:
   * it judges each record as the validator would, but counts nothing and ingests nothing.
   */
  selectReleaseRecord(key: Uint8Array, records: Uint8Array[]): number {
    let best = 0
    let bestSeq = -1
    records.forEach((rec, i) => {
      const r = this.releaseRecordVerdict(key, rec)
      if (r.ok && r.value.signed.sequence > bestSeq) {
        best = i
        bestSeq = r.value.signed.sequence
      }
    })
    return best
  }

  /** kad-dht selector for roots: the first record that verifies against the chain. Pure. */
  selectRootRecord(key: Uint8Array, records: Uint8Array[]): number {
    const i = records.findIndex((rec) => this.rootRecordVerdict(key, rec) === undefined)
    return Math.max(0, i)
  }

  private persist(work: () => Promise<void>): Promise<void> {
    this.persistChain = this.persistChain.then(work, work)
    return this.persistChain
  }

  /** Verifies and records a root; persists it before anything acts on it. */
  async ingestRoot(bytes: Uint8Array): Promise<boolean> {
    const r = acceptRoot(this.trust, bytes, { now: this.now(), verify: opensslVerify })
    if (!r.ok || !r.value.isNew) return false
    this.trust = r.value.state
    await this.persist(() => this.store.saveRoot(r.value.root.version, bytes))
    this.emit(`trusted root v${r.value.root.version}`)
    return true
  }

  /** Verifies and records a manifest; persists it (and the raised floor) before acting on it. */
  async ingestRelease(bytes: Uint8Array): Promise<boolean> {
    const r = acceptRelease(this.trust, bytes, { now: this.now(), verify: opensslVerify })
    if (!r.ok || !r.value.isNew) return false
    const { release, isLatest } = r.value
    this.trust = r.value.state
    const s = release.signed
    await this.persist(async () => {
      await this.store.saveManifest(s.channel, s.sequence, bytes)
      await this.store.saveFloor(this.trust)
    })
    this.emit(
      `verified manifest ${s.channel} ${s.version} (sequence ${s.sequence})${isLatest ? ' [latest]' : ''}`,
    )
    this.rerankAll()
    if (isLatest && s.channel === this.channel) {
      const c = this.claims.get(s.channel)
      if (c) {
        c.failedLookups = 0
        if (this.freezeStatus(s.channel).claimedSequence <= s.sequence) delete c.since
      }
      this.announce()
      if (this.role === 'node' && this.init.fetchArtifacts !== false) {
        // A newer release supersedes the fetch of an older one.
        this.fetchAbort?.abort(new Error(`superseded by ${s.version}`))
        this.fetchAbort = new AbortController()
        const signal = AbortSignal.any([this.fetchAbort.signal, AbortSignal.timeout(30 * 60_000)])
        void this.fetchReleaseArtifact(s, { signal })
      }
      // History backfill can wait: a jittered lookup, not a stampede of every node at once.
      this.scheduleLookup(2000 + Math.random() * 8000)
    }
    return true
  }

  private announceTimer?: NodeJS.Timeout
  /** Re-runs hello with every connected peer so they learn the new sequence quickly. */
  private announce(): void {
    if (this.announceTimer || this.stopped) return
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined
      const ours = this.trust.channels[this.channel]?.latest?.sequence ?? 0
      const claims = this.claims.get(this.channel)?.byPeer
      // Push to a few random peers that have not said they have it (epidemic spread: every node
      // that learns pushes on, so the whole network hears in O(log n) rounds without a flood).
      const targets = this.libp2p
        .getConnections()
        .filter((c) => (claims?.get(c.remotePeer.toString()) ?? 0) < ours)
        .sort(() => Math.random() - 0.5)
        .slice(0, ANNOUNCE_FANOUT)
      for (const conn of targets) void this.runHello(conn)
    }, 200)
  }

  // ---------------------------------------------------------------- lookups

  private scheduleLookup(delayMs: number): void {
    if (this.stopped || this.role !== 'node') return
    if (this.lookupRunning) {
      this.lookupAgain = true
      return
    }
    if (this.lookupTimer) clearTimeout(this.lookupTimer)
    this.lookupTimer = setTimeout(() => {
      this.lookupTimer = undefined
      this.lookupRunning = this.lookup()
        .catch((e) => this.emit(`lookup failed: ${(e as Error).message}`))
        .finally(() => {
          this.lookupRunning = undefined
          const base = this.init.lookupIntervalMs ?? 60_000
          const gap =
            this.freezeStatus(this.channel).claimedSequence >
            (this.trust.channels[this.channel]?.latest?.sequence ?? 0)
          const again = this.lookupAgain
          this.lookupAgain = false
          // Widen while peers claim more than we can verify: look four times as often.
          this.scheduleLookup(again ? 250 : gap ? Math.max(250, base / 4) : jitter(base))
        })
    }, delayMs)
  }

  /**
   * Collects the values a DHT query finds, stopping early once `enough` says a value will do
   * (a query that runs to exhaustion on a quiet key can take seconds).
   */
  private async dhtGetAll(
    key: Uint8Array,
    timeoutMs = 8000,
    enough?: (v: Uint8Array) => boolean,
  ): Promise<Uint8Array[]> {
    const values: Uint8Array[] = []
    const stop = new AbortController()
    try {
      const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)])
      for await (const ev of this.libp2p.services.dht.get(key, { signal })) {
        if (ev.name !== 'VALUE') continue
        values.push(ev.value)
        if (enough?.(ev.value)) {
          stop.abort()
          break
        }
      }
    } catch {
      // Not found, or timed out: whatever arrived is still usable.
    }
    return values
  }

  private lookupRound = 0
  private rootHint = 0
  private readonly backfillTried = new Map<number, number>()

  /** One round of DHT lookups: newer roots, the channel's newest manifest, then missing history. */
  async lookup(): Promise<void> {
    this.counters.lookups!++
    this.lookupRound++
    // Roots change rarely: look when a peer reports a newer one, and every fifth round.
    if (this.rootHint > currentRoot(this.trust).version || this.lookupRound % 5 === 1) {
      for (let i = 0; i < 8; i++) {
        const next = currentRoot(this.trust).version + 1
        let advanced = false
        for (const v of await this.dhtGetAll(
          rootKey(this.network.network, next),
          3000,
          () => true,
        )) {
          if (await this.ingestRoot(v)) advanced = true
        }
        if (!advanced) break
      }
    }
    const before = this.trust.channels[this.channel]?.latest?.sequence ?? 0
    const want = Math.max(before + 1, this.freezeStatus(this.channel).claimedSequence)
    const good = (v: Uint8Array) => {
      const d = decodeRelease(v)
      return d.ok && d.value.signed.sequence >= want
    }
    for (const v of await this.dhtGetAll(
      latestKey(this.network.network, this.channel),
      8000,
      good,
    )) {
      await this.ingestRelease(v)
    }
    const latest = this.trust.channels[this.channel]?.latest?.sequence ?? 0
    const c = this.claims.get(this.channel)
    if (
      c !== undefined &&
      this.freezeStatus(this.channel).claimedSequence > latest &&
      latest <= before
    ) {
      c.failedLookups++
      if (c.failedLookups === 2)
        this.emit(`freeze suspected on ${this.channel}: ${this.freezeStatus(this.channel).reason}`)
    }
    // History, for counting distances: each missing sequence at most once every five minutes.
    const known = new Set(
      (this.trust.channels[this.channel]?.releases ?? []).map((r) => r.sequence),
    )
    const now = this.now()
    for (let seq = latest - 1; seq >= Math.max(1, latest - HISTORY_BACKFILL); seq--) {
      if (known.has(seq) || now - (this.backfillTried.get(seq) ?? 0) < 5 * 60_000) continue
      this.backfillTried.set(seq, now)
      for (const v of await this.dhtGetAll(
        sequenceKey(this.network.network, this.channel, seq),
        3000,
        () => true,
      )) {
        await this.ingestRelease(v)
      }
    }
  }

  // ---------------------------------------------------------------- publishing

  /**
   * Puts a manifest (and the roots a node needs to verify it) into the DHT. Returns how many
   * peers confirmed storing each record. The manifest must verify against this node's trust.
   */
  async publish(
    releaseBytes: Uint8Array,
    roots: Uint8Array[] = [],
    options: { signal?: AbortSignal } = {},
  ): Promise<{ release: ReleaseSigned; confirmations: Record<string, number> }> {
    if (this.role === 'shadow')
      throw new RoleRefusedError(
        'a shadow node makes no DHT puts: publish from a node or a publisher',
      )
    for (const r of [...roots].sort((a, b) => rootVersionOf(a) - rootVersionOf(b))) {
      if (rootVersionOf(r) > this.network.anchor.version) await this.ingestRoot(r)
    }
    const accepted = acceptRelease(this.trust, releaseBytes, {
      now: this.now(),
      verify: opensslVerify,
    })
    if (!accepted.ok) throw new RecordRejectedError(accepted.reason)
    await this.ingestRelease(releaseBytes)
    const s = accepted.value.release.signed
    const confirmations: Record<string, number> = {}
    const net = this.network.network
    const puts: Array<[string, Uint8Array, Uint8Array]> = []
    for (const root of this.trust.roots.slice(1)) {
      const bytes = await this.store.readRoot(root.version)
      if (bytes) puts.push([`root v${root.version}`, rootKey(net, root.version), bytes])
    }
    puts.push([`${s.channel}/${s.sequence}`, sequenceKey(net, s.channel, s.sequence), releaseBytes])
    puts.push([`${s.channel} latest`, latestKey(net, s.channel), releaseBytes])
    for (const [label, key, value] of puts) {
      let n = 0
      try {
        for await (const ev of this.libp2p.services.dht.put(key, value, {
          signal: options.signal ?? AbortSignal.timeout(20_000),
        })) {
          if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') n++
        }
      } catch (e) {
        this.emit(`put ${label}: ${(e as Error).message}`)
      }
      confirmations[label] = n
    }
    return { release: s, confirmations }
  }

  /** Puts the channel's latest manifest (and the roots behind it) into the DHT again. */
  async republish(): Promise<void> {
    const latest = this.trust.channels[this.channel]?.latest
    if (this.stopped || latest === undefined) return
    const bytes = await this.store.readManifest(this.channel, latest.sequence)
    if (bytes === undefined) return
    try {
      await this.publish(bytes, [], { signal: AbortSignal.timeout(60_000) })
    } catch (e) {
      this.emit(`republish failed: ${(e as Error).message}`)
    }
  }

  // ---------------------------------------------------------------- artifacts

  private providerExcluded(peer: PeerId): boolean {
    const e = this.peers.get(peer.toString())
    return e?.rank?.excludeAsProvider === true || e?.hello?.role === 'shadow'
  }

  /**
   * On start: announce the artifacts this node holds, and resume fetching the newest release's
   * artifact if an earlier run did not finish it.
   */
  private async announceHeldArtifacts(): Promise<void> {
    for (const [channel, t] of Object.entries(this.trust.channels)) {
      for (const r of t.releases.slice(-2)) {
        const bytes = await this.store.readManifest(channel, r.sequence)
        const d = bytes ? decodeRelease(bytes) : undefined
        const pin = d?.ok ? d.value.signed.artifacts[this.platform] : undefined
        if (pin === undefined) continue
        if (await this.libp2p.services.artifacts.has(pin.sha256)) {
          void announceArtifact(this.libp2p.services.dht, pin.sha256, {
            signal: AbortSignal.timeout(30_000),
          }).catch(() => {})
        } else if (
          d?.ok &&
          channel === this.channel &&
          r.sequence === t.latest?.sequence &&
          this.init.fetchArtifacts !== false
        ) {
          this.fetchAbort = new AbortController()
          void this.fetchReleaseArtifact(d.value.signed, { signal: this.fetchAbort.signal })
        }
      }
    }
  }

  /** Fetches the artifact of a verified release from peers, then announces itself as a provider. */
  async fetchReleaseArtifact(
    s: ReleaseSigned,
    options: {
      signal?: AbortSignal
      onProgress?: (received: number, total: number, from: string) => void
    } = {},
  ): Promise<string | undefined> {
    // A shadow fetches nothing and announces nothing: its store is a copy it must not serve from.
    if (this.role === 'shadow') return undefined
    const pin = s.artifacts[this.platform]
    if (pin === undefined) {
      this.emit(`release ${s.version} has no artifact for platform ${this.platform}`)
      return undefined
    }
    if (this.fetching.has(pin.sha256)) return undefined
    const state: FetchStatus = {
      version: s.version,
      sha256: pin.sha256,
      received: 0,
      total: pin.length,
      providers: 0,
      since: this.now(),
    }
    this.fetching.set(pin.sha256, state)
    const log = options.onProgress ?? this.progressLogger(s.version, pin.length)
    let lastWait = ''
    try {
      const svc = this.libp2p.services.artifacts
      if (!(await svc.has(pin.sha256))) {
        const result = await svc.fetch(pin, {
          providers: async () => {
            const found = await this.findProviders(pin.sha256)
            state.providers = Math.max(state.providers, found.length)
            return found
          },
          onWait: (w) => {
            state.waiting = w.reason
            state.retryAt = this.now() + w.retryInMs
            state.providers = w.providers
            // Say it once per change, not every round.
            if (w.reason !== lastWait) {
              lastWait = w.reason
              this.emit(
                `artifact for ${s.version}: waiting (${w.reason}, ${w.providers} provider(s) known, ` +
                  `${w.received} of ${pin.length} bytes); retrying every few seconds`,
              )
            }
          },
          exclude: (p) => this.providerExcluded(p),
          onDrop: (peer, reason) => {
            if (reason !== 'wrong') return
            const e = this.peers.get(peer)
            if (e) e.misbehaviour++
            this.counters.misbehaviour!++
          },
          onProgress: (received, total, from) => {
            state.received = received
            lastWait = ''
            delete state.waiting
            delete state.retryAt
            log(received, total, from)
          },
          signal: options.signal ?? AbortSignal.timeout(30 * 60_000),
          deadlineMs: 30 * 60_000,
        })
        this.counters.artifacts_fetched!++
        this.emit(
          `artifact ${pin.sha256.slice(0, 12)} for ${s.version} fetched from ${result.peers.length} peer(s)`,
        )
      }
      await announceArtifact(this.libp2p.services.dht, pin.sha256, {
        signal: AbortSignal.timeout(30_000),
      }).catch(() => {})
      return `${this.store.artifactsDir}/${pin.sha256}`
    } catch (e) {
      this.emit(`artifact for ${s.version} not fetched: ${(e as Error).message}`)
      return undefined
    } finally {
      this.fetching.delete(pin.sha256)
    }
  }

  /** Logs a long transfer every tenth of the way, with its rate; short ones stay quiet. */
  private progressLogger(
    version: string,
    total: number,
  ): (received: number, total: number, from: string) => void {
    const started = Date.now()
    let nextTenth = 1
    return (received, _total, from) => {
      if (total < 4 * 1024 * 1024) return
      const tenth = Math.floor((received / total) * 10)
      if (tenth < nextTenth) return
      nextTenth = tenth + 1
      const mbps = received / 1e6 / Math.max(0.001, (Date.now() - started) / 1000)
      this.emit(
        `artifact ${version}: ${tenth * 10}% of ${(total / 1e6).toFixed(1)} MB at ${mbps.toFixed(1)} MB/s from ${from.slice(-8)}`,
      )
    }
  }

  /** Peers (other than this one) the DHT names as holding the artifact; looks for up to 8 s. */
  async artifactProviders(sha256: string): Promise<PeerId[]> {
    return this.findProviders(sha256)
  }

  private async findProviders(sha256: string): Promise<PeerId[]> {
    const out = new Map<string, PeerId>()
    try {
      for await (const ev of this.libp2p.services.dht.findProviders(artifactCid(sha256), {
        signal: AbortSignal.timeout(8000),
      })) {
        if (ev.name === 'PROVIDER')
          for (const p of ev.providers)
            if (!p.id.equals(this.libp2p.peerId)) out.set(p.id.toString(), p.id)
      }
    } catch {}
    return [...out.values()]
  }

  // ---------------------------------------------------------------- reports

  /** True when `digest` is the digest of a release manifest this node verified. */
  knowsRelease(digest: string): boolean {
    for (const t of Object.values(this.trust.channels))
      if (t.releases.some((r) => r.digest === digest)) return true
    return false
  }

  private onReportFault(peer: PeerId, reason: string): void {
    this.entry(peer).misbehaviour++
    this.counters.misbehaviour!++
    this.emit(`report from ${peer.toString()} refused: ${reason}`)
  }

  /**
   * Checks and holds an encoded signed report (from the local supervisor), then spreads it.
   * Refused on shadows and publishers (`disabled`). Never throws.
   */
  submitReport(bytes: Uint8Array): SubmitResult {
    return this.libp2p.services.reports.submit(bytes)
  }

  /** The verified reports this node holds for a release, one per reporter. */
  reportsFor(digest: string): Report[] {
    return this.libp2p.services.reports.reportsFor(digest)
  }

  /** `host:port` of every TCP address in the peer store, sorted, at most {@link MAX_KNOWN_ADDRS}. */
  async knownAddrs(): Promise<string[]> {
    const out = new Set<string>()
    for (const peer of await this.libp2p.peerStore.all()) {
      for (const a of peer.addresses) {
        const hp = tcpHostPort(a.multiaddr.getComponents())
        if (hp !== undefined) out.add(hp)
      }
    }
    return [...out].sort().slice(0, MAX_KNOWN_ADDRS)
  }

  // ---------------------------------------------------------------- status

  /** The trust state (read-only snapshot). */
  trustState(): TrustState {
    return this.trust
  }

  /** Everything `GET /status` shows. */
  async status(): Promise<NodeStatus> {
    const now = this.now()
    const connected = new Map<string, string>()
    for (const c of this.libp2p.getConnections())
      connected.set(c.remotePeer.toString(), c.remoteAddr.toString())
    const peers: PeerStatus[] = []
    const toldWeAre: Record<string, number> = {}
    for (const [id, e] of this.peers) {
      const isConnected = connected.has(id)
      // Disconnected peers stay listed for a while with their last rank: a runner can see who was
      // pruned or refused, and why.
      const recent = e.lastSeen !== undefined && now - e.lastSeen < 10 * 60_000
      if (!isConnected && e.misbehaviour === 0 && !recent) continue
      if (e.verdictOnUs && isConnected)
        toldWeAre[e.verdictOnUs.status] = (toldWeAre[e.verdictOnUs.status] ?? 0) + 1
      peers.push({
        peerId: id,
        ...(connected.get(id) ? { addr: connected.get(id)! } : {}),
        connected: isConnected,
        ...(e.hello
          ? {
              version: e.hello.version,
              channel: e.hello.channel,
              role: e.hello.role,
              capabilities: e.hello.capabilities,
            }
          : {}),
        ...(e.agent ? { agent: e.agent } : {}),
        rank: e.rank?.rank ?? 'pending',
        ...(e.rank?.behind !== undefined ? { behind: e.rank.behind } : {}),
        reasons: e.rank?.reasons ?? [],
        ...(e.verdictOnUs ? { saysWeAre: e.verdictOnUs.status } : {}),
        misbehaviour: e.misbehaviour,
      })
    }
    const manifests: ManifestStatus[] = []
    for (const [channel, t] of Object.entries(this.trust.channels)) {
      for (const r of t.releases.slice(-4)) {
        const bytes = await this.store.readManifest(channel, r.sequence)
        const d = bytes ? decodeRelease(bytes) : undefined
        if (!d?.ok) continue
        const pin = d.value.signed.artifacts[this.platform]
        manifests.push({
          channel,
          version: r.version,
          sequence: r.sequence,
          digest: r.digest,
          expires: d.value.signed.expires,
          expired: now >= Date.parse(d.value.signed.expires),
          artifactHeld: pin !== undefined && (await this.libp2p.services.artifacts.has(pin.sha256)),
        })
      }
    }
    const latest = latestRelease(channelHistory(this.trust, this.channel))
    const channels = new Set([this.channel, ...this.claims.keys()])
    const counters: Record<string, number> = { ...this.counters }
    const a = this.libp2p.services.artifacts.stats()
    counters.artifact_bytes_uploaded = a.bytesUploaded
    counters.artifact_bytes_downloaded = a.bytesDownloaded
    counters.artifact_providers_dropped_slow = a.providersDropped.slow
    counters.artifact_providers_dropped_wrong = a.providersDropped.wrong
    const rs = this.libp2p.services.reports.stats()
    counters.reports_accepted = rs.accepted
    counters.reports_duplicate = rs.duplicates
    counters.reports_refused = Object.values(rs.refused).reduce((x, y) => x + (y ?? 0), 0)
    counters.reports_misbehaviour = rs.misbehaviour
    counters.reports_sent = rs.sent
    return {
      peerId: this.libp2p.peerId.toString(),
      network: this.network.network,
      version: this.version,
      channel: this.channel,
      role: this.role,
      addresses: this.libp2p.getMultiaddrs().map((m) => m.toString()),
      rootVersion: currentRoot(this.trust).version,
      startedAt: this.startedAt,
      now,
      toldWeAre,
      peers: peers.sort((x, y) => (x.peerId < y.peerId ? -1 : 1)),
      manifests,
      ...(latest ? { latest: { version: latest.version, sequence: latest.sequence } } : {}),
      freeze: [...channels].map((c) => this.freezeStatus(c)),
      fetching: [...this.fetching.values()].map((f) => ({ ...f })),
      counters,
      evidence: this.libp2p.services.reports.evidence(),
      knownAddrs: await this.knownAddrs(),
    }
  }
}

function rootVersionOf(bytes: Uint8Array): number {
  try {
    return (JSON.parse(new TextDecoder().decode(bytes)) as { signed: { version: number } }).signed
      .version
  } catch {
    return 0
  }
}

/** `host:port` of a TCP multiaddr (ip4, ip6 as `[addr]:port`, or dns), else undefined. */
function tcpHostPort(parts: Array<{ name: string; value?: string }>): string | undefined {
  const [host, port] = parts
  if (host?.value === undefined || port?.name !== 'tcp' || port.value === undefined)
    return undefined
  if (host.name === 'ip4' || host.name.startsWith('dns')) return `${host.value}:${port.value}`
  if (host.name === 'ip6') return `[${host.value}]:${port.value}`
  return undefined
}

function jitter(ms: number): number {
  return Math.round(ms * (0.75 + Math.random() * 0.5))
}
