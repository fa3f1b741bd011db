/**
 * Reporter admission carried out (the rules are src/core/rollout/admission.ts): the node's
 * reporter book, fed by hellos and verified reports, its first sight of each release, and the
 * opening of its own wave, persisted in `<data dir>/reporters.json` so a restart forgets nobody
 * and no newcomer becomes "known before the release" by waiting for one.
 *
 * A data dir without the file (a node upgraded from a release that kept no book) waives the
 * first-sight rule for the releases it already trusts; a release verified after that is judged
 * in full.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { RolloutPolicy } from '../../core/manifest/release.ts'
import { subnetOf } from '../../core/net/subnet.ts'
import {
  type Admission,
  type AdmissionRefusal,
  admitReports,
  standing,
} from '../../core/rollout/admission.ts'
import { type Report, summarize } from '../../core/rollout/evidence.ts'
import { ReporterBook } from '../../core/rollout/reporter-book.ts'
import { writeFileAtomic } from '../fs/atomic.ts'

/** File name of the book in the data dir. */
export const REPORTER_BOOK_FILE = 'reporters.json'
/** How long a change to the book waits to be written with the next ones, ms. */
const PERSIST_DELAY_MS = 1000

/** What admission needs from the node. */
export interface AdmissionHost {
  dataDir: string
  /** The node's own peer id. */
  self: string
  now: () => number
  /** The node-role peers the node knows now. */
  knownNodes: () => string[]
  /** A permissioned network's reporters (the network file's `reporters`), if it names any. */
  reporterSet?: ReadonlySet<string>
  emit: (line: string) => void
}

/** The counted reports on one release, with how many were held and why the rest do not count. */
export interface CountedReports {
  counted: Report[]
  held: number
  /** Reporters the node knew before it saw the release, itself included (evidence.ts). */
  electorate: number
  /** By reason; `unknown-release`: the node has not verified the release, so nothing counts. */
  notCounted: Partial<Record<AdmissionRefusal | 'unknown-release', number>>
}

export class NodeAdmission {
  private book = new ReporterBook()
  private readonly host: AdmissionHost
  private readonly policies = new Map<string, RolloutPolicy>()
  private timer?: NodeJS.Timeout
  private writing: Promise<void> = Promise.resolve()
  private closed = false

  constructor(host: AdmissionHost) {
    this.host = host
  }

  private get path(): string {
    return join(this.host.dataDir, REPORTER_BOOK_FILE)
  }

  /**
   * Reads the book. `trusted` are the digests the node trusts at start: with a book on disk, any
   * of them it has no sighting of (a crash between verifying and writing) is seen now; without
   * one, they are recorded with the first-sight rule waived.
   */
  async load(trusted: readonly string[]): Promise<void> {
    const text = await readFile(this.path, 'utf8').catch(() => undefined)
    if (text === undefined) {
      for (const d of trusted) this.book.sawRelease(d, this.host.now(), true)
      if (trusted.length > 0) this.schedule()
      return
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      this.host.emit(`${REPORTER_BOOK_FILE} does not parse; starting a new reporter book`)
    }
    this.book = ReporterBook.fromJSON(json)
    const now = this.host.now()
    for (const d of trusted) this.book.sawRelease(d, now)
  }

  /** A release the node just verified, with its signed policy. */
  sawRelease(digest: string, policy: RolloutPolicy): void {
    this.policies.set(digest, policy)
    if (this.book.sawRelease(digest, this.host.now())) this.schedule()
  }

  /** Remembers the policy of a release trusted at start (no sighting is recorded). */
  knowPolicy(digest: string, policy: RolloutPolicy): void {
    this.policies.set(digest, policy)
  }

  /** The signed policy of a release the node trusts, if it read it. */
  policyOf(digest: string): RolloutPolicy | undefined {
    return this.policies.get(digest)
  }

  /** A node-role peer completed its hello over a connection to `addr`. */
  sawPeer(id: string, addr: Multiaddr): void {
    const ip = addr.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
    const subnet = ip === undefined ? undefined : subnetOf(ip)
    const now = this.host.now()
    const joined = this.book.join(now)
    if (this.book.see(id, now, subnet !== undefined ? { subnet } : {}) || joined) this.schedule()
  }

  /**
   * A peer the peer store learned of (a DHT answer, identify): known from now on, without an
   * observed subnet. On a network's first release this is how a node knows the canaries it never
   * connected to before their reports reach it.
   */
  heardOfPeer(id: string): void {
    if (this.book.see(id, this.host.now(), { hearsay: true })) this.schedule()
  }

  /** A verified report was accepted. */
  sawReport(r: Report): void {
    if (this.book.see(r.reporter, this.host.now(), { via: r.release })) this.schedule()
  }

  /** Where a report stands when a full store must make room (lower is kept first). */
  standing(r: Report): number {
    return standing(
      r.reporter,
      r.release,
      this.policies.get(r.release),
      this.book.known(r.reporter),
      this.seenAt(r.release),
    )
  }

  /** First sight of a release as admission reads it: undefined when the rule is waived there. */
  private seenAt(digest: string): number | undefined {
    const s = this.book.sighting(digest)
    return s === undefined || s.waived ? undefined : s.seenAt
  }

  /**
   * The reports that count on `digest` out of those held. Opens the node's own wave the first
   * time the counted evidence lets non-canaries proceed. A release whose policy the node does not
   * know (not verified) counts nothing.
   */
  count(digest: string, held: readonly Report[]): CountedReports {
    const policy = this.policies.get(digest)
    if (policy === undefined)
      return {
        counted: [],
        held: held.length,
        electorate: 0,
        notCounted: held.length > 0 ? { 'unknown-release': held.length } : {},
      }
    const now = this.host.now()
    const sighting = this.book.sighting(digest)
    const a: Admission = admitReports(held, policy, digest, {
      self: this.host.self,
      releaseSeenAt: this.seenAt(digest),
      known: (id) => this.book.known(id),
      knownNodes: this.host.knownNodes(),
      ...(this.host.reporterSet ? { reporterSet: this.host.reporterSet } : {}),
      ...(sighting?.waveStart !== undefined ? { waveStart: sighting.waveStart } : {}),
      now,
    })
    const electorate = this.book.electorate(digest) + (this.book.known(this.host.self) ? 0 : 1)
    if (sighting?.waveStart === undefined && summarize(a.counted, policy, electorate).proceed) {
      if (this.book.openWave(digest, now)) this.schedule()
    }
    return { counted: a.counted, held: held.length, electorate, notCounted: a.refused }
  }

  /** Book size and refusals, for status. */
  stats(): { reporters: number; refusedFull: number } {
    return { reporters: this.book.size, refusedFull: this.book.refusedFull }
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, PERSIST_DELAY_MS)
    this.timer.unref()
  }

  /** Writes the book now (write, fsync, rename), after any write under way. */
  async flush(): Promise<void> {
    const json = JSON.stringify(this.book.toJSON())
    this.writing = this.writing
      .then(() => writeFileAtomic(this.path, json))
      .catch((e) => this.host.emit(`writing ${REPORTER_BOOK_FILE} failed: ${(e as Error).message}`))
    await this.writing
  }

  /** Writes what is pending and stops scheduling writes. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
    this.closed = true
  }
}
