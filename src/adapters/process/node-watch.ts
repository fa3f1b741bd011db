/**
 * What the rollout clock reads each turn and hands the machine as inputs, each only when it is
 * news: the newest manifest the node verified, the evidence it holds on the target, the node's
 * health on probation, and the operator's approvals (approvals.json in the home).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeRelease, type ReleaseSigned } from '../../core/manifest/release.ts'
import { documentDigest } from '../../core/manifest/signing.ts'
import { type EvidenceSummary, summarize } from '../../core/rollout/evidence.ts'
import type { RolloutInput, RolloutState } from '../../core/rollout/machine.ts'
import type { Home } from '../fs/home.ts'
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

  async noticeManifest(status: NonNullable<Awaited<ReturnType<typeof fetchStatus>>>) {
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

  /** Probation health: the node runs and answers its API; three misses in a row fail it. */
  checkHealth(running: boolean, status: unknown): void {
    if (running && status !== undefined) {
      this.healthFailures = 0
      return
    }
    this.healthFailures++
    if (this.healthFailures >= 3) {
      this.healthFailures = 0
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
