/**
 * The report service's public shapes (reports.ts): its options, what it needs from libp2p, the
 * outcome of a submit and why a report is refused, its counters, and the service interface.
 */
import type { ComponentLogger, PeerId } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { VerifyFn } from '../../core/manifest/signing.ts'
import type { FailureCode } from '../../core/result.ts'
import type { Report } from '../../core/rollout/evidence.ts'
import type { ReleaseEvidence } from './status.ts'

/** Options of {@link reports}. */
export interface ReportsInit {
  /** Network name: selects the protocol id and the network reports must name. */
  network: string
  /**
   * False on nodes that must not speak for the network (a shadow candidate, a publisher): no
   * protocol handler, no sync, no forwarding, and {@link ReportService.submit} refuses.
   * @default true
   */
  relay?: boolean
  /** Releases tracked; past it the oldest-seen release (unknown ones first) is dropped. @default 8 */
  maxReleases?: number
  /**
   * Reporters held per release. Past it a new reporter takes the place of the newest-held one of
   * a lower standing (see `standing`), or is refused ("full"). @default 4096
   */
  maxReportersPerRelease?: number
  /** Peers a new report is pushed to. @default 8 */
  fanout?: number
  /** Newest releases whose reports a newly connected peer is sent. @default 4 */
  syncReleases?: number
  /** Most reports sent to a newly connected peer. @default 2048 */
  syncMaxReports?: number
  /** Most reports one stream may carry, either way. @default 512 */
  maxReportsPerStream?: number
  /** Deadline of each read, ms. @default 5000 */
  readTimeoutMs?: number
  /** Deadline of a whole stream, ms. @default 30000 */
  streamTimeoutMs?: number
  /** How far ahead of this node's clock a report may be dated, ms. @default 600000 */
  maxFutureMs?: number
  /**
   * True for digests of releases this node has verified. Reports about unknown releases can only
   * displace other unknown ones when the release cap is reached, so a flood of made-up digests
   * cannot push out the evidence on a real release. @default every release counts as known
   */
  isKnownRelease?: (digest: string) => boolean
  /**
   * Where a reporter stands when a full release must make room, lower kept first (the node
   * passes core/rollout/admission.ts's `standing`: known canaries, known reporters, new
   * canaries, newcomers). Asked once, when the reporter's first report is held. @default 0
   */
  standing?: (report: Report) => number
  /** Told of each report that changed what is held (the node notes the reporter). */
  onAccepted?: (report: Report) => void
  /** Told of each fault a peer commits (to count it against the peer). */
  onMisbehaviour?: (peer: PeerId, reason: string) => void
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number
  /** ed25519 verifier. @default opensslVerify */
  verify?: VerifyFn
}

/** What the service needs from libp2p. */
export interface ReportsComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  peerId: PeerId
  logger?: ComponentLogger
}

/** Why a report was refused: a core decoding or verification code, or one of the service's own. */
export type ReportRefusalCode =
  | FailureCode
  /** The reporter is not an Ed25519 peer id in canonical form: no key can be read from it. */
  | 'reporter-key'
  /** The release already holds `maxReportersPerRelease` reporters, or no release slot is free. */
  | 'full'
  /** This node does not carry reports (`relay: false`). */
  | 'disabled'

/** The outcome of {@link ReportService.submit}. */
export type SubmitResult =
  | {
      ok: true
      value: {
        /** The verified report that was submitted. */
        report: Report
        /** True when it changed what is held (and was pushed on). */
        isNew: boolean
      }
    }
  | { ok: false; code: ReportRefusalCode; reason: string }

/** Counters since the service was created. */
export interface ReportStats {
  /** Releases tracked now. */
  releases: number
  /** Reports held now, over all releases. */
  held: number
  /** Reports that changed what is held. */
  accepted: number
  /** Valid reports that changed nothing (already held, or older than the one held). */
  duplicates: number
  /** Reports refused, by code. */
  refused: Partial<Record<ReportRefusalCode, number>>
  /** Faults committed by peers (bad signatures, malformed or oversized messages). */
  misbehaviour: number
  /** Reports sent to peers (pushes and syncs). */
  sent: number
  /** Reports not sent because a peer's queue was full or its stream failed. */
  sendDropped: number
  /** Peers sent a sync on connecting. */
  syncs: number
  /** Releases dropped to make room. */
  releasesDropped: number
  /** Reporters dropped from a full release for one of higher standing. */
  evicted: number
  /** Report streams cut because their peer sent more than its budget. */
  budgetRefused: number
}

/** The report service: holds verified reports per release and spreads them. */
export interface ReportService {
  /**
   * Checks and holds one encoded signed report, from the local supervisor (no `from`) or a peer.
   * A report that changes what is held is pushed on. Never throws on any bytes.
   */
  submit(bytes: Uint8Array, options?: { from?: PeerId }): SubmitResult
  /** The verified reports held for a release, one per reporter, sorted by reporter. */
  reportsFor(digest: string): Report[]
  /** The same reports as encoded signed envelopes, for passing on. */
  signedFor(digest: string): Uint8Array[]
  /** Per release digest held: how many reporters pass and fail it. */
  evidence(): Record<string, ReleaseEvidence>
  /** A snapshot of the counters. */
  stats(): ReportStats
}
