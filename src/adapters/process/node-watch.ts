/**
 * What the rollout clock reads each turn and hands the machine as inputs, each only when it is
 * news: the newest manifest the node verified, the evidence it holds on the target, the node's
 * health on probation, and the operator's approvals (approvals.json in the home).
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeRelease, type ReleaseSigned } from '../../core/manifest/release.ts'
import type { RootSigned } from '../../core/manifest/root.ts'
import { documentDigest } from '../../core/manifest/signing.ts'
import { type EvidenceSummary, summarize } from '../../core/rollout/evidence.ts'
import { afterProbe } from '../../core/rollout/health.ts'
import type { RolloutInput, RolloutState } from '../../core/rollout/machine.ts'
import {
  acceptRevocation,
  MAX_REVOCATIONS,
  type RevokedRelease,
} from '../../core/trust/revocations.ts'
import type { Home } from '../fs/home.ts'
import { NodeStore } from '../fs/node-store.ts'
import { fetchReports, type fetchStatus } from './node-api.ts'

/** What the watch needs from the supervisor. */
export interface NodeWatchHost {
  home: Home
  /** Channel followed. */
  channel: string
  /** Queues one input for the machine. */
  feed: (input: RolloutInput) => void
  /** The rollout state now. */
  state: () => RolloutState
  /** How the node last died unexpectedly. */
  lastExit: () => string | undefined
  /** The network's trust anchor, to verify stored revocations with. */
  anchor: RootSigned
}

/** Turns what the node and the operator say into machine inputs, each only once. */
export class NodeWatch {
  private readonly home: Home
  private readonly channel: string
  private readonly feed: (input: RolloutInput) => void
  private readonly host: NodeWatchHost
  private lastManifest?: string
  private lastEvidence?: string
  private healthFailures = 0
  /** Revocations already handed to the machine (by revocation digest). */
  private readonly revocationsFed = new Set<string>()
  private revocationFiles?: string

  constructor(host: NodeWatchHost) {
    this.host = host
    this.home = host.home
    this.channel = host.channel
    this.feed = host.feed
  }

  private get state(): RolloutState {
    return this.host.state()
  }

  private get lastExit(): string | undefined {
    return this.host.lastExit()
  }

  async noticeManifest(
    status: NonNullable<Awaited<ReturnType<typeof fetchStatus>>>,
  ): Promise<void> {
    const latest = status.latest
    if (latest === undefined) return
    const m = status.manifests.find(
      (x) => x.channel === this.channel && x.sequence === latest.sequence,
    )
    // An expired manifest never starts an upgrade (it never stops a node either).
    if (m === undefined || m.expired || m.digest === this.lastManifest) return
    const s = await this.readManifest(m.sequence)
    // The digest fixes the slot and names the release in reports: computed here, not taken on trust.
    if (s === undefined || documentDigest(s) !== m.digest) return
    this.lastManifest = m.digest
    this.feed({
      type: 'manifest',
      // The nodes it knows, for the canary rule (every release has a canary): peers that said
      // in their hello that they are nodes, not shadows or publishers.
      peers: status.peers.filter((p) => p.role === 'node').map((p) => p.peerId),
      target: {
        version: s.version,
        sequence: s.sequence,
        digest: m.digest,
        minVersion: s.minVersion,
        policy: s.rollout,
      },
    })
  }

  /**
   * Revocations on the followed channel, each handed to the machine once per supervisor run (the
   * machine remembers them in `bad`, and a repeat changes nothing). Two sources: what the node
   * says in its status, and the revocations stored in its data dir, verified here against the
   * trust rebuilt from the network's anchor, so that a revoked build that hides them from its
   * status, or no longer answers at all, is still rolled back once any release stored them.
   */
  async noticeRevocations(
    status: Awaited<ReturnType<typeof fetchStatus>> | undefined,
  ): Promise<void> {
    const found: RevokedRelease[] = [...(status?.revoked ?? [])]
    const dir = join(this.home.dataDir, 'revocations')
    const names = (await readdir(dir).catch(() => [] as string[])).sort().join('/')
    // Nothing stored, nothing to verify; re-read only when the stored set changes.
    if (names !== '' && names !== this.revocationFiles) {
      this.revocationFiles = names
      const store = new NodeStore(this.home.dataDir)
      try {
        const { state } = await store.loadTrust(this.host.anchor, Date.now())
        const held: RevokedRelease[] = []
        for (const bytes of await store.readRevocations(MAX_REVOCATIONS)) {
          const r = acceptRevocation(state, held, bytes)
          if (r.ok && r.value.isNew) held.push(r.value.revoked)
        }
        found.push(...held)
      } catch {
        // A data dir the node is rewriting: the next turn reads it again.
        this.revocationFiles = undefined
      }
    }
    for (const r of found) {
      if (r.channel !== this.channel || this.revocationsFed.has(r.digest)) continue
      this.revocationsFed.add(r.digest)
      this.feed({ type: 'revoked', version: r.version, reason: r.reason })
    }
  }

  /** A manifest the node verified and stored, by sequence on the followed channel. */
  async readManifest(sequence: number): Promise<ReleaseSigned | undefined> {
    const bytes = await readFile(
      join(this.home.dataDir, 'manifests', this.channel, `${sequence}.json`),
    ).catch(() => undefined)
    const d = bytes ? decodeRelease(new Uint8Array(bytes)) : undefined
    return d?.ok ? d.value.signed : undefined
  }

  async readEvidence(api: string): Promise<void> {
    const t = this.state.target!
    const got = await fetchReports(api, t.digest)
    if (got === undefined) return
    const summary: EvidenceSummary = summarize(got.reports, t.policy, got.electorate)
    const key = `${t.digest}:${JSON.stringify(summary)}`
    if (key === this.lastEvidence) return
    this.lastEvidence = key
    this.feed({ type: 'evidence', digest: t.digest, summary })
  }

  /** Probation health (core/rollout/health.ts): `answered` is the node's `/health` answer. */
  checkHealth(running: boolean, answered: boolean): void {
    const r = afterProbe(this.healthFailures, running && answered)
    this.healthFailures = r.misses
    if (r.failed) {
      this.feed({
        type: 'health',
        ok: false,
        reason: running
          ? 'the node stopped answering its API'
          : this.lastExit
            ? `the node exited (${this.lastExit})`
            : 'the node is not running',
      })
    }
  }

  async readApprovals(): Promise<void> {
    const a = await this.home.readJson<{ approved?: unknown }>('approvals.json')
    if (!Array.isArray(a?.approved)) return
    for (const v of a.approved) {
      if (typeof v === 'string' && !this.state.settings.approved.includes(v))
        this.feed({ type: 'approve', version: v })
    }
  }
}
