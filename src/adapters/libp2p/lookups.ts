/**
 * Freeze detection and DHT lookups: the sequences peers claim in hello, a direct fetch from a
 * peer that claims more than this node verified, periodic lookups of new roots, the newest
 * manifest and missing history, widened while a freeze is suspected.
 */
import { decodeRelease } from '../../core/manifest/release.ts'
import {
  FREEZE_FAILED_LOOKUPS,
  freezeSuspected,
  lookupFailed,
  nextLookupMs,
} from '../../core/net/freeze.ts'
import { currentRoot } from '../../core/trust/trust.ts'
import type { NodeParts, NodeState } from './node-state.ts'
import { latestKey, rootKey, sequenceKey } from './records.ts'
import { revocationKey } from './revocations.ts'
import type { FreezeStatus } from './status.ts'

/** What peers claim of one channel. */
export interface ClaimState {
  byPeer: Map<string, number>
  since?: number
  failedLookups: number
}

/** How many older manifests a node fetches behind the newest, to count distances. */
const HISTORY_BACKFILL = 8

/** The claims peers make and the lookups they and the clock set off. */
export class Lookups {
  /** Claims by channel. */
  readonly claims: Map<string, ClaimState> = new Map()
  lookupTimer?: NodeJS.Timeout
  private lookupRunning?: Promise<void>
  private lookupAgain = false
  private readonly peerFetches = new Set<string>()
  private lookupRound = 0
  private readonly backfillTried = new Map<number, number>()
  private readonly state: NodeState
  private readonly parts: NodeParts

  constructor(state: NodeState, parts: NodeParts) {
    this.state = state
    this.parts = parts
  }

  /** Notes the sequence `peer` claims on `channel`; one newer than verified on ours is fetched. */
  noteClaim(peer: string, channel: string, sequence: number): void {
    // Only channels this node follows or trusts a manifest of: a claim on any other is nothing
    // it can act on, and keeping it let one peer grow /status without bound (16 new names a hello).
    if (channel !== this.state.channel && this.state.trust.channels[channel] === undefined) return
    let c = this.claims.get(channel)
    if (c === undefined) {
      c = { byPeer: new Map(), failedLookups: 0 }
      this.claims.set(channel, c)
    }
    c.byPeer.set(peer, sequence)
    const verified = this.state.trust.channels[channel]?.latest?.sequence ?? 0
    if (sequence > verified && channel === this.state.channel) {
      c.since ??= this.state.now()
      void this.fetchFromPeer(peer, channel, sequence)
    }
  }

  /**
   * Asks the peer that claimed a newer sequence for it directly (one round trip), verifying what
   * arrives exactly like a DHT record. Falls back to a DHT lookup when the peer cannot show it.
   */
  private async fetchFromPeer(peer: string, channel: string, sequence: number): Promise<void> {
    const entry = this.parts.peerTable.peers.get(peer)
    if (entry === undefined || this.peerFetches.has(peer) || this.state.stopped) return
    this.peerFetches.add(peer)
    try {
      const offer = await this.state.libp2p.services.manifests.request(
        entry.peerId,
        channel,
        currentRoot(this.state.trust).version,
      )
      for (const r of offer.roots) await this.parts.records.ingestRoot(r)
      if (offer.manifest && (await this.parts.records.ingestRelease(offer.manifest)))
        this.state.counters.manifests_from_peers!++
    } catch (e) {
      this.state.emit(`manifest from ${peer.slice(-8)} not fetched: ${(e as Error).message}`)
    } finally {
      this.peerFetches.delete(peer)
    }
    if ((this.state.trust.channels[channel]?.latest?.sequence ?? 0) < sequence)
      this.scheduleLookup(0)
  }

  /** What peers claim of `channel` against what this node verified: is a freeze suspected? */
  freezeStatus(channel: string): FreezeStatus {
    const c = this.claims.get(channel)
    const verified = this.state.trust.channels[channel]?.latest?.sequence ?? 0
    let claimed = 0
    let by = 0
    for (const s of c?.byPeer.values() ?? []) {
      claimed = Math.max(claimed, s)
      if (s > verified) by++
    }
    const gap = claimed > verified
    const suspected = freezeSuspected({ claimed, verified, failedLookups: c?.failedLookups ?? 0 })
    return {
      channel,
      suspected,
      claimedSequence: claimed,
      verifiedSequence: verified,
      claimedBy: by,
      ...(gap && c?.since !== undefined ? { since: c.since } : {}),
      ...(suspected
        ? {
            reason: `${by} peer(s) claim sequence ${claimed} but only ${verified} could be verified after ${c?.failedLookups} lookups: a freeze or eclipse is possible; lookups widened`,
          }
        : {}),
    }
  }

  /** Runs a lookup after `delayMs` (or right after the running one), then keeps them going. */
  scheduleLookup(delayMs: number): void {
    if (this.state.stopped || this.state.role !== 'node') return
    if (this.lookupRunning) {
      this.lookupAgain = true
      return
    }
    if (this.lookupTimer) clearTimeout(this.lookupTimer)
    this.lookupTimer = setTimeout(() => {
      this.lookupTimer = undefined
      this.lookupRunning = this.lookup()
        .catch((e) => this.state.emit(`lookup failed: ${(e as Error).message}`))
        .finally(() => {
          this.lookupRunning = undefined
          const base = this.state.init.lookupIntervalMs ?? 60_000
          const gap =
            this.freezeStatus(this.state.channel).claimedSequence >
            (this.state.trust.channels[this.state.channel]?.latest?.sequence ?? 0)
          const again = this.lookupAgain
          this.lookupAgain = false
          // Widen while peers claim more than we can verify (freeze.ts).
          this.scheduleLookup(nextLookupMs({ again, gap, baseMs: base, jitteredMs: jitter(base) }))
        })
    }, delayMs)
  }

  /**
   * Collects the values a DHT query finds, stopping early once `enough` says a value will do
   * (a query that runs to exhaustion on a quiet key can take seconds).
   */
  async dhtGetAll(
    key: Uint8Array,
    timeoutMs = 8000,
    enough?: (v: Uint8Array) => boolean,
  ): Promise<Uint8Array[]> {
    const values: Uint8Array[] = []
    const stop = new AbortController()
    try {
      const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)])
      for await (const ev of this.state.libp2p.services.dht.get(key, { signal })) {
        if (ev.name !== 'VALUE') continue
        values.push(ev.value)
        if (enough?.(ev.value)) {
          stop.abort()
          break
        }
      }
    } catch {
      // Not found, or timed out: whatever arrived is still usable.
    }
    return values
  }

  /** One round of DHT lookups: newer roots, the channel's newest manifest, then missing history. */
  async lookup(): Promise<void> {
    this.state.counters.lookups!++
    this.lookupRound++
    // Roots change rarely: look when a peer reports a newer one, and every fifth round.
    if (
      this.parts.peerTable.rootHint > currentRoot(this.state.trust).version ||
      this.lookupRound % 5 === 1
    ) {
      for (let i = 0; i < 8; i++) {
        const next = currentRoot(this.state.trust).version + 1
        let advanced = false
        for (const v of await this.dhtGetAll(
          rootKey(this.state.network.network, next),
          3000,
          () => true,
        )) {
          if (await this.parts.records.ingestRoot(v)) advanced = true
        }
        if (!advanced) break
      }
    }
    const before = this.state.trust.channels[this.state.channel]?.latest?.sequence ?? 0
    const want = Math.max(before + 1, this.freezeStatus(this.state.channel).claimedSequence)
    const good = (v: Uint8Array) => {
      const d = decodeRelease(v)
      return d.ok && d.value.signed.sequence >= want
    }
    for (const v of await this.dhtGetAll(
      latestKey(this.state.network.network, this.state.channel),
      8000,
      good,
    )) {
      await this.parts.records.ingestRelease(v)
    }
    const latest = this.state.trust.channels[this.state.channel]?.latest?.sequence ?? 0
    const c = this.claims.get(this.state.channel)
    if (
      c !== undefined &&
      lookupFailed(this.freezeStatus(this.state.channel).claimedSequence, before, latest)
    ) {
      c.failedLookups++
      if (c.failedLookups === FREEZE_FAILED_LOOKUPS)
        this.state.emit(
          `freeze suspected on ${this.state.channel}: ${this.freezeStatus(this.state.channel).reason}`,
        )
    }
    // History, for counting distances: each missing sequence at most once every five minutes.
    const known = new Set(
      (this.state.trust.channels[this.state.channel]?.releases ?? []).map((r) => r.sequence),
    )
    const now = this.state.now()
    for (let seq = latest - 1; seq >= Math.max(1, latest - HISTORY_BACKFILL); seq--) {
      if (known.has(seq) || now - (this.backfillTried.get(seq) ?? 0) < 5 * 60_000) continue
      this.backfillTried.set(seq, now)
      for (const v of await this.dhtGetAll(
        sequenceKey(this.state.network.network, this.state.channel, seq),
        3000,
        () => true,
      )) {
        await this.parts.records.ingestRelease(v)
      }
    }
    // Every fifth round, the revocation of what runs here and of the latest: peers push one to
    // every new connection, so this is for a node none of whose peers holds it.
    if (this.lookupRound % 5 === 1) {
      for (const seq of this.parts.revocations.wanted()) {
        const key = revocationKey(this.state.network.network, this.state.channel, seq)
        for (const v of await this.dhtGetAll(key, 3000, () => true))
          await this.parts.revocations.ingest(v).catch(() => {})
      }
    }
  }
}

/** `ms` randomised by +-25%. */
export function jitter(ms: number): number {
  return Math.round(ms * (0.75 + Math.random() * 0.5))
}
