/**
 * The server side of the artifact protocol: one request answered from the store, with the
 * upload slot and budget decided by the service's {@link UploadLedger} and the requester held
 * to the upload pace ({@link Pace}).
 */
import { constants } from 'node:fs'
import { type FileHandle, open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Connection, Logger, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { PeerBudgets } from '../../core/net/budget.ts'
import { Pace, RunningClock } from '../../core/net/pace.ts'
import type { UploadLedger } from '../../core/net/uploads.ts'
import {
  type ArtifactReplyHead,
  decodeArtifactRequest,
  encodeArtifactReplyHead,
} from '../../core/net/wire.ts'
import type { ResolvedInit } from './artifact-config.ts'
import type { ArtifactStats } from './artifact-types.ts'
import { confirmed, MAX_ARTIFACT_MESSAGE_BYTES } from './artifact-wire.ts'

/** Bytes read from disk per send when serving. */
export const UPLOAD_CHUNK: number = 128 * 1024

/**
 * Waits until at most `limit` bytes wait in `stream`'s write buffer, or the stream is closed;
 * rejects with `signal`'s reason when it aborts first. What a writer waits on after a `send`
 * that returned false.
 *
 * Not `stream.onDrain()`: in @libp2p/utils 7.4.1 the promise it returns is kept once resolved,
 * so after a stream's first drain every later call returns at once, and a writer that trusts it
 * buffers the rest of what it sends. A seeder uploading to slow readers held 68.5 MiB of
 * artifact in write buffers that way (a heap snapshot in the flood suite, docs/benchmarks.md).
 * A `drain` event alone is not enough either: the muxer tells every stream of a connection when
 * the connection drains, also a stream whose reader grants no window. So this counts bytes.
 */
export async function drained(stream: Stream, limit: number, signal: AbortSignal): Promise<void> {
  while (stream.writeBufferLength > limit && stream.status === 'open') {
    signal.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        stream.removeEventListener('drain', done)
        stream.removeEventListener('close', done)
        signal.removeEventListener('abort', done)
        if (signal.aborted) reject(signal.reason)
        else resolve()
      }
      stream.addEventListener('drain', done)
      stream.addEventListener('close', done)
      signal.addEventListener('abort', done)
    })
    // The stream's own drain listener sends what it can in a microtask queued before this one.
    await Promise.resolve()
  }
}

/** An artifact being fetched in chunks, served onward chunk by chunk as each is verified. */
export interface PartialSource {
  /** The file the chunks are written into. */
  readonly path: string
  /** The pinned length of the whole artifact. */
  readonly length: number
  /** True when every chunk of `[start, end)` is verified and the range is chunk-aligned. */
  covers(start: number, end: number): boolean
  /** The verified chunks as a bitfield (core/net/chunks.ts, `encodeHave`). */
  have(): string
}

/** What serving a request needs of the artifact service. */
export interface UploadContext {
  readonly config: ResolvedInit
  readonly ledger: UploadLedger
  /** Artifact requests per peer. */
  readonly requestBudget: PeerBudgets
  /** The service's counters: an upload adds what it sends and serves. */
  readonly counters: ArtifactStats
  readonly log: Logger | undefined
  /** The signal of the service's current run: aborted when it stops. */
  shutdown(): AbortSignal
  /** The partial download of `sha256` in progress, if any. */
  partial(sha256: string): PartialSource | undefined
}

/** Serves one request. Peers' mistakes end the stream; they never throw out of here. */
export async function serveArtifact(
  ctx: UploadContext,
  stream: Stream,
  connection: Connection,
): Promise<void> {
  const { requestTimeoutMs, stallTimeoutMs, storeDir } = ctx.config
  // Requests per peer (core/net/budget.ts): past its rate a peer's stream is reset unread.
  const peer = connection.remotePeer.toString()
  const allowed = ctx.requestBudget.begin(peer, Date.now())
  if (!allowed.ok) {
    stream.abort(new Error(`artifact request budget spent (${allowed.reason}): slow down`))
    return
  }
  let ticket: string | undefined
  let complete = false
  let file: FileHandle | undefined
  let timer: NodeJS.Timeout | undefined
  const tooSlow = new AbortController()
  try {
    const requestSignal = AbortSignal.any([ctx.shutdown(), AbortSignal.timeout(requestTimeoutMs)])
    const lp = lpStream(stream, { maxDataLength: MAX_ARTIFACT_MESSAGE_BYTES })
    const decoded = decodeArtifactRequest((await lp.read({ signal: requestSignal })).subarray())
    if (!decoded.ok) {
      stream.abort(new Error(decoded.reason))
      return
    }
    const request = decoded.value
    const reply = async (header: ArtifactReplyHead): Promise<void> => {
      await lp.write(encodeArtifactReplyHead(header), { signal: requestSignal })
    }
    // The store holds only verified artifacts; a partial download holds verified chunks.
    let path = join(storeDir, request.sha256)
    let size: number | undefined
    try {
      const info = await stat(path)
      if (info.isFile()) size = info.size
    } catch {}
    const ranged = request.end !== undefined
    if (size === undefined) {
      const partial = ctx.partial(request.sha256)
      const stop = request.end ?? partial?.length ?? 0
      if (partial === undefined || !partial.covers(request.offset, stop)) {
        // The bitfield is for fetchers that ask by range: an older one could not read it.
        await reply(
          ranged && partial !== undefined
            ? { status: 'not-found', have: partial.have() }
            : { status: 'not-found' },
        )
        await stream.close({ signal: requestSignal })
        return
      }
      path = partial.path
      size = partial.length
    }
    const stop = Math.min(request.end ?? size, size)
    const bandwidth = ctx.config.bandwidth
    if (bandwidth !== undefined && !bandwidth.uploadAllowed(stop - request.offset, Date.now())) {
      await reply({ status: 'busy', reason: 'quota' })
      await stream.close({ signal: requestSignal })
      return
    }
    const decision = ctx.ledger.admit(
      connection.remotePeer.toString(),
      request.sha256,
      size,
      request.offset,
      Date.now(),
      request.end,
    )
    if (!decision.admit) {
      await reply({ status: 'busy', reason: decision.reason })
      await stream.close({ signal: requestSignal })
      return
    }
    ticket = decision.ticket
    ctx.counters.uploadsActive++
    file = await open(path, constants.O_RDONLY)
    await reply(ranged ? { status: 'ok', length: size, end: stop } : { status: 'ok', length: size })
    let position = Math.min(request.offset, size)
    const start = position
    // The requester must take the bytes at the upload pace (core/net/pace.ts), judged on a
    // timer on this node's running time, so that a reader that never drains is cut too.
    const pace = new Pace(ctx.config.uploadPace, stop - start)
    const tick = Math.max(20, Math.min(250, ctx.config.uploadPace.windowMs / 10))
    const clock = new RunningClock(tick, Date.now())
    // Bytes taken: read from disk, less what still waits in the stream's write buffer.
    timer = setInterval(() => {
      const taken = Math.max(0, position - start - stream.writeBufferLength)
      const slow = pace.sample(clock.advance(Date.now()), taken)
      if (slow !== undefined && !tooSlow.signal.aborted) {
        ctx.counters.uploadsTooSlow++
        tooSlow.abort(new Error(`requester too slow (${slow.kind}): ${slow.detail}`))
      }
    }, tick)
    const sending = AbortSignal.any([ctx.shutdown(), tooSlow.signal])
    while (position < stop) {
      if (sending.aborted) throw sending.reason
      const want = Math.min(UPLOAD_CHUNK, stop - position)
      // The node runner's upload cap: wait for the bytes' turn (adapters/libp2p/bandwidth.ts).
      const wait = bandwidth?.takeUpload(want, Date.now()) ?? 0
      if (wait > 0) await sleep(wait, undefined, { signal: sending })
      // A fresh buffer per send: the stream keeps a reference until the bytes are written.
      const buf = Buffer.allocUnsafe(want)
      const { bytesRead } = await file.read(buf, 0, buf.length, position)
      if (bytesRead === 0) break
      position += bytesRead
      ctx.counters.bytesUploaded += bytesRead
      if (!stream.send(buf.subarray(0, bytesRead))) {
        // A requester that stops reading must not hold an upload slot forever.
        await drained(
          stream,
          UPLOAD_CHUNK,
          AbortSignal.any([sending, AbortSignal.timeout(stallTimeoutMs)]),
        )
      }
    }
    const closed = confirmed(stream)
    // The close waits for the write buffer to drain: still held to the pace.
    await stream.close({
      signal: AbortSignal.any([sending, AbortSignal.timeout(stallTimeoutMs)]),
    })
    clearInterval(timer)
    // A copy counts as delivered when the requester confirms it holds every byte by closing
    // its side; one that resets the stream (it left, or cut the transfer) has not got it.
    // Requesters before 0.2 closed their side with the request: for them, sent is delivered.
    complete =
      position >= stop &&
      (!request.confirm ||
        (await closed(AbortSignal.any([ctx.shutdown(), AbortSignal.timeout(2 * stallTimeoutMs)]))))
    if (complete) ctx.counters.uploadsServed++
  } catch (e) {
    ctx.log?.('artifact upload to %p ended: %s', connection.remotePeer, (e as Error)?.message)
    stream.abort(e instanceof Error ? e : new Error(String(e)))
  } finally {
    clearInterval(timer)
    if (ticket !== undefined) {
      ctx.counters.uploadsActive--
      ctx.ledger.finish(ticket, complete, Date.now())
    }
    await file?.close().catch(() => {})
    ctx.requestBudget.end(peer)
  }
}
