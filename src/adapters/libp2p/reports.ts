/**
 * Report gossip: signed shadow and probation verdicts (src/core/rollout/report.ts) spread from
 * node to node, so that every node's supervisor can read the evidence on a release.
 *
 * Wire protocol `/convoy/<network>/reports/1.0.0`, one stream per batch, one direction: the
 * opener sends up to `maxReportsPerStream` length-prefixed (unsigned varint) messages, each one
 * encoded signed report of at most {@link MAX_REPORT_BYTES} bytes, then closes its side. The
 * receiver answers nothing. Every read has a deadline (`readTimeoutMs`) and the whole stream one
 * more (`streamTimeoutMs`).
 *
 * Each report is checked before it is held: decoded (size cap first), the reporter's Ed25519 key
 * read from its peer id (which must be in canonical form, so one key has one spelling), the
 * signature verified, and its date no further ahead than the clock skew allows. Per release
 * digest the service keeps one report per reporter, the one evidence.ts's `replacesReport` picks:
 * the latest, at one date a failure, then the smaller canonical body, so every node converges on
 * the same one and no pair of reports can bounce between nodes forever.
 *
 * Spread: a report that changes what is held is pushed to up to `fanout` random peers that speak
 * the protocol, other than the one it came from; a node that already holds it pushes nothing,
 * which ends the epidemic. Sync: when a peer that speaks the protocol connects (after identify),
 * it is sent the reports held for the newest `syncReleases` releases, at most `syncMaxReports`.
 *
 * A peer that sends a malformed report, one with a bad signature, one for another network, or a
 * message over the cap has misbehaved: it is counted, and the rest of its stream is dropped. An
 * honest relay never does that, because it checks everything it passes on. A report from the
 * future is refused without blame: the clocks may differ.
 */
import type { Connection, Logger, PeerId, Startable, Stream, Topology } from '@libp2p/interface'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { bytesEqual, compareBytes } from '../../core/bytes.ts'
import { canonicalBytes } from '../../core/manifest/canonical.ts'
import { PeerBudgets, PROTOCOL_BUDGETS, refusedCount } from '../../core/net/budget.ts'
import { type Report, replacesReport } from '../../core/rollout/evidence.ts'
import {
  decodeReport,
  encodeReport,
  MAX_REPORT_BYTES,
  verifyReport,
} from '../../core/rollout/report.ts'
import { readFrame } from './frames.ts'
import { type Resolved, resolveInit } from './report-config.ts'
import type {
  ReportRefusalCode,
  ReportService,
  ReportStats,
  ReportsComponents,
  ReportsInit,
  SubmitResult,
} from './report-types.ts'
import type { ReleaseEvidence } from './status.ts'

export { type ReportDraft, readIdentityKey, signReport } from './report-signing.ts'
export type {
  ReportRefusalCode,
  ReportService,
  ReportStats,
  ReportsComponents,
  ReportsInit,
  SubmitResult,
} from './report-types.ts'

import { protocolId } from '../../core/net/hello.ts'
import { FrameError } from './errors.ts'

export type { ReleaseEvidence }
export { MAX_REPORT_BYTES }

/** The report protocol id of `network`. */
export function reportsProtocol(network: string): string {
  return protocolId(network, 'reports')
}

/** Inbound report streams one connection may have open at once. */
const MAX_INBOUND_STREAMS = 8

interface Held {
  report: Report
  /** Canonical bytes of the signed body: equality and tie-break. */
  body: Uint8Array
  /** The encoded envelope, as passed on. */
  bytes: Uint8Array
  /** Where the reporter stood when its first report was held (`standing`; lower is kept). */
  standing: number
}

interface ReleaseEntry {
  /** Order of first sight: larger is newer. */
  seen: number
  reporters: Map<string, Held>
  /** Reporters by standing, so a full release gives up its lowest-standing one quickly. */
  byStanding: Map<number, Set<string>>
}

interface Outbox {
  peer: PeerId
  queue: Uint8Array[]
  running: boolean
}

/** Refusals that only a faulty or hostile sender can cause. */
const PEER_FAULTS: ReadonlySet<ReportRefusalCode> = new Set<ReportRefusalCode>([
  'too-large',
  'malformed',
  'wrong-type',
  'wrong-network',
  'threshold',
  'reporter-key',
])

/** A libp2p service factory: `services: { reports: reports({ network }) }`. */
export function reports(
  init: ReportsInit,
): (components: ReportsComponents) => ReportService & Startable {
  const config = resolveInit(init)
  return (components) => new Reports(components, config)
}

/**
 * The raw Ed25519 key of a reporter, or undefined when `id` is not an Ed25519 peer id or not
 * spelled the way libp2p prints it (two spellings of one key would count as two reporters).
 */
export function reporterKey(id: string): Uint8Array | undefined {
  try {
    const peer = peerIdFromString(id)
    if (peer.type !== 'Ed25519' || peer.toString() !== id) return undefined
    return peer.publicKey.raw
  } catch {
    return undefined
  }
}

class Reports implements ReportService, Startable {
  readonly [Symbol.toStringTag] = '@convoy/reports'
  readonly [serviceCapabilities]: string[] = ['@convoy/reports']
  // Sync waits for identify: only then does libp2p know a peer speaks the protocol.
  readonly [serviceDependencies]: string[] = ['@libp2p/identify']

  private readonly components: ReportsComponents
  private readonly config: Resolved
  private readonly protocol: string
  private readonly log: Logger | undefined
  private shutdown = new AbortController()
  private started = false
  private topologyId?: string
  private seenCounter = 0
  private readonly releases = new Map<string, ReleaseEntry>()
  /** Connected peers that speak the protocol. */
  private readonly peers = new Map<string, PeerId>()
  private readonly outboxes = new Map<string, Outbox>()
  /** Reports a peer may send per second (core/net/budget.ts). */
  private readonly budget = new PeerBudgets(PROTOCOL_BUDGETS.reports)
  private readonly counters = {
    budgetRefused: 0, // kept by the budget; filled in by stats()
    accepted: 0,
    duplicates: 0,
    refused: {} as Partial<Record<ReportRefusalCode, number>>,
    misbehaviour: 0,
    sent: 0,
    sendDropped: 0,
    syncs: 0,
    releasesDropped: 0,
    evicted: 0,
  }

  constructor(components: ReportsComponents, config: Resolved) {
    this.components = components
    this.config = config
    this.protocol = reportsProtocol(config.network)
    this.log = components.logger?.forComponent('convoy:reports')
    this.onStream = this.onStream.bind(this)
  }

  async start(): Promise<void> {
    if (this.started) return
    this.shutdown = new AbortController()
    this.started = true
    if (!this.config.relay) return
    await this.components.registrar.handle(this.protocol, this.onStream, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
    })
    // Synced once per connection, not once per peer: a node replaced under its peer id by a
    // switch handover opens new connections while the old node's are still open, and the peer
    // it comes back as holds none of the reports (libp2p's topology filter would see one peer).
    const synced = new WeakSet<Connection>()
    const topology: Topology = {
      onConnect: (peer, connection) => {
        if (peer.equals(this.components.peerId) || synced.has(connection)) return
        synced.add(connection)
        this.peers.set(peer.toString(), peer)
        this.sync(peer)
      },
      onDisconnect: (peer) => {
        this.peers.delete(peer.toString())
        this.budget.forget(peer.toString())
        this.outboxes.delete(peer.toString())
      },
    }
    this.topologyId = await this.components.registrar.register(this.protocol, topology)
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.shutdown.abort(new Error('report service stopped'))
    if (this.topologyId !== undefined) this.components.registrar.unregister(this.topologyId)
    this.topologyId = undefined
    if (this.config.relay) await this.components.registrar.unhandle(this.protocol)
    this.peers.clear()
    this.outboxes.clear()
  }

  isStarted(): boolean {
    return this.started
  }

  // ---------------------------------------------------------------- holding

  submit(bytes: Uint8Array, options: { from?: PeerId } = {}): SubmitResult {
    if (!this.config.relay)
      return this.refuse(
        'disabled',
        'this node does not carry reports (it runs as a shadow or a publisher)',
      )
    if (!(bytes instanceof Uint8Array)) return this.refuse('malformed', 'malformed: not bytes')
    const d = decodeReport(bytes, { network: this.config.network, maxBytes: MAX_REPORT_BYTES })
    if (!d.ok) return this.refuse(d.code, d.reason)
    const env = d.value
    const body = canonicalBytes(env.body)
    const entry = this.releases.get(env.body.release)
    const prior = entry?.reporters.get(env.body.reporter)
    // Already held byte for byte: nothing to check, nothing to pass on.
    if (prior !== undefined && bytesEqual(prior.body, body)) {
      this.counters.duplicates++
      return { ok: true, value: { report: prior.report, isNew: false } }
    }
    const key = reporterKey(env.body.reporter)
    if (key === undefined)
      return this.refuse(
        'reporter-key',
        `reporter ${env.body.reporter.slice(0, 64)} is not an Ed25519 peer id in canonical form, so its key cannot be read from it`,
      )
    const v = verifyReport(env, key, this.config.verify, {
      now: this.config.now(),
      maxFutureMs: this.config.maxFutureMs,
    })
    if (!v.ok) return this.refuse(v.code, v.reason)
    const report = v.value
    if (prior !== undefined) {
      if (!replacesReport(prior.report, report, compareBytes(body, prior.body))) {
        this.counters.duplicates++
        return { ok: true, value: { report, isNew: false } }
      }
    }
    const target = entry ?? this.makeRoom(report.release)
    if (target === undefined)
      return this.refuse(
        'full',
        `no room: ${this.config.maxReleases} releases are tracked and none is unknown, so a report on unknown release ${report.release.slice(0, 12)} is not held`,
      )
    const rank = prior?.standing ?? this.standingOf(report)
    if (prior === undefined && target.reporters.size >= this.config.maxReportersPerRelease) {
      if (!this.evictBelow(target, rank))
        return this.refuse(
          'full',
          `release ${report.release.slice(0, 12)} already holds reports from ${this.config.maxReportersPerRelease} reporters, none of them standing below this one`,
        )
    }
    const held: Held = { report, body, bytes: encodeReport(env), standing: rank }
    target.reporters.set(report.reporter, held)
    if (prior === undefined) {
      const set = target.byStanding.get(rank) ?? new Set<string>()
      set.add(report.reporter)
      target.byStanding.set(rank, set)
    }
    this.counters.accepted++
    try {
      this.config.onAccepted?.(report)
    } catch (e) {
      this.log?.error('onAccepted threw: %e', e)
    }
    this.forward(held.bytes, options.from)
    return { ok: true, value: { report, isNew: true } }
  }

  private standingOf(report: Report): number {
    try {
      return this.config.standing?.(report) ?? 0
    } catch {
      return 0
    }
  }

  /**
   * Makes room in a full release for a reporter of standing `rank`: drops the newest-held
   * reporter of the lowest standing, if that is below `rank`. True when room was made.
   */
  private evictBelow(entry: ReleaseEntry, rank: number): boolean {
    let worst = -1
    for (const [r, set] of entry.byStanding) if (set.size > 0 && r > worst) worst = r
    if (worst <= rank) return false
    const set = entry.byStanding.get(worst)!
    let victim: string | undefined
    for (const id of set) victim = id
    set.delete(victim!)
    entry.reporters.delete(victim!)
    this.counters.evicted++
    return true
  }

  /** The entry for a new release, dropping the oldest-seen one if the cap is reached. */
  private makeRoom(digest: string): ReleaseEntry | undefined {
    if (this.releases.size >= this.config.maxReleases) {
      const known = this.config.isKnownRelease ?? (() => true)
      let victim: string | undefined
      // Insertion order is first-seen order: the first match is the oldest.
      for (const d of this.releases.keys()) {
        if (!known(d)) {
          victim = d
          break
        }
      }
      if (victim === undefined) {
        if (!known(digest)) return undefined
        victim = this.releases.keys().next().value
      }
      if (victim !== undefined) {
        this.releases.delete(victim)
        this.counters.releasesDropped++
      }
    }
    const entry: ReleaseEntry = {
      seen: ++this.seenCounter,
      reporters: new Map(),
      byStanding: new Map(),
    }
    this.releases.set(digest, entry)
    return entry
  }

  private refuse(code: ReportRefusalCode, reason: string): SubmitResult {
    this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1
    return { ok: false, code, reason }
  }

  reportsFor(digest: string): Report[] {
    return this.heldFor(digest).map((h) => h.report)
  }

  signedFor(digest: string): Uint8Array[] {
    return this.heldFor(digest).map((h) => h.bytes)
  }

  private heldFor(digest: string): Held[] {
    const e = this.releases.get(digest)
    if (e === undefined) return []
    return [...e.reporters.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, h]) => h)
  }

  evidence(): Record<string, ReleaseEvidence> {
    const out: Record<string, ReleaseEvidence> = {}
    for (const [digest, e] of this.releases) {
      let passing = 0
      for (const h of e.reporters.values()) if (h.report.verdict === 'pass') passing++
      out[digest] = { passing, failing: e.reporters.size - passing, reporters: e.reporters.size }
    }
    return out
  }

  stats(): ReportStats {
    let held = 0
    for (const e of this.releases.values()) held += e.reporters.size
    return {
      ...this.counters,
      refused: { ...this.counters.refused },
      budgetRefused: refusedCount(this.budget),
      releases: this.releases.size,
      held,
    }
  }

  // ---------------------------------------------------------------- spreading

  private forward(bytes: Uint8Array, from: PeerId | undefined): void {
    if (!this.started || this.config.fanout === 0) return
    const skip = from?.toString()
    const candidates = [...this.peers.entries()].filter(([id]) => id !== skip)
    // Partial Fisher-Yates: `fanout` distinct random peers.
    const n = Math.min(this.config.fanout, candidates.length)
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(Math.random() * (candidates.length - i))
      const pick = candidates[j]!
      candidates[j] = candidates[i]!
      candidates[i] = pick
      this.enqueue(pick[1], [bytes])
    }
  }

  /** Sends a newly connected peer what is held for the newest releases. */
  private sync(peer: PeerId): void {
    const batch: Uint8Array[] = []
    const newest = [...this.releases.values()]
      .sort((a, b) => b.seen - a.seen)
      .slice(0, this.config.syncReleases)
    for (const e of newest) {
      // The latest reports first: they are the ones most likely to be news.
      const held = [...e.reporters.values()].sort((a, b) => b.report.at - a.report.at)
      for (const h of held) {
        if (batch.length >= this.config.syncMaxReports) break
        batch.push(h.bytes)
      }
    }
    if (batch.length === 0) return
    this.counters.syncs++
    this.enqueue(peer, batch)
  }

  private enqueue(peer: PeerId, items: Uint8Array[]): void {
    const id = peer.toString()
    let box = this.outboxes.get(id)
    if (box === undefined) {
      box = { peer, queue: [], running: false }
      this.outboxes.set(id, box)
    }
    for (const item of items) {
      if (box.queue.length < this.config.maxQueuedPerPeer) box.queue.push(item)
      else this.counters.sendDropped++
    }
    if (!box.running) void this.flush(box)
  }

  /** Drains one peer's queue, one stream per batch, one stream at a time. */
  private async flush(box: Outbox): Promise<void> {
    box.running = true
    try {
      // Let reports submitted in the same turn share a stream.
      await new Promise((resolve) => setImmediate(resolve))
      while (box.queue.length > 0 && this.started) {
        const batch = box.queue.splice(0, this.config.maxReportsPerStream)
        if (!(await this.send(box.peer, batch))) {
          this.counters.sendDropped += batch.length + box.queue.length
          box.queue.length = 0
        }
      }
    } finally {
      box.running = false
      if (box.queue.length === 0 && this.outboxes.get(box.peer.toString()) === box)
        this.outboxes.delete(box.peer.toString())
    }
  }

  private async send(peer: PeerId, batch: Uint8Array[]): Promise<boolean> {
    const signal = AbortSignal.any([
      this.shutdown.signal,
      AbortSignal.timeout(this.config.streamTimeoutMs),
    ])
    let stream: Stream | undefined
    try {
      // The newest open connection: during a switch handover the peer id has two processes
      // behind it, and the older one is about to go.
      const newest = this.components.connectionManager
        .getConnections(peer)
        .filter((c) => c.status === 'open')
        .sort((a, b) => b.timeline.open - a.timeline.open)[0]
      stream =
        newest !== undefined
          ? await newest.newStream(this.protocol, { signal })
          : await this.components.connectionManager.openStream(peer, this.protocol, { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_REPORT_BYTES })
      await lp.writeV(batch, { signal })
      await stream.close({ signal })
      this.counters.sent += batch.length
      return true
    } catch (e) {
      this.log?.('sending %d report(s) to %p failed: %s', batch.length, peer, (e as Error).message)
      stream?.abort(e instanceof Error ? e : new Error(String(e)))
      return false
    }
  }

  /** Reads one batch from a peer. Its mistakes end the stream; nothing throws out of here. */
  private async onStream(stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer
    const { readTimeoutMs, streamTimeoutMs, maxReportsPerStream } = this.config
    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(streamTimeoutMs)])
    const lp = lpStream(stream, { maxDataLength: MAX_REPORT_BYTES })
    try {
      for (let n = 0; ; n++) {
        let bytes: Uint8Array
        try {
          bytes = await readFrame(lp, readTimeoutMs, MAX_REPORT_BYTES, signal)
        } catch (e) {
          if (e instanceof FrameError && e.kind === 'closed') break
          if (e instanceof FrameError && e.kind === 'oversize') this.fault(from, e.message)
          throw e
        }
        if (n >= maxReportsPerStream) {
          this.fault(from, `more than ${maxReportsPerStream} reports on one stream`)
          throw new Error('too many reports on one stream')
        }
        // Each report costs a signature check: over the peer's budget, the rest of the stream
        // is dropped unread (a peer that syncs again later is sent them again).
        const b = this.budget.begin(from.toString(), this.config.now())
        if (!b.ok) {
          throw new Error(`report budget spent (${b.reason})`)
        }
        this.budget.end(from.toString())
        const r = this.submit(bytes, { from })
        if (!r.ok && PEER_FAULTS.has(r.code)) {
          this.fault(from, r.reason)
          throw new Error(r.reason)
        }
      }
      await stream.close({ signal })
    } catch (e) {
      this.log?.('report stream from %p dropped: %s', from, (e as Error)?.message)
      stream.abort(e instanceof Error ? e : new Error(String(e)))
    }
  }

  private fault(peer: PeerId, reason: string): void {
    this.counters.misbehaviour++
    try {
      this.config.onMisbehaviour?.(peer, reason)
    } catch (e) {
      this.log?.error('onMisbehaviour threw: %e', e)
    }
  }
}
