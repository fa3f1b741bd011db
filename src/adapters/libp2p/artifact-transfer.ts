/**
 * One transfer from one provider: the request, the header, then the bytes of the rest of the
 * artifact (into the temp file) or of one range (a chunk), with the provider cut as slow (below
 * the rate, or stalled), wrong (another length, or a byte past the pin or the range) or failed.
 * What the fetch does with the outcome is artifacts.ts's (or artifact-chunked.ts's) business.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { byteStream } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import { Pace, RunningClock } from '../../core/net/pace.ts'
import type { UploadRefusal } from '../../core/net/uploads.ts'
import {
  decodeArtifactReplyHead,
  encodeArtifactRequest,
  MAX_ARTIFACT_REPLY_BYTES,
} from '../../core/net/wire.ts'
import type { ResolvedInit } from './artifact-config.ts'
import type { ArtifactStats, ProviderDropReason } from './artifact-types.ts'
import { MAX_ARTIFACT_MESSAGE_BYTES } from './artifact-wire.ts'
import { DiskError } from './errors.ts'
import { lengthPrefixed, readLengthPrefixed } from './frames.ts'

/**
 * Bytes the fetcher buffers between the network and the disk. yamux grants a sender more window
 * as bytes arrive, not as they are consumed, so a disk slower than the network would let the
 * buffer grow to this backstop; the transfer pauses the stream above {@link PAUSE_ABOVE} (no
 * more window is granted, so the provider stops) and resumes once the disk caught up.
 */
const MAX_READ_BUFFER = 32 * 1024 * 1024
/** Buffered bytes above which the transfer pauses its stream. */
const PAUSE_ABOVE = 1024 * 1024

/** How one transfer from one provider ended. */
export type TransferOutcome =
  | { kind: 'done' }
  | { kind: 'busy'; detail: string; why: UploadRefusal }
  | { kind: Exclude<ProviderDropReason, 'busy'>; detail: string }
  | { kind: 'not-found'; detail: string; have?: string }

/** What one transfer asks for: bytes `[offset, end)` of the artifact `sha256` of `length`. */
export interface TransferWant {
  sha256: string
  /** The pinned length of the whole artifact. */
  length: number
  offset: number
  /** Exclusive end; absent: the whole rest (the request carries no `end`, as before chunks). */
  end?: number
  /** Takes each piece as it arrives, in order; a throw ({@link DiskError}) ends the fetch. */
  sink(piece: Uint8Array, from: string): Promise<void>
}

/** What a transfer needs of the artifact service. */
export interface TransferContext {
  readonly config: ResolvedInit
  readonly connectionManager: ConnectionManager
  readonly protocol: string
  /** The service's counters: a transfer adds the bytes it receives. */
  readonly counters: ArtifactStats
  /** Runs a caller's callback, logging (not passing on) what it throws. */
  callBack(fn: () => void): void
}

/**
 * Pulls `want` from one provider. Returns how the transfer ended; throws only when `signal`
 * (the whole fetch) aborts or the sink (the disk) fails. `onProgress` is told the position
 * reached after each piece.
 */
export async function transfer(
  ctx: TransferContext,
  peer: PeerId,
  want: TransferWant,
  signal: AbortSignal,
  onProgress?: (position: number, total: number, from: string) => void,
): Promise<TransferOutcome> {
  const { minBytesPerSecond, rateGraceMs, rateWindowMs, stallTimeoutMs, requestTimeoutMs } =
    ctx.config
  const cut = new AbortController()
  const linked = AbortSignal.any([signal, cut.signal])
  let verdict: TransferOutcome | undefined
  const decide = (outcome: TransferOutcome): void => {
    verdict ??= outcome
    cut.abort(new Error('transfer cut'))
  }
  const from = peer.toString()
  let stream: Stream | undefined
  let timer: NodeJS.Timeout | undefined
  let judgedNow = (): number => 0
  try {
    const headerSignal = AbortSignal.any([linked, AbortSignal.timeout(requestTimeoutMs)])
    stream = await ctx.connectionManager.openStream(peer, ctx.protocol, {
      signal: headerSignal,
    })
    // Listen before anything can arrive, so no byte is missed.
    const reader = byteStream(stream, { maxBufferSize: MAX_READ_BUFFER })
    // `confirm`: this requester keeps its side open and closes it only once it holds every
    // byte, so the server can tell a delivered copy from one cut short (its budget counts
    // delivered copies). Servers before 0.2 ignore the member.
    const end = want.end ?? want.length
    const request = {
      sha256: want.sha256,
      offset: want.offset,
      confirm: true,
      ...(want.end === undefined ? {} : { end: want.end }),
    }
    stream.send(lengthPrefixed(encodeArtifactRequest(request)))
    const { message, rest } = await readLengthPrefixed(
      reader,
      headerSignal,
      want.end === undefined ? MAX_ARTIFACT_MESSAGE_BYTES : MAX_ARTIFACT_REPLY_BYTES,
    )
    const decoded = decodeArtifactReplyHead(message)
    if (!decoded.ok) return { kind: 'error', detail: decoded.reason }
    const header = decoded.value
    if (header.status === 'busy') {
      const why = header.reason
      return { kind: 'busy', why, detail: why === 'budget' ? 'upload budget spent' : 'busy' }
    }
    if (header.status === 'not-found') {
      return {
        kind: 'not-found',
        detail: 'does not have it',
        ...(header.have === undefined ? {} : { have: header.have }),
      }
    }
    if (header.length !== want.length) {
      return {
        kind: 'wrong',
        detail: `announced ${header.length} bytes, the pin says ${want.length}`,
      }
    }
    // A server that echoes `end` sends exactly the range; one that does not (older than chunks)
    // sends to the end of the file, and the transfer stops reading at `end`.
    const echoed = header.end !== undefined
    if (want.end !== undefined && echoed && header.end !== want.end) {
      return { kind: 'wrong', detail: `answered a range ending at ${header.end}, not ${want.end}` }
    }

    // Rate and stall are judged on a timer, so a provider that sends nothing at all is cut
    // as surely as one that sends a byte a second. They are judged on this node's running
    // time: when the event loop was held up (a loaded machine, many nodes in one process) a
    // late tick counts as two ticks at most, so the provider is never blamed for time in which
    // this node could not read what it had sent.
    const tick = Math.max(20, Math.min(250, rateWindowMs / 10, stallTimeoutMs / 10))
    const clock = new RunningClock(tick, Date.now())
    const pace = new Pace(
      { minBytesPerSecond, graceMs: rateGraceMs, windowMs: rateWindowMs },
      end - want.offset,
    )
    let lastByteAt = 0
    let received = 0
    const position = (): number => want.offset + received
    judgedNow = () => clock.now
    timer = setInterval(() => {
      const now = clock.advance(Date.now())
      if (now - lastByteAt >= stallTimeoutMs) {
        // All bytes are in but the provider never closed: nothing to hold against it.
        if (position() === end) decide({ kind: 'done' })
        else decide({ kind: 'slow', detail: `stalled: no byte for ${now - lastByteAt} ms` })
        return
      }
      if (position() >= end) return
      const slow = pace.sample(now, received)
      if (slow !== undefined) decide({ kind: 'slow', detail: slow.detail })
    }, tick)

    let pending: Uint8ArrayList | null = rest.byteLength > 0 ? rest : null
    let paused = false
    // @libp2p/utils' byteStream keeps its buffer as `readBuffer` (not in its type); without it,
    // nothing pauses and the backstop above still holds.
    const buffered = (): number =>
      (reader as unknown as { readBuffer?: Uint8ArrayList }).readBuffer?.byteLength ?? 0
    for (;;) {
      if (paused && buffered() < PAUSE_ABOVE) {
        paused = false
        stream.resume()
      }
      const chunk = pending ?? (await reader.read({ signal: linked }))
      pending = null
      if (chunk === null) break
      ctx.counters.bytesDownloaded += chunk.byteLength
      let take = chunk.byteLength
      if (position() + take > end) {
        // An older server streams on past the range: keep what was asked for and stop.
        if (want.end === undefined || echoed) {
          return {
            kind: 'wrong',
            detail:
              want.end === undefined
                ? `sent more than the pinned ${want.length} bytes`
                : `sent more than the range of ${end - want.offset} bytes`,
          }
        }
        take = end - position()
      }
      lastByteAt = judgedNow()
      // One write for all the frames one read returned: a write per frame (64 KiB) waited on
      // the disk once per frame, and halved a two-node transfer (bench/two-node.ts).
      const piece = chunk.subarray(0, take)
      received += take
      await want.sink(piece, from)
      if (want.end !== undefined && !echoed && position() === end) return { kind: 'done' }
      // The disk fell behind: hold the provider (no more window) until it catches up.
      if (!paused && buffered() >= PAUSE_ABOVE) {
        paused = true
        stream.pause()
      }
      if (onProgress !== undefined) {
        ctx.callBack(() => onProgress(position(), want.length, from))
      }
      if (verdict !== undefined) return verdict
    }
    if (position() === end) {
      // Every byte is here: say so by closing this side (see `confirm` above).
      await stream.close({
        signal: AbortSignal.any([signal, AbortSignal.timeout(stallTimeoutMs)]),
      })
      return { kind: 'done' }
    }
    return { kind: 'error', detail: `closed after ${position()} of ${end} bytes` }
  } catch (e) {
    if (verdict !== undefined) return verdict
    if (signal.aborted) throw e
    if (e instanceof DiskError) throw e
    return { kind: 'error', detail: (e as Error)?.message ?? String(e) }
  } finally {
    clearInterval(timer)
    if (stream !== undefined && stream.status === 'open') {
      stream.abort(new Error('artifact transfer ended'))
    }
  }
}
