/**
 * Outcome of checking untrusted input. The core never throws on bytes that came from a peer, a
 * file or the DHT: it returns a reason a person can act on, plus a stable machine-readable code.
 */
export type Result<T> = { ok: true; value: T } | Failure

/** A refusal: `code` is stable for programs, `reason` is one line for people. */
export interface Failure {
  ok: false
  code: FailureCode
  reason: string
}

/** Stable codes for every way untrusted input can be refused. */
export type FailureCode =
  | 'too-large'
  | 'malformed'
  | 'wrong-type'
  | 'unsupported'
  | 'wrong-network'
  | 'wrong-channel'
  | 'threshold'
  | 'expired'
  | 'stale-sequence'
  | 'conflict'
  | 'root-version'
  | 'chain-too-long'

/** Wraps a value as a success. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value }
}

/** Builds a refusal. */
export function fail(code: FailureCode, reason: string): Failure {
  return { ok: false, code, reason }
}
