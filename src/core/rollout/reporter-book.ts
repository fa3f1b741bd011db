/**
 * What a node remembers for reporter admission (admission.ts): the reporters it knows, with when
 * and how it first learned of each, and per release when it first saw it and when its own
 * non-canary wave opened. Bounded: past `maxReporters` the book first forgets reporters not heard
 * from for {@link REPORTER_TTL_MS}, then (for a reporter that spoke) one it only heard of, then
 * refuses newcomers, so a flood of new keys never pushes out the reporters known longest. The adapter persists {@link ReporterBook.toJSON} and reads it
 * back with {@link ReporterBook.fromJSON}, which drops whatever does not parse.
 */
import { isHexOfLength } from '../bytes.ts'
import { judgesFirstSight, type KnownReporter, knownBefore } from './admission.ts'
import { PEER_ID_RE } from './report.ts'

/** Reporters a book holds by default. */
export const MAX_BOOK_REPORTERS = 10_000
/** Releases a book remembers first sight of (the oldest-seen is forgotten first). */
export const MAX_BOOK_RELEASES = 64
/** A reporter not heard from for this long may be forgotten to make room, ms (30 days). */
export const REPORTER_TTL_MS: number = 30 * 24 * 3_600_000

/** First sight of a release at this node, and the opening of its own wave. */
export interface ReleaseSighting {
  seenAt: number
  waveStart?: number
  /**
   * True when the first-sight rule is waived for the release at this node: it saw it too soon
   * after it met its network (admission.ts `judgesFirstSight`), or before it kept a book.
   */
  waived?: boolean
}

interface Entry extends KnownReporter {
  lastSeen: number
  /** False while the node only heard of it (its peer store); true once it said hello or reported. */
  spoke: boolean
}

/** The persisted form (version 1). */
export interface ReporterBookJson {
  version: 1
  /** [peer id, first seen, last seen, via digest or "", subnet or "", 1 spoke / 0 heard of] */
  reporters: [string, number, number, string, string, 0 | 1][]
  releases: Record<string, ReleaseSighting>
  /** When the node first completed a hello with a node of its network. */
  joinedAt?: number
}

export class ReporterBook {
  private readonly reporters = new Map<string, Entry>()
  private readonly releases = new Map<string, ReleaseSighting>()
  private readonly maxReporters: number
  /** Newcomers refused because the book was full of live reporters. */
  refusedFull = 0
  /** When the node first completed a hello with a node of its network; undefined: not yet. */
  joinedAt?: number

  constructor(maxReporters: number = MAX_BOOK_REPORTERS) {
    this.maxReporters = maxReporters
  }

  /** What the book knows of `id`. */
  known(id: string): KnownReporter | undefined {
    const e = this.reporters.get(id)
    if (e === undefined) return undefined
    return {
      firstSeen: e.firstSeen,
      ...(e.via !== undefined ? { via: e.via } : {}),
      ...(e.subnet !== undefined ? { subnet: e.subnet } : {}),
    }
  }

  get size(): number {
    return this.reporters.size
  }

  /**
   * Notes that `id` was heard from at `now`: over a connection (with its subnet, which replaces
   * the one held: addresses change), through a report on release `via`, or only heard of
   * (`hearsay`: its peer store named it). First sight is kept. Returns true when the book
   * changed in a way worth persisting (a new reporter, a subnet, or first word from it).
   */
  see(id: string, now: number, how: { via?: string; subnet?: string; hearsay?: boolean }): boolean {
    const e = this.reporters.get(id)
    if (e !== undefined) {
      e.lastSeen = Math.max(e.lastSeen, now)
      let changed = false
      if (how.hearsay !== true && !e.spoke) {
        e.spoke = true
        changed = true
      }
      if (how.subnet !== undefined && how.subnet !== e.subnet) {
        e.subnet = how.subnet
        changed = true
      }
      return changed
    }
    if (
      this.reporters.size >= this.maxReporters &&
      !this.forgetStale(now) &&
      !(how.hearsay !== true && this.forgetHearsay())
    ) {
      this.refusedFull++
      return false
    }
    this.reporters.set(id, {
      firstSeen: now,
      lastSeen: now,
      spoke: how.hearsay !== true,
      ...(how.via !== undefined && how.subnet === undefined ? { via: how.via } : {}),
      ...(how.subnet !== undefined ? { subnet: how.subnet } : {}),
    })
    return true
  }

  /**
   * Forgets the reporter heard of longest ago that never spoke, to make room for one that did: a
   * DHT peer naming made-up peers cannot crowd out nodes that say hello or report.
   */
  private forgetHearsay(): boolean {
    for (const [id, e] of this.reporters) {
      if (e.spoke) continue
      this.reporters.delete(id)
      return true
    }
    return false
  }

  /** Forgets reporters unheard of for the TTL (a sweep a minute at most); true when room was made. */
  private forgetStale(now: number): boolean {
    if (now - this.lastSweep >= 60_000) {
      this.lastSweep = now
      for (const [id, e] of this.reporters)
        if (now - e.lastSeen > REPORTER_TTL_MS) this.reporters.delete(id)
    }
    return this.reporters.size < this.maxReporters
  }
  private lastSweep = Number.NEGATIVE_INFINITY

  /**
   * Reporters known before the node saw release `digest` (none of them introduced by a report on
   * it) that have said hello or reported, not only been heard of: the electorate its evidence
   * shares are taken over. Peers the node only heard of may be shadows or publishers.
   */
  electorate(digest: string): number {
    const s = this.releases.get(digest)
    let n = 0
    for (const e of this.reporters.values()) {
      if (!e.spoke) continue
      if (s === undefined || s.waived || knownBefore(e, digest, s.seenAt)) n++
    }
    return n
  }

  /** When the node first saw release `digest`, if it recorded it. */
  sighting(digest: string): ReleaseSighting | undefined {
    const s = this.releases.get(digest)
    return s === undefined ? undefined : { ...s }
  }

  /** Notes that the node met a node of its network at `now` (only the first time counts). */
  join(now: number): boolean {
    if (this.joinedAt !== undefined) return false
    this.joinedAt = now
    return true
  }

  /**
   * Records first sight of a release (a later call changes nothing), and whether the
   * first-sight rule applies to it here (`waive` forces it off). True when new.
   */
  sawRelease(digest: string, now: number, waive = false): boolean {
    if (this.releases.has(digest)) return false
    if (this.releases.size >= MAX_BOOK_RELEASES) {
      let oldest: string | undefined
      let at = Number.POSITIVE_INFINITY
      for (const [d, s] of this.releases)
        if (s.seenAt < at) {
          at = s.seenAt
          oldest = d
        }
      if (oldest !== undefined) this.releases.delete(oldest)
    }
    this.releases.set(digest, {
      seenAt: now,
      ...(waive || !judgesFirstSight(this.joinedAt, now) ? { waived: true } : {}),
    })
    return true
  }

  /** Records that the node's own wave on `digest` opened at `now` (once). True when new. */
  openWave(digest: string, now: number): boolean {
    const s = this.releases.get(digest)
    if (s === undefined || s.waveStart !== undefined) return false
    s.waveStart = now
    return true
  }

  toJSON(): ReporterBookJson {
    return {
      version: 1,
      reporters: [...this.reporters].map(([id, e]) => [
        id,
        e.firstSeen,
        e.lastSeen,
        e.via ?? '',
        e.subnet ?? '',
        e.spoke ? 1 : 0,
      ]),
      releases: Object.fromEntries(this.releases),
      ...(this.joinedAt !== undefined ? { joinedAt: this.joinedAt } : {}),
    }
  }

  /** A book from its persisted form; entries that do not parse are dropped, never trusted. */
  static fromJSON(v: unknown, maxReporters: number = MAX_BOOK_REPORTERS): ReporterBook {
    const book = new ReporterBook(maxReporters)
    if (typeof v !== 'object' || v === null) return book
    const o = v as Partial<ReporterBookJson>
    const time = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0
    if (Array.isArray(o.reporters)) {
      for (const r of o.reporters) {
        if (!Array.isArray(r) || r.length !== 6 || book.reporters.size >= maxReporters) continue
        const [id, first, last, via, subnet, spoke] = r as unknown[]
        if (spoke !== 0 && spoke !== 1) continue
        if (typeof id !== 'string' || !PEER_ID_RE.test(id)) continue
        if (!time(first) || !time(last) || typeof via !== 'string' || typeof subnet !== 'string')
          continue
        if (via !== '' && !isHexOfLength(via, 32)) continue
        if (subnet.length > 64) continue
        book.reporters.set(id, {
          firstSeen: first,
          lastSeen: last,
          spoke: spoke === 1,
          ...(via !== '' ? { via } : {}),
          ...(subnet !== '' ? { subnet } : {}),
        })
      }
    }
    if (time(o.joinedAt)) book.joinedAt = o.joinedAt
    if (typeof o.releases === 'object' && o.releases !== null) {
      for (const [d, s] of Object.entries(o.releases)) {
        if (book.releases.size >= MAX_BOOK_RELEASES || !isHexOfLength(d, 32)) continue
        if (typeof s !== 'object' || s === null || !time(s.seenAt)) continue
        book.releases.set(d, {
          seenAt: s.seenAt,
          ...(time(s.waveStart) ? { waveStart: s.waveStart } : {}),
          ...(s.waived === true ? { waived: true } : {}),
        })
      }
    }
    return book
  }
}
