/**
 * Artifact transfer: release artifacts are fetched from peers by content address and checked
 * against the `{ sha256, length }` pinned by a signed manifest. No peer is trusted; the pin is.
 *
 * Wire protocol `/convoy/<network>/artifact/1.0.0`, one stream per request:
 *
 * 1. The requester sends one length-prefixed (unsigned varint) JSON message
 *    `{"sha256":"<64 hex>","offset":<n>}`, at most 256 bytes, within `requestTimeoutMs`.
 * 2. The server answers one length-prefixed JSON header, at most 256 bytes:
 *    `{"status":"ok","length":<total length>}`, `{"status":"busy","reason":"slots"|"budget"}` or
 *    `{"status":"not-found"}`. (`reason` is new in 0.2; older nodes send and accept a bare
 *    `{"status":"busy"}`, which reads as "slots".)
 * 3. On "ok" the server streams the raw bytes from `offset` to the end, then closes its side.
 *
 * A server serves only files in its store, and its store only ever holds verified artifacts
 * (`${storeDir}/${sha256}`), so an honest node never passes on bytes it has not checked.
 *
 * The fetcher streams into a temp file while hashing, so a transfer cut short (a slow or stalled
 * provider) resumes at the same offset from another provider, with the hash state carried over.
 * A provider that announces another length or sends a byte past the pinned length is dropped at
 * once and everything it sent in that transfer is rolled back (the hash state is checkpointed at
 * the start of every transfer). Only the full-length hash can convict a provider that sent wrong
 * bytes of the right length: a mismatch throws the whole attempt away, makes every contributor a
 * suspect and bans a sole contributor. Nothing that failed verification is ever renamed into the
 * store.
 *
 * Serving: who gets an upload slot and what the upload budget is charged is decided by the
 * core's {@link UploadLedger}: one slot per peer, and a budget counted in copies (a ticket per
 * requester, charged once however many transfers it takes), so cut transfers and peers that
 * leave mid-copy never spend a seeder's budget on copies nobody holds.
 *
 * Choosing providers: each round tries every usable provider once, never-suspected before
 * suspects, never-slow before slow, then in the order `providers()` listed them; a new round
 * starts after asking `providers()` again. Banned ("wrong") providers never come back. Busy and
 * failed ones come back next round without penalty. Slow ones come back only after all others:
 * a network whose every provider is below the rate limit still completes, a burst of a few
 * seconds at a time, while one fast provider always wins over any number of tricklers.
 */
import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, mkdir, open, readdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AbortOptions, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import { serviceCapabilities } from '@libp2p/interface'
import { isHexOfLength } from '../../core/bytes.ts'
import { type ArtifactPin, MAX_ARTIFACT_BYTES } from '../../core/manifest/release.ts'
import { waitReason } from '../../core/net/artifact-fetch.ts'
import { PeerBudgets, PROTOCOL_BUDGETS, refusedCount } from '../../core/net/budget.ts'
import type { ChunkIndex } from '../../core/net/chunks.ts'
import { DEFAULT_MAX_TICKETS, UploadLedger } from '../../core/net/uploads.ts'
import { type ChunkedFetchOptions, fetchChunkedIntoStore } from './artifact-chunked.ts'
import { type ResolvedInit, resolveInit } from './artifact-config.ts'
import { type TransferContext, type TransferOutcome, transfer } from './artifact-transfer.ts'
import type {
  ArtifactFetchOptions,
  ArtifactFetchResult,
  ArtifactService,
  ArtifactStats,
  ArtifactsComponents,
  ArtifactsInit,
  ProviderDropReason,
} from './artifact-types.ts'
import { serveArtifact, UPLOAD_CHUNK, type UploadContext } from './artifact-upload.ts'
import { artifactProtocol } from './artifact-wire.ts'
import {
  ArtifactFetchError,
  type ArtifactFetchFailure,
  ArtifactMismatchError,
  InvalidArtifactPinError,
} from './errors.ts'
import { type PartialArtifact, storeChunkIndex } from './partial-artifact.ts'
import { ProviderBook } from './provider-book.ts'
import { TempArtifact } from './temp-artifact.ts'

export { announceArtifact, artifactCid, type ProvidingDht } from './artifact-announce.ts'
export type {
  ArtifactFetchOptions,
  ArtifactFetchResult,
  ArtifactService,
  ArtifactStats,
  ArtifactsComponents,
  ArtifactsInit,
  FetchWait,
  FetchWaitReason,
  ProviderDropReason,
} from './artifact-types.ts'
export { artifactProtocol, MAX_ARTIFACT_MESSAGE_BYTES } from './artifact-wire.ts'
export type { ArtifactFetchFailure } from './errors.ts'
export { ArtifactFetchError, ArtifactMismatchError, InvalidArtifactPinError } from './errors.ts'

const DEFAULT_DEADLINE_MS = 10 * 60 * 1000
const EMPTY_SHA256 = createHash('sha256').digest('hex')
const BACKOFF_START_MS = 250
const BACKOFF_MAX_MS = 4000
const BACKOFF_EMPTY_MAX_MS = 30_000
/** Temp files older than this are leftovers of a crash and are removed at start. */
const STALE_TEMP_MS = 60 * 60 * 1000

/** A libp2p service factory: `services: { artifacts: artifacts({ network, storeDir }) }`. */
export function artifacts(
  init: ArtifactsInit,
): (components: ArtifactsComponents) => ArtifactService & Startable {
  const config = resolveInit(init)
  return (components) => new Artifacts(components, config)
}

function assertPin(pin: ArtifactPin): void {
  if (!isHexOfLength(pin?.sha256, 32)) {
    throw new InvalidArtifactPinError('pin.sha256 must be 64 lower-case hex characters')
  }
  if (!Number.isSafeInteger(pin.length) || pin.length < 0 || pin.length > MAX_ARTIFACT_BYTES) {
    throw new InvalidArtifactPinError(
      `pin.length must be an integer from 0 to ${MAX_ARTIFACT_BYTES}, got ${pin.length}`,
    )
  }
}

class Artifacts implements ArtifactService, Startable {
  readonly [Symbol.toStringTag] = '@convoy/artifacts'
  readonly [serviceCapabilities]: string[] = ['@convoy/artifacts']

  private readonly components: ArtifactsComponents
  private readonly config: ResolvedInit
  private readonly protocol: string
  private readonly log: Logger | undefined
  private shutdown = new AbortController()
  private started = false
  /** Upload slots and the copy budget: the core's decision, carried out here. */
  private readonly ledger: UploadLedger
  private counters: ArtifactStats = {
    bytesUploaded: 0,
    bytesDownloaded: 0,
    uploadsActive: 0,
    uploadsTooSlow: 0,
    uploadsServed: 0,
    requestsRefused: 0, // kept by the request budget; filled in by stats()
    providersDropped: { slow: 0, wrong: 0, busy: 0, error: 0 },
    budgetChargedBytes: 0,
  }
  /** What {@link transfer} needs of this service. */
  private readonly transferContext: TransferContext
  /** What {@link serveArtifact} needs of this service. */
  private readonly uploadContext: UploadContext
  /** Chunked fetches in progress, served onward chunk by chunk. */
  private readonly partials = new Map<string, PartialArtifact>()
  private readonly chunkedFetches = new Map<string, Promise<ArtifactFetchResult>>()

  constructor(components: ArtifactsComponents, config: ResolvedInit) {
    this.components = components
    this.config = config
    this.protocol = artifactProtocol(config.network)
    this.log = components.logger?.forComponent('convoy:artifacts')
    this.ledger = new UploadLedger({
      maxUploads: config.maxUploads,
      budgetBytes: config.uploadBudgetBytes,
      ticketIdleMs: config.ticketIdleMs,
      maxTickets: DEFAULT_MAX_TICKETS,
    })
    this.transferContext = {
      config,
      connectionManager: components.connectionManager,
      protocol: this.protocol,
      counters: this.counters,
      callBack: (fn) => this.callBack(fn),
    }
    this.uploadContext = {
      config,
      ledger: this.ledger,
      requestBudget: new PeerBudgets(PROTOCOL_BUDGETS.artifacts),
      counters: this.counters,
      log: this.log,
      shutdown: () => this.shutdown.signal,
      partial: (sha256) => this.partials.get(sha256),
    }
    this.serve = this.serve.bind(this)
  }

  async start(): Promise<void> {
    if (this.started) return
    this.shutdown = new AbortController()
    await mkdir(this.config.storeDir, { recursive: true })
    await this.removeStaleTemps()
    await this.components.registrar.handle(this.protocol, this.serve, {
      // Busy replies need a stream too, so allow more streams than upload slots.
      maxInboundStreams: Math.max(32, this.config.maxUploads * 2),
    })
    this.started = true
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.shutdown.abort(new Error('artifact service stopped'))
    await this.components.registrar.unhandle(this.protocol)
  }

  isStarted(): boolean {
    return this.started
  }

  stats(): ArtifactStats {
    return {
      ...this.counters,
      providersDropped: { ...this.counters.providersDropped },
      budgetChargedBytes: this.ledger.chargedBytes,
      requestsRefused: refusedCount(this.uploadContext.requestBudget),
    }
  }

  pathOf(sha256: string): string {
    if (!isHexOfLength(sha256, 32)) {
      throw new InvalidArtifactPinError('sha256 must be 64 lower-case hex characters')
    }
    return join(this.config.storeDir, sha256)
  }

  async has(sha256: string, options: AbortOptions = {}): Promise<boolean> {
    const path = this.pathOf(sha256)
    options.signal?.throwIfAborted()
    try {
      return (await stat(path)).isFile()
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw e
    }
  }

  async import(path: string, pin: ArtifactPin, options: AbortOptions = {}): Promise<string> {
    assertPin(pin)
    await mkdir(this.config.storeDir, { recursive: true })
    const temp = await TempArtifact.create(this.config.storeDir, pin.sha256)
    let source: FileHandle | undefined
    try {
      source = await open(path, constants.O_RDONLY)
      const buf = Buffer.allocUnsafe(UPLOAD_CHUNK)
      for (;;) {
        options.signal?.throwIfAborted()
        const { bytesRead } = await source.read(buf, 0, buf.length, null)
        if (bytesRead === 0) break
        if (temp.offset + bytesRead > pin.length) {
          throw new ArtifactMismatchError(
            `${path} is longer than the pinned ${pin.length} bytes; refusing to import it`,
          )
        }
        await temp.append(buf.subarray(0, bytesRead))
      }
      if (temp.offset !== pin.length) {
        throw new ArtifactMismatchError(
          `${path} has ${temp.offset} bytes but the pin says ${pin.length}; refusing to import it`,
        )
      }
      const digest = temp.digest()
      if (digest !== pin.sha256) {
        throw new ArtifactMismatchError(
          `${path} has sha256 ${digest} but the pin says ${pin.sha256}; refusing to import it`,
        )
      }
      return await temp.commit()
    } catch (e) {
      await temp.discard()
      throw e
    } finally {
      await source?.close()
    }
  }

  async fetch(pin: ArtifactPin, options: ArtifactFetchOptions): Promise<ArtifactFetchResult> {
    assertPin(pin)
    if (typeof options?.providers !== 'function') {
      throw new TypeError('fetch: options.providers must be a function')
    }
    const finalPath = this.pathOf(pin.sha256)
    if (await this.has(pin.sha256)) return { path: finalPath, length: pin.length, peers: [] }
    if (pin.length === 0 && pin.sha256 !== EMPTY_SHA256) {
      throw new InvalidArtifactPinError('pin.length is 0 but pin.sha256 is not the empty hash')
    }

    const { deadlineMs, deadline, signal } = this.fetchSignals(options)
    const short = `${pin.sha256.slice(0, 12)}…`
    const book = new ProviderBook(this.components.peerId, options.exclude)
    const tally: Record<ProviderDropReason | 'not-found', number> = {
      slow: 0,
      wrong: 0,
      busy: 0,
      error: 0,
      'not-found': 0,
    }
    let lastProblem = ''

    const fail = (cause: unknown): ArtifactFetchError => {
      const reason = this.failureOf(options.signal, deadline)
      const what = {
        aborted: 'the fetch was aborted',
        stopped: 'the artifact service stopped',
        deadline: `no verified copy arrived within ${deadlineMs} ms`,
        io: `the local store failed (${(cause as Error)?.message ?? cause})`,
      }[reason]
      const tried = Object.entries(tally)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')
      const seen = book.size === 0 ? 'no provider was found' : `${book.size} provider(s) known`
      return new ArtifactFetchError(
        `artifact ${short} (${pin.length} bytes) not fetched: ${what}; ${seen}` +
          (tried === '' ? '' : `, transfers cut: ${tried}`) +
          (lastProblem === '' ? '' : `; last problem: ${lastProblem}`),
        pin.sha256,
        reason,
        { cause },
      )
    }

    let temp: TempArtifact
    try {
      await mkdir(this.config.storeDir, { recursive: true })
      temp = await TempArtifact.create(this.config.storeDir, pin.sha256)
    } catch (e) {
      throw fail(e)
    }

    const drop = (peer: PeerId, kind: ProviderDropReason | 'not-found', detail: string): void => {
      tally[kind]++
      const reason: ProviderDropReason = kind === 'not-found' ? 'error' : kind
      this.counters.providersDropped[reason]++
      lastProblem = `${peer.toString()}: ${detail}`
      this.log?.('dropped provider %p for %s (%s): %s', peer, short, reason, detail)
      this.callBack(() => options.onDrop?.(peer.toString(), reason, detail))
    }

    // How the current round's transfers ended, to say why the fetch waits.
    let round = { busy: 0, budget: 0, failed: 0 }
    try {
      let backoff = BACKOFF_START_MS
      let refreshed = false
      let noneFound = false
      for (;;) {
        signal.throwIfAborted()
        if (temp.offset === pin.length) {
          const digest = temp.digest()
          if (digest === pin.sha256) {
            const path = await temp.commit()
            return { path, length: pin.length, peers: [...temp.contributors] }
          }
          // Wrong bytes of the right length. Only the whole-file hash can tell, so the attempt
          // cannot say which contributor lied: all become suspects, a sole one is convicted.
          const contributors = [...temp.contributors]
          this.log?.('%s: hash mismatch from %s; starting over', short, contributors.join(', '))
          for (const id of contributors) book.suspect(id)
          const only = contributors.length === 1 ? book.get(contributors[0]!) : undefined
          if (only !== undefined) {
            book.ban(only.peer)
            drop(only.peer, 'wrong', `sent ${pin.length} bytes whose sha256 was ${digest}`)
          } else {
            lastProblem = `hash mismatch from ${contributors.length} contributors`
          }
          await temp.restart()
          continue
        }

        let peer = book.next()
        if (peer === undefined) {
          if (refreshed) {
            const reason = waitReason(noneFound ? 0 : book.size, round)
            const wait = { reason, providers: book.size, received: temp.offset, retryInMs: backoff }
            this.callBack(() => options.onWait?.(wait))
            await sleep(backoff, undefined, { signal })
            // Busy providers free up in seconds; when nobody provides it at all, ask the DHT
            // far less often (every 30 s at most) so a release nobody seeds yet costs little.
            backoff = Math.min(backoff * 2, noneFound ? BACKOFF_EMPTY_MAX_MS : BACKOFF_MAX_MS)
          }
          refreshed = true
          let found: PeerId[] = []
          try {
            found = await raceSignal(options.providers({ signal }), signal)
          } catch (e) {
            signal.throwIfAborted()
            lastProblem = `providers(): ${(e as Error)?.message ?? e}`
          }
          noneFound = !Array.isArray(found) || found.length === 0
          book.newRound(Array.isArray(found) ? found : [])
          round = { busy: 0, budget: 0, failed: 0 }
          peer = book.next()
          if (peer === undefined) continue
        }

        const checkpoint = temp.checkpoint()
        const outcome = await this.transfer(peer, pin, temp, signal, options.onProgress)
        if (temp.offset > checkpoint.offset) backoff = BACKOFF_START_MS
        if (outcome.kind === 'done') continue
        if (outcome.kind === 'busy') {
          if (outcome.why === 'budget') round.budget++
          else round.busy++
        } else round.failed++
        if (outcome.kind === 'wrong') {
          // Everything this provider sent in this transfer is suspect: roll it back.
          await temp.rollback(checkpoint)
          book.ban(peer)
        } else if (outcome.kind === 'slow') {
          book.demote(peer)
        }
        drop(peer, outcome.kind, outcome.detail)
      }
    } catch (e) {
      await temp.discard()
      throw fail(e)
    }
  }

  /**
   * Pulls the rest of the artifact from one provider into `temp` (see {@link transfer}). Throws
   * only when `signal` (the whole fetch) aborts or the disk fails.
   */
  private transfer(
    peer: PeerId,
    pin: ArtifactPin,
    temp: TempArtifact,
    signal: AbortSignal,
    onProgress: ArtifactFetchOptions['onProgress'],
  ): Promise<TransferOutcome> {
    const want = {
      sha256: pin.sha256,
      length: pin.length,
      offset: temp.offset,
      sink: (piece: Uint8Array, from: string) => temp.append(piece, from),
    }
    return transfer(this.transferContext, peer, want, signal, onProgress)
  }

  /** Serves one request (see {@link serveArtifact}); never throws. */
  private serve(stream: Stream, connection: Connection): Promise<void> {
    return serveArtifact(this.uploadContext, stream, connection)
  }

  /**
   * Fetches the artifact `index` describes chunk by chunk from many providers at once (see
   * artifact-chunked.ts), serving verified chunks onward while it runs; returns at once when
   * the artifact is already stored. A second call for the same artifact joins the first.
   * Throws {@link ArtifactFetchError} like {@link fetch}; the partial file is kept for a resume.
   */
  fetchChunked(index: ChunkIndex, options: ChunkedFetchOptions): Promise<ArtifactFetchResult> {
    const sha = index.artifact.sha256
    const running = this.chunkedFetches.get(sha)
    if (running !== undefined) return running
    const p = this.runChunked(index, options).finally(() => this.chunkedFetches.delete(sha))
    this.chunkedFetches.set(sha, p)
    return p
  }

  private async runChunked(
    index: ChunkIndex,
    options: ChunkedFetchOptions,
  ): Promise<ArtifactFetchResult> {
    const pin = index.artifact
    assertPin(pin)
    if (typeof options?.providers !== 'function') {
      throw new TypeError('fetchChunked: options.providers must be a function')
    }
    const finalPath = this.pathOf(pin.sha256)
    if (await this.has(pin.sha256)) return { path: finalPath, length: pin.length, peers: [] }
    const { deadline, signal } = this.fetchSignals(options)
    const short = `${pin.sha256.slice(0, 12)}…`
    const ctx = {
      config: this.config,
      transfer: this.transferContext,
      self: this.components.peerId,
      log: this.log,
      partials: this.partials,
      drop: (peer: PeerId, reason: ProviderDropReason, detail: string) => {
        this.counters.providersDropped[reason]++
        this.log?.('dropped provider %p for %s (%s): %s', peer, short, reason, detail)
        this.callBack(() => options.onDrop?.(peer.toString(), reason, detail))
      },
      callBack: (fn: () => void) => this.callBack(fn),
    }
    const why = () => this.failureOf(options.signal, deadline)
    return fetchChunkedIntoStore(ctx, index, options, signal, why)
  }

  /** A fetch's deadline, and the signal that ends it: the deadline, a stop, or the caller. */
  private fetchSignals(options: Pick<ArtifactFetchOptions, 'deadlineMs' | 'signal'>) {
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS
    const deadline = AbortSignal.timeout(deadlineMs)
    const signals = [deadline, this.shutdown.signal]
    if (options.signal !== undefined) signals.push(options.signal)
    return { deadlineMs, deadline, signal: AbortSignal.any(signals) }
  }

  /** Why a fetch gave up: the caller aborted, the service stopped, the deadline, or the disk. */
  private failureOf(caller: AbortSignal | undefined, deadline: AbortSignal): ArtifactFetchFailure {
    if (caller?.aborted === true) return 'aborted'
    if (this.shutdown.signal.aborted) return 'stopped'
    return deadline.aborted ? 'deadline' : 'io'
  }

  /**
   * Builds the chunk index of the stored artifact `sha256` and stores it as an artifact of its
   * own, so this node serves it; returns its pin. Nothing is stored when the artifact is not.
   */
  async storeIndex(
    sha256: string,
    chunkSize: number,
    options: AbortOptions = {},
  ): Promise<ArtifactPin | undefined> {
    if (!(await this.has(sha256, options))) return undefined
    return storeChunkIndex(this.config.storeDir, sha256, chunkSize, options)
  }

  /** Runs a caller's callback; its failure is the caller's bug, not the provider's. */
  private callBack(fn: () => void): void {
    try {
      fn()
    } catch (e) {
      this.log?.error('artifact fetch callback threw: %e', e)
    }
  }

  private async removeStaleTemps(): Promise<void> {
    const now = Date.now()
    for (const name of await readdir(this.config.storeDir)) {
      if (!name.startsWith('.') || !name.endsWith('.tmp')) continue
      const path = join(this.config.storeDir, name)
      try {
        if (now - (await stat(path)).mtimeMs > STALE_TEMP_MS) await unlink(path)
      } catch {
        // Gone already, or another process's: either way not ours to fail on.
      }
    }
  }
}

async function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort!)
  }
}
