/** The artifact service's public shapes: its options, fetch options and results, counters. */
import type { AbortOptions, ComponentLogger, PeerId } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { ArtifactPin } from '../../core/manifest/release.ts'
import type { WaitReason } from '../../core/net/artifact-fetch.ts'

/** Why a provider's transfer was cut. */
export type ProviderDropReason = 'slow' | 'wrong' | 'busy' | 'error'

/**
 * A node runner's bandwidth budget as the artifact service applies it (adapters/libp2p/bandwidth.ts
 * keeps the caps and the month's count). Every method is told the time.
 */
export interface BandwidthGate {
  /** ms to wait before sending `bytes` more under the upload cap; counts them to the month. */
  takeUpload(bytes: number, now: number): number
  /** ms to wait before downloading `bytes` more under the download cap. */
  takeDownload(bytes: number, now: number): number
  /** False when this month's upload quota has no room for `bytes` more. */
  uploadAllowed(bytes: number, now: number): boolean
  /** Upload slots to offer, given the configured most and the fetchers' floor rate. */
  uploadSlots(configured: number, floorBytesPerSecond: number): number
}

/** Options of {@link artifacts}. */
export interface ArtifactsInit {
  /** Network name; selects the protocol id, see {@link artifactProtocol}. */
  network: string
  /**
   * Directory of verified artifacts, each at `${storeDir}/${sha256}`. Nothing else is ever in
   * it except temp files named `.*.tmp`. Created on start if missing.
   */
  storeDir: string
  /**
   * Uploads served at the same time, at most one per peer; further requests are answered "busy"
   * (reason "slots"). @default 4
   */
  maxUploads?: number
  /**
   * Bytes of copies this node will upload over its lifetime, counted per requester: the rest of
   * the artifact from the offset it first asked at, charged once, refunded if the requester left
   * without it (see {@link UploadLedger}). A request past it is answered "busy" (reason
   * "budget"). A publisher seeds a few copies this way and leaves the rest to peers.
   * @default Infinity
   */
  uploadBudgetBytes?: number
  /**
   * A requester that has not resumed its copy for this long has left: its ticket ends (and the
   * first such per peer is refunded to the budget). In ms. @default 30000
   */
  ticketIdleMs?: number
  /**
   * A provider delivering fewer bytes per second than this, over a sliding window of
   * `rateWindowMs` after a grace of `rateGraceMs`, is dropped as "slow". @default 262144
   */
  minBytesPerSecond?: number
  /**
   * An upload whose requester takes fewer bytes per second than this, over a sliding window of
   * `uploadRateWindowMs` after `uploadRateGraceMs`, or takes longer than its length allows at
   * this rate, is given up and its slot freed (core/net/pace.ts). @default 65536
   */
  uploadMinBytesPerSecond?: number
  /**
   * The node runner's upload and download caps and monthly upload quota. Uploads wait for their
   * bytes' turn, are refused "busy" (reason "quota") when the month is spent, and are offered on
   * fewer slots so that each stays above the fetchers' floor; chunked downloads start each
   * chunk on its turn. @default no caps
   */
  bandwidth?: BandwidthGate
  /** Chunk requests in flight at most in a chunked fetch, over all providers. @default 4 */
  chunkParallel?: number
  /** Grace at the start of an upload before its pace is judged, in ms. @default 5000 */
  uploadRateGraceMs?: number
  /** Width of the window an upload's pace is measured over, in ms. @default 10000 */
  uploadRateWindowMs?: number
  /** Grace at the start of a transfer before the rate is judged, in ms. @default 2000 */
  rateGraceMs?: number
  /** Width of the sliding window the rate is measured over, in ms. @default 3000 */
  rateWindowMs?: number
  /**
   * A provider that sends no byte for this long is dropped as "slow". Also how long the server
   * waits for a requester to take more bytes before it gives up the upload. In ms. @default 5000
   */
  stallTimeoutMs?: number
  /**
   * Deadline to open a stream, send the request and receive the header (requester), or to
   * receive the request (server), in ms. @default 5000
   */
  requestTimeoutMs?: number
}

/** What the service needs from libp2p. */
export interface ArtifactsComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  /** The local node: never used as a provider. */
  peerId: PeerId
  logger?: ComponentLogger
}

/** Why a fetch is waiting between rounds: nobody provides it, all busy, or all failed. */
export type FetchWaitReason = WaitReason

/** What a fetch reports before it sleeps and asks for providers again. */
export interface FetchWait {
  reason: FetchWaitReason
  /** Providers known (banned ones included). */
  providers: number
  /** Bytes held so far. */
  received: number
  /** When the next round starts, in ms from now. */
  retryInMs: number
}

/** Options of {@link ArtifactService.fetch}. */
export interface ArtifactFetchOptions {
  /**
   * Candidate providers, best first. Called at the start and again whenever every known
   * provider has been tried, after a backoff of 250 ms doubling to 4 s (reset by progress), so
   * nodes that complete meanwhile become providers. A throw counts as an empty list.
   */
  providers: (options: { signal: AbortSignal }) => Promise<PeerId[]>
  /** Providers for which this returns true are never used (e.g. deranked peers). */
  exclude?: (peer: PeerId) => boolean
  /** Bytes held so far (after any rollback), the pinned length, and the current provider. */
  onProgress?: (received: number, total: number, from: string) => void
  /** Told whenever a provider's transfer is cut, with the reason (e.g. to count misbehaviour). */
  onDrop?: (peer: string, reason: ProviderDropReason, detail: string) => void
  /** Told when a round of providers ended without the artifact, before the fetch waits. */
  onWait?: (wait: FetchWait) => void
  /** Overall deadline of the fetch, in ms. @default 600000 */
  deadlineMs?: number
  /** Aborts the fetch; the temp file is removed and {@link ArtifactFetchError} thrown. */
  signal?: AbortSignal
}

/** A completed fetch. */
export interface ArtifactFetchResult {
  /** Path of the verified artifact in the store. */
  path: string
  length: number
  /** Peer ids that delivered bytes of the verified file (empty when it was already stored). */
  peers: string[]
}

/** Counters since the service was created. */
export interface ArtifactStats {
  /** Bytes sent to requesters. */
  bytesUploaded: number
  /** Bytes received from providers, including bytes later thrown away. */
  bytesDownloaded: number
  /** Uploads being served now. */
  uploadsActive: number
  /** Uploads that sent every requested byte (and, for a 0.2 requester, were confirmed). */
  uploadsServed: number
  /** Requests reset unread because their peer was over its request budget. */
  requestsRefused: number
  /** Uploads given up because the requester took the bytes below the upload pace. */
  uploadsTooSlow: number
  /** Provider transfers cut short, by reason. "busy" carries no penalty. */
  providersDropped: Record<ProviderDropReason, number>
  /** Bytes charged to the upload budget: copies delivered and copies in progress. */
  budgetChargedBytes: number
}

/** The artifact service: serves the store and fetches pinned artifacts from peers. */
export interface ArtifactService {
  /** True when the verified artifact `sha256` is in the store. */
  has(sha256: string, options?: AbortOptions): Promise<boolean>
  /** Path an artifact has (or would have) in the store. */
  pathOf(sha256: string): string
  /**
   * Fetches the artifact pinned by `pin` from peers into the store, or returns at once when it
   * is already there. Throws {@link ArtifactFetchError} when aborted, stopped, past
   * `deadlineMs`, or when the disk fails; never because of what a peer did.
   */
  fetch(pin: ArtifactPin, options: ArtifactFetchOptions): Promise<ArtifactFetchResult>
  /**
   * Copies the local file `path` into the store if its sha256 and length match `pin` (a
   * publisher seeding its own artifact); returns the store path. Throws
   * {@link ArtifactMismatchError} otherwise, leaving the store untouched.
   */
  import(path: string, pin: ArtifactPin, options?: AbortOptions): Promise<string>
  /**
   * Fetches the artifact a verified chunk index describes, chunk by chunk from many providers
   * at once, serving verified chunks onward while it runs (artifact-chunked.ts). Throws
   * {@link ArtifactFetchError} as {@link fetch} does; the partial file is kept for a resume.
   */
  fetchChunked(
    index: import('../../core/net/chunks.ts').ChunkIndex,
    options: import('./artifact-chunked.ts').ChunkedFetchOptions,
  ): Promise<ArtifactFetchResult>
  /** Stores the chunk index of the stored artifact `sha256` (so it is served); its pin. */
  storeIndex(
    sha256: string,
    chunkSize: number,
    options?: AbortOptions,
  ): Promise<ArtifactPin | undefined>
  /** A snapshot of the counters (a copy: later transfers do not change it). */
  stats(): ArtifactStats
}
