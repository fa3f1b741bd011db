/**
 * Chunked fetches: an artifact whose release pins a chunk index (core/net/chunks.ts) is fetched
 * chunk by chunk from several providers at once, each chunk checked against the index the moment
 * it arrives and served onward from then on (artifact-upload.ts, {@link PartialSource}), so the
 * swarm works while downloads are still running. The schedule is the core's
 * ({@link ChunkPlan}); this file carries it out.
 *
 * The partial file is `.${sha256}.partial.tmp` in the store: a fetch that stops (aborted, the
 * node restarted) leaves it, and the next fetch re-hashes what is on disk and keeps the chunks
 * that match, so it resumes. Chunks of artifacts already in the store (the installed release)
 * that the index names are copied locally instead of fetched. Nothing is renamed into the store
 * before the whole file's sha256 matches the pin as well.
 */
import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger, PeerId } from '@libp2p/interface'
import { type ChunkOutcome, ChunkPlan, DEFAULT_CHUNK_RUN } from '../../core/net/chunk-plan.ts'
import {
  buildChunkIndex,
  type ChunkIndex,
  chunkCount,
  chunkRange,
  chunksOfRange,
  decodeHave,
  encodeHave,
} from '../../core/net/chunks.ts'
import { syncDir } from '../fs/atomic.ts'
import type { ResolvedInit } from './artifact-config.ts'
import { type TransferContext, transfer } from './artifact-transfer.ts'
import type {
  ArtifactFetchOptions,
  ArtifactFetchResult,
  FetchWaitReason,
  ProviderDropReason,
} from './artifact-types.ts'
import type { PartialSource } from './artifact-upload.ts'
import { DiskError } from './errors.ts'

/** How often a running chunked fetch asks for providers again (partial holders appear). */
const REFRESH_MS = 3000
const BACKOFF_START_MS = 250
const BACKOFF_MAX_MS = 4000

/** Hex sha256 of each `chunkSize` block of the file at `path`, and its length. */
export async function hashChunks(
  path: string,
  chunkSize: number,
): Promise<{ sha256: string; length: number; chunks: string[] }> {
  const file = await open(path, constants.O_RDONLY)
  try {
    const whole = createHash('sha256')
    const chunks: string[] = []
    const buf = Buffer.allocUnsafe(chunkSize)
    let length = 0
    for (;;) {
      let filled = 0
      while (filled < chunkSize) {
        const { bytesRead } = await file.read(buf, filled, chunkSize - filled, length + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled === 0) break
      const piece = buf.subarray(0, filled)
      whole.update(piece)
      chunks.push(createHash('sha256').update(piece).digest('hex'))
      length += filled
      if (filled < chunkSize) break
    }
    return { sha256: whole.digest('hex'), length, chunks }
  } finally {
    await file.close()
  }
}

/** The chunk index of the file at `path`, cut at `chunkSize`. */
export async function indexFile(path: string, chunkSize: number): Promise<ChunkIndex> {
  const h = await hashChunks(path, chunkSize)
  return buildChunkIndex({ sha256: h.sha256, length: h.length }, chunkSize, h.chunks)
}

/** The file a chunked fetch writes into; served onward chunk by chunk. */
export class PartialArtifact implements PartialSource {
  readonly path: string
  readonly length: number
  readonly index: ChunkIndex
  private readonly held: boolean[]
  private file: FileHandle | undefined

  private constructor(path: string, index: ChunkIndex, file: FileHandle, held: boolean[]) {
    this.path = path
    this.index = index
    this.length = index.artifact.length
    this.file = file
    this.held = held
  }

  /**
   * Opens (or resumes) the partial file of `index.artifact` in `dir`: chunks already on disk
   * are re-hashed and kept only when they match the index.
   */
  static async open(dir: string, index: ChunkIndex): Promise<PartialArtifact> {
    const path = join(dir, `.${index.artifact.sha256}.partial.tmp`)
    let file: FileHandle
    try {
      file = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644)
    } catch (e) {
      throw new DiskError(`opening ${path} failed`, { cause: e })
    }
    const held = new Array<boolean>(index.chunks.length).fill(false)
    const size = (await file.stat()).size
    if (size > 0) {
      const buf = Buffer.allocUnsafe(index.chunkSize)
      for (let i = 0; i < index.chunks.length; i++) {
        const { start, end } = chunkRange(index, i)
        if (end > size) break
        const { bytesRead } = await file.read(buf, 0, end - start, start)
        if (bytesRead !== end - start) continue
        const h = createHash('sha256').update(buf.subarray(0, bytesRead)).digest('hex')
        held[i] = h === index.chunks[i]
      }
    }
    await file.truncate(index.artifact.length)
    return new PartialArtifact(path, index, file, held)
  }

  heldChunks(): boolean[] {
    return [...this.held]
  }

  covers(start: number, end: number): boolean {
    const r = chunksOfRange(this.index, start, end)
    if (r === undefined) return false
    for (let i = r.first; i <= r.last; i++) if (!this.held[i]) return false
    return true
  }

  have(): string {
    return encodeHave(this.held)
  }

  /** Writes verified chunk `i`; it is served onward only once it is on disk. */
  async write(i: number, bytes: Uint8Array): Promise<void> {
    const { start } = chunkRange(this.index, i)
    try {
      let written = 0
      while (written < bytes.byteLength) {
        const r = await this.file!.write(
          bytes,
          written,
          bytes.byteLength - written,
          start + written,
        )
        written += r.bytesWritten
      }
    } catch (e) {
      throw new DiskError(`writing ${this.path} failed`, { cause: e })
    }
    this.held[i] = true
  }

  /**
   * Checks the whole file against the pin, then fsync, rename into the store, fsync the
   * directory. Returns the store path, or undefined (the file removed) when the hash is wrong.
   */
  async commit(storeDir: string): Promise<string | undefined> {
    const file = this.file!
    const whole = createHash('sha256')
    const buf = Buffer.allocUnsafe(this.index.chunkSize)
    for (let i = 0; i < this.index.chunks.length; i++) {
      const { start, end } = chunkRange(this.index, i)
      const { bytesRead } = await file.read(buf, 0, end - start, start)
      whole.update(buf.subarray(0, bytesRead))
    }
    if (whole.digest('hex') !== this.index.artifact.sha256) {
      await this.discard()
      return undefined
    }
    this.file = undefined
    try {
      await file.sync()
    } finally {
      await file.close()
    }
    const target = join(storeDir, this.index.artifact.sha256)
    await rename(this.path, target)
    await syncDir(storeDir)
    return target
  }

  /** Closes the file and keeps it, for a later fetch to resume. */
  async close(): Promise<void> {
    const file = this.file
    this.file = undefined
    await file?.close().catch(() => {})
  }

  async discard(): Promise<void> {
    await this.close()
    await unlink(this.path).catch(() => {})
  }
}

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

/** Copies chunks the index names out of local artifacts; returns how many were copied. */
async function reuseLocal(partial: PartialArtifact, paths: string[]): Promise<number> {
  const { index } = partial
  const wanted = new Map<string, number[]>()
  const held = partial.heldChunks()
  for (const [i, h] of index.chunks.entries()) {
    if (held[i]) continue
    const list = wanted.get(h) ?? []
    list.push(i)
    wanted.set(h, list)
  }
  let copied = 0
  for (const path of paths) {
    if (wanted.size === 0) break
    try {
      if (!(await stat(path)).isFile()) continue
    } catch {
      continue
    }
    const file = await open(path, constants.O_RDONLY)
    try {
      const buf = Buffer.allocUnsafe(index.chunkSize)
      for (let at = 0; wanted.size > 0; at += index.chunkSize) {
        const { bytesRead } = await file.read(buf, 0, index.chunkSize, at)
        if (bytesRead === 0) break
        const h = createHash('sha256').update(buf.subarray(0, bytesRead)).digest('hex')
        const targets = wanted.get(h)
        if (targets === undefined) continue
        for (const i of targets) {
          const { start, end } = chunkRange(index, i)
          if (end - start !== bytesRead) continue
          await partial.write(i, buf.subarray(0, bytesRead))
          copied++
        }
        wanted.delete(h)
      }
    } finally {
      await file.close()
    }
  }
  return copied
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
        if (running.size === 0) await r
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
      const reason: FetchWaitReason =
        plan.usableProviders === 0
          ? 'no-provider'
          : outcomes.budget > 0 && outcomes.busy === 0 && outcomes.failed === 0
            ? 'budget-spent'
            : outcomes.busy + outcomes.budget > 0 && outcomes.failed === 0
              ? 'all-busy'
              : 'all-failed'
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
      lastRefresh = Number.NEGATIVE_INFINITY
    }
  } finally {
    for (const r of running.values()) r.cut.abort()
    await Promise.allSettled([...running.values()].map((r) => r.done))
  }
  return { path: '', length: index.artifact.length, peers: [...contributors], reused }
}
