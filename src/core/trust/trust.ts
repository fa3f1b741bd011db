/**
 * A node's trust state: the verified key-set chain and, per channel, the verified releases and
 * the highest sequence ever trusted. Pure and immutable: each accept returns a new state, and the
 * adapter persists it before acting on it, so a node never goes back across restarts.
 */

import type { Envelope } from '../manifest/envelope.ts'
import {
  decodeRelease,
  type ReleaseSigned,
  type VerifiedRelease,
  verifyDecodedRelease,
} from '../manifest/release.ts'
import { decodeRoot, type RootSigned, verifyRootUpdate } from '../manifest/root.ts'
import { documentDigest, type VerifyFn } from '../manifest/signing.ts'
import { fail, ok, type Result } from '../result.ts'
import { buildHistory, type ReleaseHistory, type ReleaseRef } from '../version/history.ts'

/** A verified release as the node keeps it. */
export interface KnownRelease extends ReleaseRef {
  digest: string
  capabilities: string[]
}

/** Per-channel trust. */
export interface ChannelTrust {
  /** Highest sequence trusted on this channel, with its digest: never decreases. */
  latest?: { sequence: number; digest: string; version: string }
  /** Verified releases, by sequence. */
  releases: KnownRelease[]
}

/** Everything a node trusts. */
export interface TrustState {
  network: string
  /** Verified roots, oldest first; the last is the current key set. */
  roots: RootSigned[]
  channels: Record<string, ChannelTrust>
}

/** Most releases remembered per channel; older ones are dropped from the history. */
export const MAX_HISTORY = 64

/** A fresh state trusting only `anchor` (already verified by the caller). */
export function initialTrust(anchor: RootSigned): TrustState {
  return { network: anchor.network, roots: [anchor], channels: {} }
}

/** The current key set. */
export function currentRoot(state: TrustState): RootSigned {
  return state.roots.at(-1)!
}

/** The channel's verified history for distance counting. */
export function channelHistory(state: TrustState, channel: string): ReleaseHistory {
  return buildHistory(state.channels[channel]?.releases ?? [])
}

/** Capabilities a verified version lists on a channel. */
export function capabilitiesOf(
  state: TrustState,
  channel: string,
  version: string,
): string[] | undefined {
  const rs = state.channels[channel]?.releases ?? []
  for (let i = rs.length - 1; i >= 0; i--)
    if (rs[i]!.version === version) return rs[i]!.capabilities
  return undefined
}

/** Options for {@link acceptRoot} and {@link acceptRelease}. */
export interface AcceptOptions {
  now: number
  verify?: VerifyFn
}

/**
 * Checks a root record against the chain. A known version must be byte-for-byte the same root
 * (a different one is a conflict); the next version must pass TUF's rotation rule; anything
 * further ahead is refused until the versions in between arrive.
 */
export function acceptRoot(
  state: TrustState,
  bytes: Uint8Array,
  options: AcceptOptions,
): Result<{ state: TrustState; root: RootSigned; isNew: boolean }> {
  const env = decodeRoot(bytes)
  if (!env.ok) return env
  const root = env.value.signed
  if (root.network !== state.network)
    return fail(
      'wrong-network',
      `wrong network: root is for "${root.network}", this node is on "${state.network}"`,
    )
  const current = currentRoot(state)
  if (root.version <= current.version) {
    const known = state.roots.find((r) => r.version === root.version)
    if (known !== undefined && documentDigest(known) !== documentDigest(root)) {
      return fail('conflict', `conflict: a different root v${root.version} is already trusted`)
    }
    if (known === undefined) {
      // Older than the anchor this node started from: nothing here can check it, and nothing needs it.
      return fail(
        'root-version',
        `root v${root.version} is older than the trust anchor (v${state.roots[0]!.version}) and cannot be checked`,
      )
    }
    return ok({ state, root: known, isNew: false })
  }
  if (root.version > current.version + 1) {
    return fail(
      'root-version',
      `root v${root.version} cannot be checked yet: root v${current.version + 1} is needed first`,
    )
  }
  const next = verifyRootUpdate(current, bytes, options.verify ? { verify: options.verify } : {})
  if (!next.ok) return next
  return ok({
    state: { ...state, roots: [...state.roots, next.value.signed] },
    root: next.value.signed,
    isNew: true,
  })
}

/** What {@link acceptRelease} found. */
export interface AcceptedRelease {
  state: TrustState
  release: VerifiedRelease
  /** True when this manifest raised the channel's highest trusted sequence. */
  isLatest: boolean
  /** True when the release was not known before. */
  isNew: boolean
}

/**
 * Verifies a release against the current root and records it. A release older than the channel's
 * latest is still accepted into the history (it helps count distance) but never lowers `latest`;
 * a second manifest for a known sequence with a different digest is a conflict.
 */
export function acceptRelease(
  state: TrustState,
  bytes: Uint8Array,
  options: AcceptOptions & { allowExpired?: boolean },
): Result<AcceptedRelease> {
  const env = decodeRelease(bytes)
  if (!env.ok) return env
  return acceptDecodedRelease(state, env.value, options)
}

/** {@link acceptRelease} for a decoded envelope. */
export function acceptDecodedRelease(
  state: TrustState,
  env: Envelope<ReleaseSigned>,
  options: AcceptOptions & { allowExpired?: boolean },
): Result<AcceptedRelease> {
  const channel = env.signed.channel
  const trust = state.channels[channel] ?? { releases: [] }
  const sameSeq = trust.releases.find((r) => r.sequence === env.signed.sequence)
  const verified = verifyDecodedRelease(env, {
    root: currentRoot(state),
    now: options.now,
    ...(options.verify ? { verify: options.verify } : {}),
    // History entries older than `latest` may have expired; they still count for distance.
    allowExpired:
      options.allowExpired === true ||
      (trust.latest !== undefined && env.signed.sequence < trust.latest.sequence),
    ...(sameSeq ? { trusted: { sequence: sameSeq.sequence, digest: sameSeq.digest } } : {}),
  })
  if (!verified.ok) return verified
  const release = verified.value
  const isNew = sameSeq === undefined
  const isLatest = trust.latest === undefined || release.signed.sequence > trust.latest.sequence
  if (!isNew) return ok({ state, release, isLatest: false, isNew: false })
  const known: KnownRelease = {
    version: release.signed.version,
    sequence: release.signed.sequence,
    digest: release.digest,
    capabilities: release.signed.capabilities,
  }
  const releases = [...trust.releases, known]
    .sort((a, b) => a.sequence - b.sequence)
    .slice(-MAX_HISTORY)
  const next: ChannelTrust = {
    releases,
    ...(isLatest
      ? { latest: { sequence: known.sequence, digest: known.digest, version: known.version } }
      : trust.latest
        ? { latest: trust.latest }
        : {}),
  }
  return ok({
    state: { ...state, channels: { ...state.channels, [channel]: next } },
    release,
    isLatest,
    isNew,
  })
}

/**
 * Would this record be accepted for storage by an honest DHT node? Verified against the current
 * root, and not older than the latest trusted on its channel (so a replay cannot overwrite a newer
 * record here). Pure: the caller turns a refusal into a thrown error for kad-dht.
 */
export function checkReleaseRecord(
  state: TrustState,
  bytes: Uint8Array,
  options: AcceptOptions & { channel: string; sequence?: number },
): Result<VerifiedRelease> {
  const env = decodeRelease(bytes)
  if (!env.ok) return env
  if (env.value.signed.channel !== options.channel) {
    return fail(
      'wrong-channel',
      `wrong channel: record key is for "${options.channel}", manifest is for "${env.value.signed.channel}"`,
    )
  }
  if (options.sequence !== undefined && env.value.signed.sequence !== options.sequence) {
    return fail(
      'malformed',
      `malformed: record key names sequence ${options.sequence}, manifest has ${env.value.signed.sequence}`,
    )
  }
  const isHistory = options.sequence !== undefined
  const known = state.channels[options.channel]?.releases.find(
    (r) => r.sequence === env.value.signed.sequence,
  )
  const latest = isHistory ? known : state.channels[options.channel]?.latest
  const root = currentRoot(state)
  return verifyDecodedRelease(env.value, {
    root,
    now: options.now,
    ...(options.verify ? { verify: options.verify } : {}),
    // A per-sequence history record may be old and expired; the latest-pointer record may not.
    allowExpired: isHistory,
    ...(latest !== undefined ? { trusted: latest } : {}),
  })
}
