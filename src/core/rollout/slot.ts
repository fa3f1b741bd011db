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

/**
 * Whether `peerId` is a canary for the release, given the peers it knows. A slot below the
 * fraction makes a canary. When the fraction names none of the nodes the node knows (itself
 * and `knownPeers`), the one with the lowest slot among them acts as canary, so every release
 * in a network of two or more has one. Any peer that knows the same ids can check it.
 *
 * How it can fail: two nodes that know different peers may both think they are lowest (two
 * canaries: more caution, not less), or a node may know a lower peer that is offline, held or
 * not upgrading (no canary: the release waits, it does not spread). It never makes a node a
 * canary while the fraction names another node it knows. A node that knows no peer at all is
 * its own canary (it is the lowest of one): a lone node would otherwise wait for ever. Without
 * `knownPeers` (a driver that does not say), the fraction alone decides.
 */
export function actsAsCanary(
  peerId: string,
  releaseDigest: string,
  canaryFraction: number,
  knownPeers?: readonly string[],
): boolean {
  const mine = rolloutSlot(peerId, releaseDigest)
  if (isCanary(mine, canaryFraction)) return true
  if (knownPeers === undefined) return false
  for (const p of knownPeers) {
    if (p === peerId) continue
    const theirs = rolloutSlot(p, releaseDigest)
    if (isCanary(theirs, canaryFraction) || theirs < mine) return false
  }
  // Lowest of all it knows (a node that knows nobody is the lowest of one).
  return true
}

/**
 * When a non-canary may switch, once its wave started: its slot, rescaled from [fraction, 1)
 * onto the whole window, counted from the wave's start (the moment the canaries' probation
 * evidence arrived), in ms. No machine speed can put a non-canary before that evidence.
 */
export function waveSlotTime(
  slot: number,
  canaryFraction: number,
  waveStart: number,
  windowSeconds: number,
): number {
  const share = canaryFraction >= 1 ? 0 : Math.max(0, slot - canaryFraction) / (1 - canaryFraction)
  return waveStart + Math.floor(Math.min(share, 1) * windowSeconds * 1000)
}

/**
 * When a canary may switch: its slot's share of the window from the node's first sight of the
 * release. A canary by the lowest-slot rule (slot past the fraction) goes at the end of the
 * canary span.
 */
export function canarySlotTime(
  slot: number,
  canaryFraction: number,
  windowStart: number,
  windowSeconds: number,
): number {
  return slotTime(Math.min(slot, canaryFraction), windowStart, windowSeconds)
}

/** When the node may switch: the window's start plus its slot's share of the window, in ms. */
export function slotTime(slot: number, windowStart: number, windowSeconds: number): number {
  return windowStart + Math.floor(slot * windowSeconds * 1000)
}
