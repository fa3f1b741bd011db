/** Which provider a fetch tries next, and what it holds against each one. */
import type { PeerId } from '@libp2p/interface'
import { nextProvider, type ProviderStanding } from '../../core/net/artifact-fetch.ts'

/** What a fetch knows of one provider. */
export interface ProviderEntry extends ProviderStanding {
  peer: PeerId
}

/**
 * The providers of one fetch and their standings; which one to try next is the core's rule
 * (core/net/artifact-fetch.ts: `nextProvider`). A new round starts when the caller has
 * refreshed the list.
 */
export class ProviderBook {
  private readonly self: PeerId
  private readonly exclude: ((peer: PeerId) => boolean) | undefined
  private readonly entries = new Map<string, ProviderEntry>()
  private round = 0
  private counter = 0

  constructor(self: PeerId, exclude: ((peer: PeerId) => boolean) | undefined) {
    this.self = self
    this.exclude = exclude
  }

  get size(): number {
    return this.entries.size
  }

  get(id: string): ProviderEntry | undefined {
    return this.entries.get(id)
  }

  newRound(peers: PeerId[]): void {
    this.round++
    for (const peer of peers) {
      if (peer === null || typeof peer !== 'object' || peer.equals(this.self)) continue
      const id = peer.toString()
      if (!this.entries.has(id)) {
        this.entries.set(id, {
          peer,
          order: this.counter++,
          suspect: false,
          slow: 0,
          banned: false,
          round: 0,
        })
      }
    }
  }

  next(): PeerId | undefined {
    const best = nextProvider(this.entries.values(), this.round, (e) => this.excluded(e.peer))
    if (best === undefined) return undefined
    best.round = this.round
    return best.peer
  }

  /** A throwing `exclude` excludes: better to skip a provider than to use a deranked one. */
  private excluded(peer: PeerId): boolean {
    try {
      return this.exclude?.(peer) === true
    } catch {
      return true
    }
  }

  suspect(id: string): void {
    const e = this.entries.get(id)
    if (e !== undefined) e.suspect = true
  }

  demote(peer: PeerId): void {
    const e = this.entries.get(peer.toString())
    if (e !== undefined) e.slow++
  }

  ban(peer: PeerId): void {
    const e = this.entries.get(peer.toString())
    if (e !== undefined) e.banned = true
  }
}
