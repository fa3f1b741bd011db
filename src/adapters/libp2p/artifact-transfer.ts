/**
 * One transfer from one provider into the temp file: the request, the header, then the bytes,
 * with the provider cut as slow (below the rate, or stalled), wrong (another length, or a byte
 * past the pin) or failed. What the fetch does with the outcome is artifacts.ts's business.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { byteStream } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { ArtifactPin } from '../../core/manifest/release.ts'
import { Pace, RunningClock } from '../../core/net/pace.ts'
import type { UploadRefusal } from '../../core/net/uploads.ts'
import { decodeArtifactReplyHead, encodeArtifactRequest } from '../../core/net/wire.ts'
import type { ResolvedInit } from './artifact-config.ts'
import type { ArtifactFetchOptions, ArtifactStats, ProviderDropReason } from './artifact-types.ts'
import { lengthPrefixed, readLengthPrefixed } from './artifact-wire.ts'
import { DiskError } from './errors.ts'
import type { TempArtifact } from './temp-artifact.ts'

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
  | { kind: Exclude<ProviderDropReason, 'busy'> | 'not-found'; detail: string }

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
 * Pulls the rest of the artifact from one provider into `temp`. Returns how the transfer
 * ended; throws only when `signal` (the whole fetch) aborts or the disk fails.
 */
export async function transfer(
  ctx: TransferContext,
  peer: PeerId,
  pin: ArtifactPin,
  temp: TempArtifact,
  signal: AbortSignal,
  onProgress: ArtifactFetchOptions['onProgress'],
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
    const request = { sha256: pin.sha256, offset: temp.offset, confirm: true }
    stream.send(lengthPrefixed(encodeArtifactRequest(request)))
    const { message, rest } = await readLengthPrefixed(reader, headerSignal)
    const decoded = decodeArtifactReplyHead(message)
    if (!decoded.ok) return { kind: 'error', detail: decoded.reason }
    const header = decoded.value
    if (header.status === 'busy') {
      const why = header.reason
      return { kind: 'busy', why, detail: why === 'budget' ? 'upload budget spent' : 'busy' }
    }
    if (header.status === 'not-found') return { kind: 'not-found', detail: 'does not have it' }
    if (header.length !== pin.length) {
      return {
        kind: 'wrong',
        detail: `announced ${header.length} bytes, the pin says ${pin.length}`,
      }
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
      pin.length - temp.offset,
    )
    let lastByteAt = 0
    let received = 0
    judgedNow = () => clock.now
    timer = setInterval(() => {
      const now = clock.advance(Date.now())
      if (now - lastByteAt >= stallTimeoutMs) {
        // All bytes are in but the provider never closed: nothing to hold against it.
        if (temp.offset === pin.length) decide({ kind: 'done' })
        else decide({ kind: 'slow', detail: `stalled: no byte for ${now - lastByteAt} ms` })
        return
      }
      if (temp.offset >= pin.length) return
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
      if (temp.offset + chunk.byteLength > pin.length) {
        return {
          kind: 'wrong',
          detail: `sent more than the pinned ${pin.length} bytes`,
        }
      }
      lastByteAt = judgedNow()
      received += chunk.byteLength
      for (const buf of chunk) await temp.append(buf, from)
      // The disk fell behind: hold the provider (no more window) until it catches up.
      if (!paused && buffered() >= PAUSE_ABOVE) {
        paused = true
        stream.pause()
      }
      if (onProgress !== undefined) {
        ctx.callBack(() => onProgress(temp.offset, pin.length, from))
      }
      if (verdict !== undefined) return verdict
    }
    if (temp.offset === pin.length) {
      // Every byte is here: say so by closing this side (see `confirm` above).
      await stream.close({
        signal: AbortSignal.any([signal, AbortSignal.timeout(stallTimeoutMs)]),
      })
      return { kind: 'done' }
    }
    return { kind: 'error', detail: `closed after ${temp.offset} of ${pin.length} bytes` }
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
