/**
 * A node's place in a release's rollout window: a hash of (peer id, release digest), read as a
 * number in [0, 1). Uniform across nodes, the same after every restart, and checkable by any
 * peer that knows both inputs: nobody can pick an early or late slot for themselves.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { utf8 } from '../bytes.ts'

/** Domain tag of the slot hash. */
const SLOT_CONTEXT = 'convoy-rollout-slot-v1'

/** The slot of `peerId` for the release with manifest digest `releaseDigest`: a number in [0, 1). */
export function rolloutSlot(peerId: string, releaseDigest: string): number {
  const h = sha256(utf8(`${SLOT_CONTEXT}\0${peerId}\0${releaseDigest}`))
  // 53 bits: exactly representable, uniform in [0, 1).
  let x = 0
  for (let i = 0; i < 7; i++) x = x * 256 + h[i]!
  return Math.floor(x / 8) / 2 ** 53
}

/** True when the slot puts the node in the canary cohort. */
export function isCanary(slot: number, canaryFraction: number): boolean {
  return slot < canaryFraction
}

/** When the node may switch: the window's start plus its slot's share of the window, in ms. */
export function slotTime(slot: number, windowStart: number, windowSeconds: number): number {
  return windowStart + Math.floor(slot * windowSeconds * 1000)
}
