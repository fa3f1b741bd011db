/**
 * Signed records in the DHT: their keys, the validators and selectors kad-dht calls, ingesting
 * what verifies (persisted before anything acts on it), offering it to peers that ask, and
 * putting it into the DHT (publish, republish).
 */
import type { AbortOptions } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { utf8 } from '../../core/bytes.ts'
import type { ReleaseSigned, VerifiedRelease } from '../../core/manifest/release.ts'
import { announceTargets } from '../../core/net/announce.ts'
import { ARTIFACT_FETCH_MS } from '../../core/net/artifact-fetch.ts'
import { formatDhtKey, parseDhtKey } from '../../core/net/dht-keys.ts'
import { fail, type Result } from '../../core/result.ts'
import { acceptRelease, acceptRoot, checkReleaseRecord } from '../../core/trust/trust.ts'
import { opensslVerify } from '../crypto/ed25519.ts'
import { RecordRejectedError, RoleRefusedError } from './errors.ts'
import type { NodeParts, NodeState } from './node-state.ts'

/**
 * How many peers are in a kad-dht routing table. kad-dht's public `KadDHT` type leaves the table
 * out; the single-DHT implementation has it, and callers need it to know a node has joined.
 */
export function routingTableSize(dht: KadDHT): number {
  return (dht as unknown as { routingTable: { size: number } }).routingTable.size
}

/** DHT key of a channel's newest manifest. */
export function latestKey(network: string, channel: string): Uint8Array {
  return utf8(formatDhtKey({ kind: 'latest', network, channel }))
}
/** DHT key of one manifest by sequence (the history a late joiner backfills). */
export function sequenceKey(network: string, channel: string, sequence: number): Uint8Array {
  return utf8(formatDhtKey({ kind: 'sequence', network, channel, sequence }))
}
/** DHT key of root `version`. */
export function rootKey(network: string, version: number): Uint8Array {
  return utf8(formatDhtKey({ kind: 'root', network, version }))
}

/** The record side of a node: validators, selectors, ingest, offer and publish. */
export class Records {
  /** Every write of trusted state, in order; wait on it to see them all done. */
  persistChain: Promise<void> = Promise.resolve()
  announceTimer?: NodeJS.Timeout
  private readonly state: NodeState
  private readonly parts: NodeParts

  constructor(state: NodeState, parts: NodeParts) {
    this.state = state
    this.parts = parts
  }

  /**
   * The verdict on a release record under `key`, with no side effect: the validator counts and
   * ingests on top of it, the selector only sorts by it.
   */
  private releaseRecordVerdict(key: Uint8Array, value: Uint8Array): Result<VerifiedRelease> {
    const k = parseDhtKey(new TextDecoder().decode(key))
    if (
      k === undefined ||
      (k.kind !== 'latest' && k.kind !== 'sequence') ||
      k.network !== this.state.network.network
    ) {
      return fail('malformed', 'record key is not a canonical convoy release key of this network')
    }
    return checkReleaseRecord(this.state.trust, value, {
      channel: k.channel,
      now: this.state.now(),
      verify: opensslVerify,
      ...(k.kind === 'sequence' ? { sequence: k.sequence } : {}),
    })
  }

  /** kad-dht validator for /convoy-rel/<network>/<channel>[/<sequence>]. Throws to refuse. */
  validateReleaseRecord(key: Uint8Array, value: Uint8Array): void {
    const r = this.releaseRecordVerdict(key, value)
    if (!r.ok) {
      this.state.counters.records_rejected!++
      throw new RecordRejectedError(r.reason)
    }
    this.state.counters.records_accepted!++
    // A record good enough to store is good enough to trust: learn it now, not at the next lookup.
    queueMicrotask(() => void this.ingestRelease(value))
  }

  /** The verdict on a root record under `key`, with no side effect. */
  private rootRecordVerdict(key: Uint8Array, value: Uint8Array): string | undefined {
    const k = parseDhtKey(new TextDecoder().decode(key))
    const r = acceptRoot(this.state.trust, value, { now: this.state.now(), verify: opensslVerify })
    if (k?.kind !== 'root' || k.network !== this.state.network.network) {
      return 'record key is not a canonical convoy root key of this network'
    }
    if (!r.ok) return r.reason
    return r.value.root.version === k.version ? undefined : 'record key does not match the root'
  }

  /** kad-dht validator for /convoy-root/<network>/<version>. */
  validateRootRecord(key: Uint8Array, value: Uint8Array): void {
    const problem = this.rootRecordVerdict(key, value)
    if (problem !== undefined) {
      this.state.counters.records_rejected!++
      throw new RecordRejectedError(problem)
    }
    this.state.counters.records_accepted!++
    queueMicrotask(() => void this.ingestRoot(value))
  }

  /**
   * kad-dht selector: the highest verified sequence wins; unverifiable records never do. Pure:
   * it judges each record as the validator would, but counts nothing and ingests nothing.
   */
  selectReleaseRecord(key: Uint8Array, records: Uint8Array[]): number {
    let best = 0
    let bestSeq = -1
    records.forEach((rec, i) => {
      const r = this.releaseRecordVerdict(key, rec)
      if (r.ok && r.value.signed.sequence > bestSeq) {
        best = i
        bestSeq = r.value.signed.sequence
      }
    })
    return best
  }

  /** kad-dht selector for roots: the first record that verifies against the chain. Pure. */
  selectRootRecord(key: Uint8Array, records: Uint8Array[]): number {
    const i = records.findIndex((rec) => this.rootRecordVerdict(key, rec) === undefined)
    return Math.max(0, i)
  }

  private persist(work: () => Promise<void>): Promise<void> {
    this.persistChain = this.persistChain.then(work, work)
    return this.persistChain
  }

  /** Verifies and records a root; persists it before anything acts on it. */
  async ingestRoot(bytes: Uint8Array): Promise<boolean> {
    const r = acceptRoot(this.state.trust, bytes, { now: this.state.now(), verify: opensslVerify })
    if (!r.ok || !r.value.isNew) return false
    this.state.trust = r.value.state
    await this.persist(() => this.state.store.saveRoot(r.value.root.version, bytes))
    this.state.emit(`trusted root v${r.value.root.version}`)
    return true
  }

  /** Verifies and records a manifest; persists it (and the raised floor) before acting on it. */
  async ingestRelease(bytes: Uint8Array): Promise<boolean> {
    const r = acceptRelease(this.state.trust, bytes, {
      now: this.state.now(),
      verify: opensslVerify,
    })
    if (!r.ok || !r.value.isNew) return false
    const { release, isLatest } = r.value
    this.state.trust = r.value.state
    const s = release.signed
    // First sight is noted before anything awaits: a report on it arriving now is judged by it.
    this.parts.admission.sawRelease(release.digest, s.rollout)
    await this.persist(async () => {
      await this.state.store.saveManifest(s.channel, s.sequence, bytes)
      await this.state.store.saveFloor(this.state.trust)
    })
    this.state.emit(
      `verified manifest ${s.channel} ${s.version} (sequence ${s.sequence})${isLatest ? ' [latest]' : ''}`,
    )
    this.parts.peerTable.rerankAll()
    if (isLatest && s.channel === this.state.channel) {
      const c = this.parts.lookups.claims.get(s.channel)
      if (c) {
        c.failedLookups = 0
        if (this.parts.lookups.freezeStatus(s.channel).claimedSequence <= s.sequence) delete c.since
      }
      this.announce()
      if (this.state.role === 'node' && this.state.init.fetchArtifacts !== false) {
        // A newer release supersedes the fetch of an older one.
        this.parts.releaseArtifacts.fetchAbort?.abort(new Error(`superseded by ${s.version}`))
        this.parts.releaseArtifacts.fetchAbort = new AbortController()
        const signal = AbortSignal.any([
          this.parts.releaseArtifacts.fetchAbort.signal,
          AbortSignal.timeout(ARTIFACT_FETCH_MS),
        ])
        void this.parts.releaseArtifacts.fetchReleaseArtifact(s, { signal })
      }
      // History backfill can wait: a jittered lookup, not a stampede of every node at once.
      this.parts.lookups.scheduleLookup(2000 + Math.random() * 8000)
    }
    return true
  }

  /** Re-runs hello with every connected peer so they learn the new sequence quickly. */
  private announce(): void {
    if (this.announceTimer || this.state.stopped) return
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined
      const ours = this.state.trust.channels[this.state.channel]?.latest?.sequence ?? 0
      const claims = this.parts.lookups.claims.get(this.state.channel)?.byPeer
      const byPeer = new Map(
        this.state.libp2p.getConnections().map((c) => [c.remotePeer.toString(), c]),
      )
      // Ranked peers first, random within a rank (core/net/announce.ts).
      const chosen = announceTargets(
        [...byPeer.keys()].map((peer) => {
          const rank = this.parts.peerTable.peers.get(peer)?.rank?.rank
          return { peer, claimed: claims?.get(peer) ?? 0, ...(rank ? { rank } : {}) }
        }),
        ours,
        Math.random,
      )
      const targets = chosen.map((p) => byPeer.get(p)!)
      for (const conn of targets) void this.parts.peerTable.runHello(conn)
    }, 200)
  }

  /** What this node can show a peer that asks: roots newer than the peer's, and the latest manifest. */
  async offerFor(
    channel: string,
    rootVersion: number,
  ): Promise<{ roots: Uint8Array[]; manifest?: Uint8Array }> {
    const roots: Uint8Array[] = []
    for (const r of this.state.trust.roots) {
      if (r.version <= rootVersion || r.version <= this.state.network.anchor.version) continue
      const bytes = await this.state.store.readRoot(r.version)
      if (bytes) roots.push(bytes)
    }
    // What is trusted is persisted first; wait for any write in flight so the offer is complete.
    await this.persistChain.catch(() => {})
    const latest = this.state.trust.channels[channel]?.latest
    const manifest = latest
      ? await this.state.store.readManifest(channel, latest.sequence)
      : undefined
    return { roots, ...(manifest ? { manifest } : {}) }
  }

  /**
   * Puts a manifest (and the roots a node needs to verify it) into the DHT. Returns how many
   * peers confirmed storing each record. The manifest must verify against this node's trust.
   */
  async publish(
    releaseBytes: Uint8Array,
    roots: Uint8Array[] = [],
    options: AbortOptions = {},
  ): Promise<{ release: ReleaseSigned; confirmations: Record<string, number> }> {
    if (this.state.role === 'shadow')
      throw new RoleRefusedError(
        'a shadow node makes no DHT puts: publish from a node or a publisher',
      )
    for (const r of [...roots].sort((a, b) => rootVersionOf(a) - rootVersionOf(b))) {
      if (rootVersionOf(r) > this.state.network.anchor.version) await this.ingestRoot(r)
    }
    const accepted = acceptRelease(this.state.trust, releaseBytes, {
      now: this.state.now(),
      verify: opensslVerify,
    })
    if (!accepted.ok) throw new RecordRejectedError(accepted.reason)
    await this.ingestRelease(releaseBytes)
    const s = accepted.value.release.signed
    const confirmations: Record<string, number> = {}
    const net = this.state.network.network
    const puts: Array<[string, Uint8Array, Uint8Array]> = []
    for (const root of this.state.trust.roots.slice(1)) {
      const bytes = await this.state.store.readRoot(root.version)
      if (bytes) puts.push([`root v${root.version}`, rootKey(net, root.version), bytes])
    }
    puts.push([`${s.channel}/${s.sequence}`, sequenceKey(net, s.channel, s.sequence), releaseBytes])
    puts.push([`${s.channel} latest`, latestKey(net, s.channel), releaseBytes])
    for (const [label, key, value] of puts) {
      let n = 0
      try {
        for await (const ev of this.state.libp2p.services.dht.put(key, value, {
          signal: options.signal ?? AbortSignal.timeout(20_000),
        })) {
          if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') n++
        }
      } catch (e) {
        this.state.emit(`put ${label}: ${(e as Error).message}`)
      }
      confirmations[label] = n
    }
    return { release: s, confirmations }
  }

  /** Puts the channel's latest manifest (and the roots behind it) into the DHT again. */
  async republish(): Promise<void> {
    const latest = this.state.trust.channels[this.state.channel]?.latest
    if (this.state.stopped || latest === undefined) return
    const bytes = await this.state.store.readManifest(this.state.channel, latest.sequence)
    if (bytes === undefined) return
    try {
      await this.publish(bytes, [], { signal: AbortSignal.timeout(60_000) })
    } catch (e) {
      this.state.emit(`republish failed: ${(e as Error).message}`)
    }
  }
}

function rootVersionOf(bytes: Uint8Array): number {
  try {
    return (JSON.parse(new TextDecoder().decode(bytes)) as { signed: { version: number } }).signed
      .version
  } catch {
    return 0
  }
}
