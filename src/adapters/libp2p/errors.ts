/** Errors the libp2p adapters throw: artifact transfer and the node. */

/** A pin was malformed: the caller's mistake, not a peer's. */
export class InvalidArtifactPinError extends Error {
  override name = 'InvalidArtifactPinError'
}

/** A local file offered to {@link ArtifactService.import} does not match the pin. */
export class ArtifactMismatchError extends Error {
  override name = 'ArtifactMismatchError'
}

/** Why a fetch gave up. */
export type ArtifactFetchFailure = 'aborted' | 'deadline' | 'stopped' | 'io'

/**
 * A fetch gave up: the caller aborted, the deadline passed, the service stopped, or the local
 * disk failed. The message says how many providers were tried and what went wrong with them.
 */
export class ArtifactFetchError extends Error {
  override name = 'ArtifactFetchError'
  /** The artifact that was not fetched. */
  readonly sha256: string
  /** Why the fetch gave up; a peer's misbehaviour is never the reason by itself. */
  readonly reason: ArtifactFetchFailure
  constructor(
    message: string,
    sha256: string,
    reason: ArtifactFetchFailure,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.sha256 = sha256
    this.reason = reason
  }
}

/** A disk failure inside a transfer: must end the fetch, not blame the provider. */
export class DiskError extends Error {
  override name = 'DiskError'
}

/** A refused DHT record; kad-dht turns the throw into a refusal of the PUT or GET. */
export class RecordRejectedError extends Error {
  override name = 'RecordRejectedError'
}

/** The node's role forbids what was asked (a shadow never puts into the DHT, for instance). */
export class RoleRefusedError extends Error {
  override name = 'RoleRefusedError'
}

/** The DHT store refused a put past its quota (core/net/store-quota.ts). */
export class StoreQuotaError extends Error {
  override name = 'StoreQuotaError'
}

/** What the peer did wrong. */
export type HelloFaultKind = 'malformed' | 'oversize' | 'slow' | 'wrong-network' | 'closed'

/** The peer broke the handshake. */
export class HelloFault extends Error {
  override name = 'HelloFault'
  readonly kind: HelloFaultKind
  constructor(kind: HelloFaultKind, message: string) {
    super(message)
    this.kind = kind
  }
}

/** Why one framed read failed. */
export type FrameFaultKind = 'oversize' | 'slow' | 'closed'

/** One length-prefixed read failed: the prefix announced too much, time ran out, or the stream ended. */
export class FrameError extends Error {
  override name = 'FrameError'
  readonly kind: FrameFaultKind
  constructor(kind: FrameFaultKind, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.kind = kind
  }
}
