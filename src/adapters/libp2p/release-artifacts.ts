/**
 * The artifacts of verified releases: fetched from peers through the artifact service (ranked
 * peers only, never a shadow), announced in the DHT once held, and shown in status while they
 * arrive. A shadow fetches and announces nothing.
 */

import { readFile } from 'node:fs/promises'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import { type ArtifactPin, decodeRelease, type ReleaseSigned } from '../../core/manifest/release.ts'
import { ARTIFACT_FETCH_MS } from '../../core/net/artifact-fetch.ts'
import {
  type ChunkIndex,
  chunkIndexPlatform,
  chunkSizeFor,
  decodeChunkIndex,
} from '../../core/net/chunks.ts'
import type { ArtifactFetchOptions } from './artifact-types.ts'
import { announceArtifact, artifactCid } from './artifacts.ts'
import type { NodeParts, NodeState } from './node-state.ts'
import type { FetchStatus } from './status.ts'
import { withDeadline } from './stream-budget.ts'

/**
 * Rounds of providers that do not serve a release's chunk index (nodes older than chunks)
 * before a node fetches the artifact whole.
 */
const INDEX_ROUNDS = 3

/** Options of fetching a release's artifact: a way to stop, and progress as it arrives. */
export type ReleaseFetchOptions = Pick<ArtifactFetchOptions, 'signal' | 'onProgress'>

/** Fetching, holding and announcing release artifacts. */
export class ReleaseArtifacts {
  /** Artifacts being fetched, by sha256, with what status shows of them. */
  readonly fetching: Map<string, FetchStatus> = new Map()
  fetchAbort?: AbortController
  private readonly state: NodeState
  private readonly parts: NodeParts

  constructor(state: NodeState, parts: NodeParts) {
    this.state = state
    this.parts = parts
  }

  private providerExcluded(peer: PeerId): boolean {
    const e = this.parts.peerTable.peers.get(peer.toString())
    return e?.rank?.excludeAsProvider === true || e?.hello?.role === 'shadow'
  }

  /**
   * On start: announce the artifacts this node holds, and resume fetching the newest release's
   * artifact if an earlier run did not finish it.
   */
  async announceHeldArtifacts(): Promise<void> {
    for (const [channel, t] of Object.entries(this.state.trust.channels)) {
      for (const r of t.releases.slice(-2)) {
        const bytes = await this.state.store.readManifest(channel, r.sequence)
        const d = bytes ? decodeRelease(bytes) : undefined
        const pin = d?.ok ? d.value.signed.artifacts[this.state.platform] : undefined
        if (pin === undefined) continue
        if (await this.state.libp2p.services.artifacts.has(pin.sha256)) {
          void announceArtifact(this.state.libp2p.services.dht, pin.sha256, {
            signal: AbortSignal.timeout(30_000),
          }).catch(() => {})
        } else if (
          d?.ok &&
          channel === this.state.channel &&
          r.sequence === t.latest?.sequence &&
          this.state.init.fetchArtifacts !== false
        ) {
          this.fetchAbort = new AbortController()
          void this.fetchReleaseArtifact(d.value.signed, { signal: this.fetchAbort.signal })
        }
      }
    }
  }

  /** Fetches the artifact of a verified release from peers, then announces itself as a provider. */
  async fetchReleaseArtifact(
    s: ReleaseSigned,
    options: ReleaseFetchOptions = {},
  ): Promise<string | undefined> {
    // A shadow fetches nothing and announces nothing: its store is a copy it must not serve from.
    if (this.state.role === 'shadow') return undefined
    const pin = s.artifacts[this.state.platform]
    if (pin === undefined) {
      this.state.emit(`release ${s.version} has no artifact for platform ${this.state.platform}`)
      return undefined
    }
    const indexPin = s.artifacts[chunkIndexPlatform(this.state.platform)]
    if (this.fetching.has(pin.sha256)) return undefined
    const state: FetchStatus = {
      version: s.version,
      sha256: pin.sha256,
      received: 0,
      total: pin.length,
      providers: 0,
      since: this.state.now(),
    }
    this.fetching.set(pin.sha256, state)
    const log = options.onProgress ?? this.progressLogger(s.version, pin.length)
    let lastWait = ''
    try {
      const svc = this.state.libp2p.services.artifacts
      if (!(await svc.has(pin.sha256))) {
        const providers = async () => {
          const found = await this.findProviders(pin.sha256)
          state.providers = Math.max(state.providers, found.length)
          return found
        }
        const signal = options.signal ?? AbortSignal.timeout(ARTIFACT_FETCH_MS)
        const index =
          indexPin === undefined ? undefined : await this.fetchIndex(s, pin, indexPin, signal)
        const fetchOptions: ArtifactFetchOptions = {
          providers,
          onWait: (w) => {
            state.waiting = w.reason
            state.retryAt = this.state.now() + w.retryInMs
            state.providers = w.providers
            // Say it once per change, not every round.
            if (w.reason !== lastWait) {
              lastWait = w.reason
              this.state.emit(
                `artifact for ${s.version}: waiting (${w.reason}, ${w.providers} provider(s) known, ` +
                  `${w.received} of ${pin.length} bytes); retrying every few seconds`,
              )
            }
          },
          exclude: (p) => this.providerExcluded(p),
          onDrop: (peer, reason) => {
            if (reason !== 'wrong') return
            const e = this.parts.peerTable.peers.get(peer)
            if (e) e.misbehaviour++
            this.state.counters.misbehaviour!++
          },
          onProgress: (received, total, from) => {
            state.received = received
            lastWait = ''
            delete state.waiting
            delete state.retryAt
            log(received, total, from)
          },
          signal,
          deadlineMs: ARTIFACT_FETCH_MS,
        }
        // With a chunk index: chunks from many peers at once, served onward from the first
        // verified one (so this node announces itself then), chunks of held releases reused.
        let announced = false
        const result =
          index === undefined
            ? await svc.fetch(pin, fetchOptions)
            : await svc.fetchChunked(index, {
                ...fetchOptions,
                reuse: await this.heldArtifactPaths(pin.sha256),
                onChunk: () => {
                  if (announced) return
                  announced = true
                  void announceArtifact(this.state.libp2p.services.dht, pin.sha256, {
                    signal: AbortSignal.timeout(30_000),
                  }).catch(() => {})
                },
              })
        this.state.counters.artifacts_fetched!++
        this.state.emit(
          `artifact ${pin.sha256.slice(0, 12)} for ${s.version} fetched from ${result.peers.length} peer(s)`,
        )
      }
      if (indexPin !== undefined) await this.ensureIndex(s, pin, indexPin)
      await announceArtifact(this.state.libp2p.services.dht, pin.sha256, {
        signal: AbortSignal.timeout(30_000),
      }).catch(() => {})
      return `${this.state.store.artifactsDir}/${pin.sha256}`
    } catch (e) {
      this.state.emit(`artifact for ${s.version} not fetched: ${(e as Error).message}`)
      return undefined
    } finally {
      this.fetching.delete(pin.sha256)
    }
  }

  /**
   * The release's chunk index, fetched from the artifact's providers (every node that holds the
   * artifact, or chunks of it, serves it) and checked against its pin and the artifact's; or
   * undefined, and the artifact is fetched whole, when none serves it in time (a network of
   * older nodes) or it does not describe the artifact.
   */
  private async fetchIndex(
    s: ReleaseSigned,
    pin: ArtifactPin,
    indexPin: ArtifactPin,
    signal: AbortSignal,
  ): Promise<ChunkIndex | undefined> {
    const svc = this.state.libp2p.services.artifacts
    // While nobody provides the artifact at all, wait as the whole fetch would; once providers
    // exist but none serves the index for a few rounds (older nodes), fetch the artifact whole.
    const giveUp = new AbortController()
    let refusals = 0
    try {
      const got = await svc.fetch(indexPin, {
        providers: () => this.findProviders(pin.sha256),
        exclude: (p) => this.providerExcluded(p),
        onWait: (w) => {
          if (w.reason !== 'no-provider' && ++refusals >= INDEX_ROUNDS)
            giveUp.abort(new Error(`${refusals} rounds of providers without the index`))
        },
        signal: AbortSignal.any([signal, giveUp.signal]),
      })
      const decoded = decodeChunkIndex(await readFile(got.path), pin)
      if (decoded.ok) return decoded.value
      this.state.emit(
        `release ${s.version}: its chunk index is unusable (${decoded.reason}); fetching the artifact whole`,
      )
    } catch (e) {
      signal.throwIfAborted()
      this.state.emit(
        `release ${s.version}: no peer served its chunk index (${(e as Error).message.slice(0, 120)}); fetching the artifact whole`,
      )
    }
    return undefined
  }

  /** Builds and stores the chunk index of a held artifact, so this node serves it too. */
  private async ensureIndex(s: ReleaseSigned, pin: ArtifactPin, indexPin: ArtifactPin) {
    const svc = this.state.libp2p.services.artifacts
    if (await svc.has(indexPin.sha256)) return
    const built = await svc.storeIndex(pin.sha256, chunkSizeFor(pin.length)).catch(() => undefined)
    if (built !== undefined && built.sha256 !== indexPin.sha256)
      this.state.emit(
        `release ${s.version}: its pinned chunk index is not the one this node builds from the artifact; serving the artifact whole only`,
      )
  }

  /** Store paths of the other artifacts this node holds for recent releases (for chunk reuse). */
  private async heldArtifactPaths(except: string): Promise<string[]> {
    const out: string[] = []
    for (const [channel, t] of Object.entries(this.state.trust.channels)) {
      for (const r of t.releases.slice(-2)) {
        const bytes = await this.state.store.readManifest(channel, r.sequence)
        const d = bytes ? decodeRelease(bytes) : undefined
        const held = d?.ok ? d.value.signed.artifacts[this.state.platform] : undefined
        if (held === undefined || held.sha256 === except) continue
        if (await this.state.libp2p.services.artifacts.has(held.sha256))
          out.push(this.state.libp2p.services.artifacts.pathOf(held.sha256))
      }
    }
    return out
  }

  /** Logs a long transfer every tenth of the way, with its rate; short ones stay quiet. */
  private progressLogger(
    version: string,
    total: number,
  ): (received: number, total: number, from: string) => void {
    const started = Date.now()
    let nextTenth = 1
    return (received, _total, from) => {
      if (total < 4 * 1024 * 1024) return
      const tenth = Math.floor((received / total) * 10)
      if (tenth < nextTenth) return
      nextTenth = tenth + 1
      const mbps = received / 1e6 / Math.max(0.001, (Date.now() - started) / 1000)
      this.state.emit(
        `artifact ${version}: ${tenth * 10}% of ${(total / 1e6).toFixed(1)} MB at ${mbps.toFixed(1)} MB/s from ${from.slice(-8)}`,
      )
    }
  }

  /** Peers (other than this one) the DHT names as holding the artifact; looks for up to 8 s. */
  async findProviders(sha256: string, options: AbortOptions = {}): Promise<PeerId[]> {
    const out = new Map<string, PeerId>()
    try {
      for await (const ev of this.state.libp2p.services.dht.findProviders(artifactCid(sha256), {
        signal: withDeadline(options, 8000),
      })) {
        if (ev.name === 'PROVIDER')
          for (const p of ev.providers)
            if (!p.id.equals(this.state.libp2p.peerId)) out.set(p.id.toString(), p.id)
      }
    } catch {}
    return [...out.values()]
  }
}
