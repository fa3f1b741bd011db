/**
 * The artifact protocol on the wire (see artifacts.ts for the exchange): its protocol id, the
 * length-prefixed request and response headers, and how a server tells a confirmed copy.
 */
import type { Stream } from '@libp2p/interface'
import { protocolId } from '../../core/net/hello.ts'
import { MAX_CONTROL_BYTES } from '../../core/net/wire.ts'

/** Largest request or response header accepted, in bytes (before the JSON is decoded). */
export const MAX_ARTIFACT_MESSAGE_BYTES: number = MAX_CONTROL_BYTES

/** The artifact protocol id of `network`: two networks never exchange artifacts by accident. */
export function artifactProtocol(network: string): string {
  return protocolId(network, 'artifact')
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
