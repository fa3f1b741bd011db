/** Which provider a fetch tries next, and what it holds against each one. */
import type { PeerId } from '@libp2p/interface'

/** What a fetch knows of one provider. */
export interface ProviderEntry {
  peer: PeerId
  /** Position in the providers' lists: earlier lists and earlier places come first. */
  order: number
  /** Contributed to an attempt whose hash did not match. */
  suspect: boolean
  /** Times cut for being slow: such providers are tried after all others. */
  slow: number
  banned: boolean
  /** Round in which it was last tried. */
  round: number
}

/**
 * Which provider to try next. A round tries every usable provider once; a new round starts
 * when the caller has refreshed the list. Within a round: never-suspected before suspects,
 * never-slow before slow, then in the order the providers were listed.
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
    let best: ProviderEntry | undefined
    for (const e of this.entries.values()) {
      if (e.banned || e.round === this.round) continue
      if (this.excluded(e.peer)) continue
      if (best === undefined || before(e, best)) best = e
    }
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

/** Never-suspected before suspects, never-slow before slow, then in listed order. */
function before(a: ProviderEntry, b: ProviderEntry): boolean {
  if (a.suspect !== b.suspect) return !a.suspect
  if (a.slow !== b.slow) return a.slow < b.slow
  return a.order < b.order
}
