/**
 * The artifact protocol on the wire (see artifacts.ts for the exchange): its protocol id, the
 * length-prefixed request and response headers, and how a server tells a confirmed copy.
 */
import type { AbortOptions, Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_CONTROL_BYTES } from '../../core/net/wire.ts'

/** Largest request or response header accepted, in bytes (before the JSON is decoded). */
export const MAX_ARTIFACT_MESSAGE_BYTES: number = MAX_CONTROL_BYTES

/** The artifact protocol id of `network`: two networks never exchange artifacts by accident. */
export function artifactProtocol(network: string): string {
  return `/convoy/${network}/artifact/1.0.0`
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
  maxBytes: number = MAX_ARTIFACT_MESSAGE_BYTES,
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

/** A server's response header. */
/**
 * Watches `stream` from now on; the returned function resolves true once the remote has closed
 * its writable side without a reset (it confirmed the copy), false on a reset or when `signal`
 * fires first.
 */
export function confirmed(stream: Stream): (signal: AbortSignal) => Promise<boolean> {
  let remoteClosed = stream.remoteWriteStatus === 'closed'
  let reset = false
  const settled = new Promise<void>((resolve) => {
    stream.addEventListener('remoteCloseWrite', () => {
      remoteClosed = true
      resolve()
    })
    stream.addEventListener('close', (evt) => {
      if (evt.error !== undefined) reset = true
      else remoteClosed = true
      resolve()
    })
  })
  return async (signal) => {
    if (!remoteClosed && !reset && !signal.aborted) {
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => resolve(), { once: true })
        void settled.then(resolve)
      })
    }
    return remoteClosed && !reset
  }
}
