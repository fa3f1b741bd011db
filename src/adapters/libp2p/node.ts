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
import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeRelease, type ReleaseSigned } from '../../core/manifest/release.ts'
import type { Hello } from '../../core/net/hello.ts'
import type { NetworkConfig } from '../../core/net/network-config.ts'
import type { Report } from '../../core/rollout/evidence.ts'
import { summarize } from '../../core/rollout/evidence.ts'
import type { TrustState } from '../../core/trust/trust.ts'
import { BASE_CAPABILITIES } from '../../core/version/rank.ts'
import { opensslVerify } from '../crypto/ed25519.ts'
import { NodeStore } from '../fs/node-store.ts'
import { type CountedReports, NodeAdmission } from './admission.ts'
import { type Bandwidth, openBandwidth } from './bandwidth.ts'
import { datastoreOf } from './bounded-datastore.ts'
import { jitter, Lookups } from './lookups.ts'
import { assembleLibp2p } from './node-assemble.ts'
import { type ConvoyNodeInit, checkNodeInit, roleOf } from './node-init.ts'
import type { NodeParts, NodeState, Services } from './node-state.ts'
import { knownAddrs, nodeStatus } from './node-status.ts'
import { checkPeerAt, type PeerCheck } from './peer-check.ts'
import { PeerTable } from './peer-table.ts'
import { Records } from './records.ts'
import { ReleaseArtifacts, type ReleaseFetchOptions } from './release-artifacts.ts'
import type { SubmitResult } from './reports.ts'
import { Revocations } from './revocations.ts'
import type { NodeStatus } from './status.ts'
import { withDeadline } from './stream-budget.ts'

export { RecordRejectedError, RoleRefusedError } from './errors.ts'
export type { ConvoyNodeInit } from './node-init.ts'
export { MAX_KNOWN_ADDRS } from './node-status.ts'
export { latestKey, rootKey, routingTableSize, sequenceKey } from './records.ts'

/** Version of this convoy build, from package.json. */
export const CONVOY_VERSION: string = (
  await import('../../../package.json', { with: { type: 'json' } })
).default.version

export { BASE_CAPABILITIES }

/** The platform name of convoy's own artifact: a Node.js bundle that runs wherever Node 24 does. */
export const DEFAULT_PLATFORM = 'node'

/** How often a node puts the latest manifest into the DHT again, ms (randomised +-25%). */
const REPUBLISH_MS = 6 * 3_600_000
/** The first republish after start, ms (see `firstRepublishMs`). */
const FIRST_REPUBLISH_MS = 60_000
/** How often a node recomputes which releases its reports halt, ms. */
const HALT_REFRESH_MS = 5000

/** A running convoy node. */
export class ConvoyNode {
  readonly libp2p: Libp2p<Services>
  readonly store: NodeStore
  readonly network: NetworkConfig
  readonly channel: string
  readonly version: string
  readonly role: 'node' | 'publisher' | 'shadow'
  readonly platform: string
  private readonly init: ConvoyNodeInit
  /** What the parts below share: trust, counters, clock, log. */
  private readonly state: NodeState
  private readonly parts: NodeParts
  /** Peers, hello, ranking and pruning. */
  private readonly peerTable: PeerTable
  /** Claims, freeze detection and DHT lookups. */
  private readonly lookups: Lookups
  /** DHT records: validators, selectors, ingest, publish. */
  private readonly records: Records
  /** Release artifacts: fetch and announce. */
  private readonly releaseArtifacts: ReleaseArtifacts
  private readonly startedAt: number
  private bootstrapTimer?: NodeJS.Timeout
  private republishTimer?: NodeJS.Timeout
  private firstRepublishTimer?: NodeJS.Timeout

  private constructor(
    init: ConvoyNodeInit,
    store: NodeStore,
    trust: TrustState,
    libp2p: Libp2p<Services>,
    bandwidth: Bandwidth,
  ) {
    this.init = init
    this.store = store
    this.libp2p = libp2p
    this.network = init.network
    this.channel = init.channel ?? 'stable'
    this.version = init.version ?? CONVOY_VERSION
    this.role = roleOf(init)
    this.platform = init.platform ?? DEFAULT_PLATFORM
    const now = init.now ?? Date.now
    this.startedAt = now()
    // A DHT client serves no kad protocol, so it does not claim one.
    const base =
      this.role === 'node' ? BASE_CAPABILITIES : BASE_CAPABILITIES.filter((c) => c !== 'kad/1')
    const capabilities = [...(init.capabilities ?? base)].sort()
    this.state = {
      init,
      libp2p,
      store,
      network: this.network,
      channel: this.channel,
      version: this.version,
      role: this.role,
      platform: this.platform,
      now,
      bandwidth,
      counters: {
        budget_refused: 0,
        hello_ok: 0,
        hello_failed: 0,
        misbehaviour: 0,
        records_accepted: 0,
        manifests_from_peers: 0,
        records_rejected: 0,
        lookups: 0,
        pruned: 0,
        artifacts_fetched: 0,
      },
      trust,
      stopped: false,
      emit: (line) => this.emit(line),
    }
    const parts = {} as NodeParts
    parts.admission = new NodeAdmission({
      dataDir: store.dir,
      self: libp2p.peerId.toString(),
      now,
      knownNodes: () => this.peerTable.nodePeers(),
      ...(init.network.reporters ? { reporterSet: new Set(init.network.reporters) } : {}),
      emit: (line) => this.emit(line),
    })
    parts.peerTable = new PeerTable(this.state, parts, capabilities)
    parts.lookups = new Lookups(this.state, parts)
    parts.records = new Records(this.state, parts)
    parts.releaseArtifacts = new ReleaseArtifacts(this.state, parts)
    parts.revocations = new Revocations(this.state, parts)
    this.parts = parts
    this.peerTable = parts.peerTable
    this.lookups = parts.lookups
    this.records = parts.records
    this.releaseArtifacts = parts.releaseArtifacts
  }

  /** Opens the data dir, rebuilds trust, and assembles (but does not start) libp2p. */
  static async create(init: ConvoyNodeInit): Promise<ConvoyNode> {
    checkNodeInit(init)
    const store = new NodeStore(init.dataDir)
    await store.open()
    try {
      const now = (init.now ?? Date.now)()
      const { state } = await store.loadTrust(init.network.anchor, now, opensslVerify)
      const privateKey = await store.identity()
      const bandwidth = await openBandwidth(init, store.dir, now)
      let node: ConvoyNode | undefined
      const version = init.version ?? CONVOY_VERSION
      const libp2p = await assembleLibp2p(init, version, privateKey, store, bandwidth, {
        validateRelease: (key, value) => node!.validateReleaseRecord(key, value),
        validateRoot: (key, value) => node!.validateRootRecord(key, value),
        validateRevocation: (key, value) => node!.parts.revocations.validateRecord(key, value),
        selectRelease: (key, records) => node!.selectReleaseRecord(key, records),
        selectRoot: (key, records) => node!.selectRootRecord(key, records),
        selectRevocation: (key, records) => node!.parts.revocations.selectRecord(key, records),
        knowsRelease: (digest) => node!.knowsRelease(digest),
        standing: (r) => node!.parts.admission.standing(r),
        sawReport: (r) => node!.parts.admission.sawReport(r),
        onReportFault: (peer, reason) => node!.onReportFault(peer, reason),
        helloSide: () => node!.peerTable.helloSide(),
        onHello: (connection, outcome) => node!.peerTable.onHello(connection, outcome),
        onHelloFault: (connection, error) => node!.peerTable.onHelloFault(connection, error),
        offerFor: (channel, rootVersion) => node!.records.offerFor(channel, rootVersion),
        onBudgetRefused: () => node!.state.counters.budget_refused!++,
      })
      node = new ConvoyNode(init, store, state, libp2p, bandwidth)
      await node.loadAdmission()
      await node.parts.revocations.load()
      return node
    } catch (e) {
      await store.close()
      throw e
    }
  }

  /** Reads the reporter book and the signed policy of every release trusted at start. */
  private async loadAdmission(): Promise<void> {
    const trusted: string[] = []
    for (const [channel, t] of Object.entries(this.state.trust.channels)) {
      for (const r of t.releases) {
        trusted.push(r.digest)
        const bytes = await this.store.readManifest(channel, r.sequence)
        const d = bytes ? decodeRelease(bytes) : undefined
        if (d?.ok) this.parts.admission.knowPolicy(r.digest, d.value.signed.rollout)
      }
    }
    await this.parts.admission.load(trusted)
  }

  private emit(line: string): void {
    this.init.log?.(line)
  }

  /** Starts libp2p, the hello protocol, bootstrap dials and periodic lookups. */
  async start(): Promise<void> {
    const lp = this.libp2p
    await lp.start()
    await this.parts.revocations.start()
    lp.addEventListener('connection:open', (evt) => {
      const conn = evt.detail
      if (conn.direction === 'outbound') void this.peerTable.runHello(conn)
      // Every revocation held goes to every new peer (usually there are none, and nothing goes).
      void this.parts.revocations.push(conn)
      this.peerTable.enforceLimit()
    })
    lp.addEventListener('peer:identify', (evt) => {
      const entry = this.peerTable.entry(evt.detail.peerId)
      entry.protocols = evt.detail.protocols
      entry.agent = evt.detail.agentVersion
      this.peerTable.rerank(entry)
    })
    // Peers the DHT or identify told of are known reporters from then on (admission, rule 2).
    lp.addEventListener('peer:update', (evt) => {
      if (this.role === 'node') this.parts.admission.heardOfPeer(evt.detail.peer.id.toString())
    })
    lp.addEventListener('peer:disconnect', (evt) => {
      const peer = evt.detail.toString()
      for (const c of this.lookups.claims.values()) c.byPeer.delete(peer)
      lp.services.hello.forget(peer)
      lp.services.manifests.forget(peer)
      this.parts.revocations.forget(peer)
    })
    lp.addEventListener('connection:prune', (evt) => {
      this.state.counters.pruned! += evt.detail.length
      for (const c of evt.detail)
        this.emit(
          `pruned connection to ${c.remotePeer.toString()} (rank ${this.peerTable.peers.get(c.remotePeer.toString())?.rank?.rank ?? 'pending'})`,
        )
    })
    await this.dialBootstrap()
    // A node started before its bootstrap peers, or cut off later, keeps trying every 5 s.
    this.bootstrapTimer = setInterval(() => {
      if (!this.state.stopped && this.libp2p.getConnections().length === 0)
        void this.dialBootstrap()
    }, 5000)
    this.bootstrapTimer.unref()
    if (this.role === 'node') {
      await this.releaseArtifacts.announceHeldArtifacts()
      this.lookups.scheduleLookup(500)
      // DHT nodes forget records after 36 h: every node that trusts the latest manifest puts it
      // (and the roots behind it) again every 6 h or so, so a network outlives its publisher.
      this.republishTimer = setInterval(() => void this.republish(), jitter(REPUBLISH_MS))
      this.republishTimer.unref()
      // A node whose store file was lost, or peers that keep none, hold nothing after a
      // restart until someone puts again, so each node puts what it trusts a minute or so after start.
      this.firstRepublishTimer = setTimeout(
        () => void this.republish(),
        jitter(this.init.firstRepublishMs ?? FIRST_REPUBLISH_MS),
      )
      this.firstRepublishTimer.unref()
      this.haltTimer = setInterval(() => void this.refreshHalted(), HALT_REFRESH_MS)
      this.haltTimer.unref()
    }
  }

  private haltTimer?: NodeJS.Timeout

  /**
   * Recomputes which releases the network halted, from the reports that count at this node and
   * each release's signed policy (the same `summarize` the supervisor runs), and reranks peers
   * when that changed.
   */
  async refreshHalted(): Promise<void> {
    const next = new Set<string>()
    for (const r of this.state.trust.channels[this.channel]?.releases ?? []) {
      const policy = this.parts.admission.policyOf(r.digest)
      if (policy === undefined) continue
      const { counted, electorate } = this.countedReports(r.digest)
      if (counted.length > 0 && summarize(counted, policy, electorate).halt) next.add(r.digest)
    }
    // A revoked release is ranked as a halted one: its runners are told they are outdated.
    for (const r of this.parts.revocations.held) next.add(r.release)
    const changed =
      next.size !== this.peerTable.halted.size ||
      [...next].some((d) => !this.peerTable.halted.has(d))
    this.peerTable.halted = next
    if (changed) {
      this.emit(
        `halted releases: ${next.size === 0 ? 'none' : [...next].map((d) => d.slice(0, 12)).join(', ')}`,
      )
      this.peerTable.rerankAll()
    }
  }

  /** Set by {@link release}: the data dir was let go while libp2p still runs. */
  private released?: Promise<void>

  /** Stops timers, lookups and the artifact fetch. */
  private halt(why: string): void {
    this.state.stopped = true
    if (this.lookups.lookupTimer) clearTimeout(this.lookups.lookupTimer)
    if (this.records.announceTimer) clearTimeout(this.records.announceTimer)
    if (this.bootstrapTimer) clearInterval(this.bootstrapTimer)
    if (this.republishTimer) clearInterval(this.republishTimer)
    clearTimeout(this.firstRepublishTimer)
    if (this.haltTimer) clearInterval(this.haltTimer)
    this.releaseArtifacts.fetchAbort?.abort(new Error(why))
  }

  /**
   * The first half of a handover (a release switch with reusePort): stops every timer, lookup
   * and fetch, finishes the writes under way and lets go of the data dir (its lock), so the
   * supervisor can back it up and migrate it, while libp2p keeps listening and serving from
   * memory. The store refuses writes from then on. {@link stop} ends the rest.
   */
  release(): Promise<void> {
    this.released ??= (async () => {
      this.halt('node draining')
      await datastoreOf.get(this.libp2p)?.close()
      await this.records.persistChain.catch(() => {})
      await this.parts.admission.close()
      await this.state.bandwidth.close()
      await this.store.close()
    })()
    return this.released
  }

  /** Stops everything and releases the data dir (after {@link release}: stops libp2p). */
  async stop(): Promise<void> {
    if (this.released !== undefined) {
      await this.released
      await this.libp2p.stop()
      return
    }
    this.halt('node stopping')
    await this.libp2p.stop()
    await datastoreOf.get(this.libp2p)?.close()
    await this.records.persistChain.catch(() => {})
    await this.parts.admission.close()
    await this.state.bandwidth.close()
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

  /** Dials a peer by multiaddr (tests and the CLI use it to join), within 5 s. */
  async dial(addr: string, options: AbortOptions = {}): Promise<void> {
    await this.libp2p.dial(multiaddr(addr), { signal: withDeadline(options, 5000) })
  }

  /** Whether a convoy peer of this network answers at `hostPort` (peer-check.ts). */
  isPeerAt(hostPort: string): Promise<PeerCheck> {
    return checkPeerAt(this.libp2p, this.peerTable.peers, hostPort)
  }

  /** This node's hello (tests read it to forge a lying one). */
  ownHello(): Hello {
    return this.peerTable.ownHello()
  }

  // ---------------------------------------------------------------- DHT records

  /** kad-dht validator for /convoy-rel/<network>/<channel>[/<sequence>]. Throws to refuse. */
  validateReleaseRecord(key: Uint8Array, value: Uint8Array): void {
    this.records.validateReleaseRecord(key, value)
  }

  /** kad-dht validator for /convoy-root/<network>/<version>. */
  validateRootRecord(key: Uint8Array, value: Uint8Array): void {
    this.records.validateRootRecord(key, value)
  }

  /**
   * kad-dht selector: the highest verified sequence wins; unverifiable records never do. Pure:
   * it judges each record as the validator would, but counts nothing and ingests nothing.
   */
  selectReleaseRecord(key: Uint8Array, records: Uint8Array[]): number {
    return this.records.selectReleaseRecord(key, records)
  }

  /** kad-dht selector for roots: the first record that verifies against the chain. Pure. */
  selectRootRecord(key: Uint8Array, records: Uint8Array[]): number {
    return this.records.selectRootRecord(key, records)
  }

  /** Verifies and records a root; persists it before anything acts on it. */
  async ingestRoot(bytes: Uint8Array): Promise<boolean> {
    return this.records.ingestRoot(bytes)
  }

  /** Verifies and records a manifest; persists it (and the raised floor) before acting on it. */
  async ingestRelease(bytes: Uint8Array): Promise<boolean> {
    return this.records.ingestRelease(bytes)
  }

  /** One round of DHT lookups: newer roots, the channel's newest manifest, then missing history. */
  async lookup(): Promise<void> {
    return this.lookups.lookup()
  }

  // ---------------------------------------------------------------- publishing

  /**
   * Puts a manifest (and the roots a node needs to verify it) into the DHT. Returns how many
   * peers confirmed storing each record. The manifest must verify against this node's trust.
   */
  async publish(
    releaseBytes: Uint8Array,
    roots: Uint8Array[] = [],
    options: AbortOptions = {},
  ): Promise<{ release: ReleaseSigned; confirmations: Record<string, number> }> {
    return this.records.publish(releaseBytes, roots, options)
  }

  /** Takes a revocation in, pushes it to every peer and puts it into the DHT. */
  async publishRevocation(
    bytes: Uint8Array,
    options: AbortOptions = {},
  ): ReturnType<Revocations['publish']> {
    return this.parts.revocations.publish(bytes, options)
  }

  /** Puts the channel's latest manifest (and the roots behind it) into the DHT again. */
  async republish(): Promise<void> {
    return this.records.republish()
  }

  // ---------------------------------------------------------------- artifacts

  /** Fetches the artifact of a verified release from peers, then announces itself as a provider. */
  async fetchReleaseArtifact(
    s: ReleaseSigned,
    options: ReleaseFetchOptions = {},
  ): Promise<string | undefined> {
    return this.releaseArtifacts.fetchReleaseArtifact(s, options)
  }

  /** Peers (other than this one) the DHT names as holding the artifact; looks for up to 8 s. */
  async artifactProviders(sha256: string, options: AbortOptions = {}): Promise<PeerId[]> {
    return this.releaseArtifacts.findProviders(sha256, options)
  }

  // ---------------------------------------------------------------- reports

  /** True when `digest` is the digest of a release manifest this node verified. */
  knowsRelease(digest: string): boolean {
    for (const t of Object.values(this.state.trust.channels))
      if (t.releases.some((r) => r.digest === digest)) return true
    return false
  }

  private onReportFault(peer: PeerId, reason: string): void {
    this.peerTable.entry(peer).misbehaviour++
    this.state.counters.misbehaviour!++
    this.emit(`report from ${peer.toString()} refused: ${reason}`)
  }

  /**
   * Checks and holds an encoded signed report (from the local supervisor), then spreads it.
   * Refused on shadows and publishers (`disabled`). Never throws.
   */
  submitReport(bytes: Uint8Array): SubmitResult {
    return this.libp2p.services.reports.submit(bytes)
  }

  /**
   * The verified reports that count on a release at this node (core/rollout/admission.ts), one
   * per reporter: what the supervisor's evidence is built from.
   */
  reportsFor(digest: string): Report[] {
    return this.countedReports(digest).counted
  }

  /** Every verified report held on a release, one per reporter, counted or not (gossip). */
  heldReports(digest: string): Report[] {
    return this.libp2p.services.reports.reportsFor(digest)
  }

  /** The reports that count on a release, how many are held, and why the rest do not count. */
  countedReports(digest: string): CountedReports {
    return this.parts.admission.count(digest, this.libp2p.services.reports.reportsFor(digest))
  }

  /** `host:port` of every TCP address in the peer store, sorted, at most {@link MAX_KNOWN_ADDRS}. */
  async knownAddrs(): Promise<string[]> {
    return knownAddrs(this.libp2p)
  }

  // ---------------------------------------------------------------- status

  /** The node's bandwidth budgets and their use (what the artifact service paces by). */
  get bandwidth(): Bandwidth {
    return this.state.bandwidth
  }

  /** The trust state (read-only snapshot). */
  trustState(): TrustState {
    return this.state.trust
  }

  /** Everything `GET /status` shows. */
  async status(): Promise<NodeStatus> {
    return nodeStatus(this.state, this.parts, this.startedAt)
  }
}
