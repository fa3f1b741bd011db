/**
 * Chunked fetches: an artifact whose release pins a chunk index (core/net/chunks.ts) is fetched
 * chunk by chunk from several providers at once, each chunk checked against the index the moment
 * it arrives and served onward from then on (artifact-upload.ts, `PartialSource`), so the
 * swarm works while downloads are still running. The schedule is the core's
 * ({@link ChunkPlan}); this file carries it out.
 *
 * The partial file, resume and local reuse are partial-artifact.ts's.
 */
import { createHash } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger, PeerId } from '@libp2p/interface'
import { waitReason } from '../../core/net/artifact-fetch.ts'
import { type ChunkOutcome, ChunkPlan, DEFAULT_CHUNK_RUN } from '../../core/net/chunk-plan.ts'
import { type ChunkIndex, chunkCount, chunkRange, decodeHave } from '../../core/net/chunks.ts'
import type { ResolvedInit } from './artifact-config.ts'
import { type TransferContext, transfer } from './artifact-transfer.ts'
import type {
  ArtifactFetchOptions,
  ArtifactFetchResult,
  ProviderDropReason,
} from './artifact-types.ts'
import { ArtifactFetchError, type ArtifactFetchFailure, DiskError } from './errors.ts'
import { PartialArtifact, reuseLocal } from './partial-artifact.ts'

/** How often a running chunked fetch asks for providers again (partial holders appear). */
const REFRESH_MS = 3000
const BACKOFF_START_MS = 250
const BACKOFF_MAX_MS = 4000

/** What a chunked fetch needs of the artifact service. */
export interface ChunkedContext {
  readonly config: ResolvedInit
  readonly transfer: TransferContext
  readonly self: PeerId
  readonly log: Logger | undefined
  /** Tells the service a chunk was dropped, for its counters and the caller's `onDrop`. */
  drop(peer: PeerId, reason: ProviderDropReason, detail: string): void
  /** Runs a caller's callback, logging what it throws. */
  callBack(fn: () => void): void
}

/** Options of a chunked fetch, beyond the whole-file fetch's. */
export interface ChunkedFetchOptions extends ArtifactFetchOptions {
  /** Store paths of artifacts on this node whose chunks may be reused (the installed release). */
  reuse?: string[]
  /** Told each time a chunk is verified, with the count held; the first call is the moment to announce. */
  onChunk?: (held: number, total: number) => void
}

/** The outcome kinds of {@link transfer} in the schedule's words. */
function asOutcome(kind: string): ChunkOutcome {
  if (kind === 'done' || kind === 'wrong' || kind === 'slow' || kind === 'busy') return kind
  if (kind === 'not-found') return 'missing'
  return 'error'
}

/**
 * Fetches `partial`'s artifact chunk by chunk. Resolves with the store path once every chunk is
 * in and the whole hash matches; throws what `signal` aborted with, or a {@link DiskError}.
 */
export async function fetchChunks(
  ctx: ChunkedContext,
  partial: PartialArtifact,
  options: ChunkedFetchOptions,
  signal: AbortSignal,
): Promise<ArtifactFetchResult & { reused: number }> {
  const { index } = partial
  const reused = await reuseLocal(partial, options.reuse ?? [])
  const plan = new ChunkPlan(partial.heldChunks(), {
    maxParallel: ctx.config.chunkParallel,
    maxRun: DEFAULT_CHUNK_RUN,
  })
  const peers = new Map<string, PeerId>()
  const contributors = new Set<string>()
  const running = new Map<string, { chunk: number; cut: AbortController; done: Promise<void> }>()
  const total = chunkCount(index.artifact.length, index.chunkSize)
  let lastRefresh = Number.NEGATIVE_INFINITY
  let refreshing: Promise<void> | undefined
  let backoff = BACKOFF_START_MS
  let outcomes = { busy: 0, budget: 0, failed: 0 }

  const refresh = async (): Promise<void> => {
    lastRefresh = Date.now()
    let found: PeerId[] = []
    try {
      found = await options.providers({ signal })
    } catch (e) {
      // An abort ends the fetch through the loop; anything else counts as no providers.
      ctx.log?.('providers() failed: %s', (e as Error)?.message)
    }
    const ids: string[] = []
    for (const p of Array.isArray(found) ? found : []) {
      if (p.equals(ctx.self) || options.exclude?.(p) === true) continue
      peers.set(p.toString(), p)
      ids.push(p.toString())
    }
    plan.newRound(ids)
  }

  /** One request: a run of `count` chunks from `first`, each checked and written as it lands. */
  const run = async (
    provider: string,
    first: number,
    count: number,
    cut: AbortController,
  ): Promise<void> => {
    const peer = peers.get(provider)!
    const start = chunkRange(index, first).start
    const end = chunkRange(index, first + count - 1).end
    const wait = ctx.config.bandwidth?.takeDownload(end - start, Date.now()) ?? 0
    const taskSignal = AbortSignal.any([signal, cut.signal])
    // The chunk being filled: its index, and the pieces so far.
    let current = first
    let pieces: Uint8Array[] = []
    let filled = 0
    let wrong: string | undefined
    const sink = async (piece: Uint8Array): Promise<void> => {
      let rest = piece
      while (rest.byteLength > 0) {
        const r = chunkRange(index, current)
        const take = Math.min(rest.byteLength, r.end - r.start - filled)
        pieces.push(rest.subarray(0, take))
        filled += take
        rest = rest.subarray(take)
        if (filled < r.end - r.start) continue
        const bytes = Buffer.concat(pieces)
        pieces = []
        filled = 0
        const h = createHash('sha256').update(bytes).digest('hex')
        if (h !== index.chunks[current]) {
          wrong = `chunk ${current} has sha256 ${h.slice(0, 12)}…, the signed index says ${index.chunks[current]!.slice(0, 12)}…`
          // Ends the transfer at once; reported as "wrong" below.
          throw new Error(wrong)
        }
        if (!plan.holds(current)) {
          await partial.write(current, bytes)
          contributors.add(provider)
          backoff = BACKOFF_START_MS
        }
        for (const other of plan.delivered(provider, current)) running.get(other)?.cut.abort()
        const held = plan.heldCount
        ctx.callBack(() => options.onChunk?.(held, total))
        const bytesHeld = Math.min(index.artifact.length, held * index.chunkSize)
        ctx.callBack(() => options.onProgress?.(bytesHeld, index.artifact.length, provider))
        current++
      }
    }
    let outcome: { kind: string; detail?: string; have?: string; why?: string }
    try {
      if (wait > 0) await sleep(wait, undefined, { signal: taskSignal })
      outcome = await transfer(
        ctx.transfer,
        peer,
        { sha256: index.artifact.sha256, length: index.artifact.length, offset: start, end, sink },
        taskSignal,
      )
    } catch (e) {
      if (signal.aborted) throw e
      if (e instanceof DiskError) throw e
      outcome = { kind: 'error', detail: String(e) }
    }
    if (wrong !== undefined) outcome = { kind: 'wrong', detail: wrong }
    if (cut.signal.aborted && outcome.kind !== 'wrong') {
      plan.cancelled(provider)
      return
    }
    const kind = asOutcome(outcome.kind)
    const detail = outcome.detail ?? ''
    const have = kind === 'missing' ? decodeHave(outcome.have, total) : undefined
    plan.ended(provider, kind, have)
    if (kind === 'done') return
    if (kind === 'busy') {
      if (outcome.why === 'budget' || outcome.why === 'quota') outcomes.budget++
      else outcomes.busy++
    } else if (kind !== 'missing') outcomes.failed++
    if (kind !== 'missing') {
      const reason: ProviderDropReason =
        kind === 'wrong' || kind === 'slow' || kind === 'busy' ? kind : 'error'
      ctx.drop(peer, reason, detail)
    }
  }

  // A task's throw (the fetch aborted, the disk failed) ends the fetch, through the loop.
  let fatal: { error: unknown } | undefined
  try {
    for (;;) {
      if (fatal !== undefined) throw fatal.error
      signal.throwIfAborted()
      if (plan.complete) break
      if (refreshing === undefined && Date.now() - lastRefresh >= REFRESH_MS) {
        const r = refresh().finally(() => {
          refreshing = undefined
        })
        refreshing = r
        // Wait for the lookup only when no provider is known at all; otherwise it runs beside
        // the transfers and adds what it finds when it ends.
        if (plan.usableProviders === 0) await r
      }
      for (let a = plan.next(Math.random); a !== undefined; a = plan.next(Math.random)) {
        const cut = new AbortController()
        const { provider, chunk, count } = a
        const done = run(provider, chunk, count, cut)
          .catch((error: unknown) => {
            fatal ??= { error }
          })
          .finally(() => running.delete(provider))
        running.set(provider, { chunk, cut, done })
      }
      if (running.size > 0) {
        const tick = new AbortController()
        await Promise.race([
          ...[...running.values()].map((r) => r.done),
          sleep(REFRESH_MS, undefined, { signal: AbortSignal.any([signal, tick.signal]) }).catch(
            () => {},
          ),
        ])
        tick.abort()
        continue
      }
      if (plan.complete) break
      // Nothing runs and nothing can start: every known provider rests, or none is known.
      const reason = waitReason(plan.usableProviders, outcomes)
      const wait = {
        reason,
        providers: plan.usableProviders,
        received: Math.min(index.artifact.length, plan.heldCount * index.chunkSize),
        retryInMs: backoff,
      }
      ctx.callBack(() => options.onWait?.(wait))
      await sleep(backoff, undefined, { signal })
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)
      outcomes = { busy: 0, budget: 0, failed: 0 }
      // Busy providers free up in seconds: ask the known ones again now, and look for more.
      plan.newRound([...peers.keys()])
      if (refreshing === undefined) lastRefresh = Number.NEGATIVE_INFINITY
    }
  } finally {
    for (const r of running.values()) r.cut.abort()
    await Promise.allSettled([...running.values()].map((r) => r.done))
  }
  return { path: '', length: index.artifact.length, peers: [...contributors], reused }
}

/**
 * A chunked fetch into the store: opens (or resumes) the partial file, registers it so the
 * server serves its chunks onward, runs {@link fetchChunks}, then lands the file. Throws
 * {@link ArtifactFetchError}, naming `why()`'s reason; the partial file stays for a resume.
 */
export async function fetchChunkedIntoStore(
  ctx: ChunkedContext & { readonly partials: Map<string, PartialArtifact> },
  index: ChunkIndex,
  options: ChunkedFetchOptions,
  signal: AbortSignal,
  why: () => ArtifactFetchFailure,
): Promise<ArtifactFetchResult> {
  const pin = index.artifact
  const { storeDir } = ctx.config
  const short = `${pin.sha256.slice(0, 12)}…`
  let partial: PartialArtifact | undefined
  try {
    await mkdir(storeDir, { recursive: true })
    partial = await PartialArtifact.open(storeDir, index)
    ctx.partials.set(pin.sha256, partial)
    const got = await fetchChunks(ctx, partial, options, signal)
    ctx.partials.delete(pin.sha256)
    const path = await partial.commit(storeDir)
    if (path === undefined) {
      throw new ArtifactFetchError(
        `artifact ${short}: every chunk matched the signed chunk index, but the whole file does not match the pinned sha256; the release's index and pin disagree, so its maintainers must publish a corrected release`,
        pin.sha256,
        'io',
      )
    }
    return { path, length: pin.length, peers: got.peers }
  } catch (e) {
    ctx.partials.delete(pin.sha256)
    await partial?.close()
    if (e instanceof ArtifactFetchError) throw e
    const reason = why()
    const held = partial?.heldChunks().filter(Boolean).length ?? 0
    throw new ArtifactFetchError(
      `artifact ${short} (${pin.length} bytes, ${index.chunks.length} chunks) not fetched: ${reason === 'io' ? `the local store failed (${(e as Error)?.message ?? e})` : reason}; ${held} chunk(s) held, kept for a resume`,
      pin.sha256,
      reason,
      { cause: e },
    )
  }
}
