/**
 * Convoy's one frame codec: every protocol frames its messages as an unsigned varint length and
 * the bytes. Control messages are read through `lpStream` with a cap ({@link readFrame}); the
 * artifact protocol, whose body follows its header in the same stream, reads and writes its
 * header by hand ({@link readLengthPrefixed}, {@link lengthPrefixed}) so the body is not
 * buffered twice.
 */
import type { AbortOptions } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameError } from './errors.ts'

/**
 * Reads one length-prefixed (unsigned varint) message from `lp` within `timeoutMs` (and before
 * `signal`, if given). The cap is the `maxDataLength` `lp` was made with: pass the same number
 * as `maxBytes` so the error can name it. Throws {@link FrameError}: `oversize` when the prefix
 * announces more than the cap (nothing more is read), `slow` past the deadline, `closed` when
 * the stream ends, cleanly between messages or not. Shared by every convoy protocol that
 * frames JSON this way (hello, manifest exchange, reports, revocations).
 */
export async function readFrame(
  lp: LengthPrefixedStream,
  timeoutMs: number,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(timeoutMs)
  try {
    const chunk = await lp.read({
      signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
    })
    return chunk.subarray()
  } catch (e) {
    const err = e as Error
    if (
      err.name === 'InvalidDataLengthError' ||
      err.name === 'InvalidMessageLengthError' ||
      err.name === 'InvalidDataLengthLengthError'
    ) {
      throw new FrameError('oversize', `message larger than ${maxBytes} bytes`, { cause: e })
    }
    if (timeout.aborted) {
      throw new FrameError('slow', `no complete message within ${timeoutMs} ms`, { cause: e })
    }
    if (err.name === 'TimeoutError' || err.name === 'AbortError') {
      throw new FrameError('closed', `read aborted (${err.message})`, { cause: e })
    }
    throw new FrameError('closed', `stream ended (${err.message})`, { cause: e })
  }
}

/** `payload` behind its length as an unsigned varint. */
export function lengthPrefixed(payload: Uint8Array): Uint8Array {
  const prefix: number[] = []
  let n = payload.byteLength
  while (n >= 0x80) {
    prefix.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  prefix.push(n)
  const out = new Uint8Array(prefix.length + payload.byteLength)
  out.set(prefix, 0)
  out.set(payload, prefix.length)
  return out
}

/**
 * Reads one length-prefixed message (capped at `maxBytes`) and returns
 * it with whatever bytes arrived after it. Done by hand rather than with `lpStream` because the
 * body follows in the same stream and must not be buffered twice.
 */
export async function readLengthPrefixed(
  reader: { read(options?: AbortOptions): Promise<Uint8ArrayList | null> },
  signal: AbortSignal,
  maxBytes: number,
): Promise<{ message: Uint8Array; rest: Uint8ArrayList }> {
  const buf = new Uint8ArrayList()
  for (;;) {
    // Unsigned varint; two bytes cover every length up to the cap.
    let length = 0
    let prefix = 0
    let complete = false
    while (prefix < buf.byteLength && prefix < 2) {
      const b = buf.get(prefix)
      length += (b & 0x7f) * 2 ** (7 * prefix)
      prefix++
      if ((b & 0x80) === 0) {
        complete = true
        break
      }
    }
    if (!complete && prefix >= 2) throw new Error('header length prefix too long')
    if (complete) {
      if (length > maxBytes) throw new Error(`header of ${length} bytes`)
      if (buf.byteLength >= prefix + length) {
        return {
          message: buf.subarray(prefix, prefix + length),
          rest: buf.sublist(prefix + length),
        }
      }
    }
    const more = await reader.read({ signal })
    if (more === null) throw new Error('stream ended before the header')
    buf.append(more)
  }
}
