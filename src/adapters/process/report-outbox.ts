/**
 * Signed reports on their way to the node's API (`POST /reports`), kept and retried while the
 * node cannot take them (it may be restarting); how often: core/rollout/outbox.ts.
 */
import { keepReport } from '../../core/rollout/outbox.ts'
import { readApiToken } from '../fs/api-token.ts'
import { postReport } from './node-api.ts'

/** A signed report not yet accepted by the node (it may be restarting). */
interface Outgoing {
  bytes: Uint8Array
  label: string
  tries: number
}

/** The supervisor's queue of signed reports for its node. */
export class ReportOutbox {
  private readonly live: () => Promise<{ pid: number; api: string } | undefined>
  private readonly log: (line: string) => void
  /** The node's data dir, where its API token is. */
  private readonly dataDir: string
  private outbox: Outgoing[] = []
  private flushing = false

  constructor(
    live: () => Promise<{ pid: number; api: string } | undefined>,
    log: (line: string) => void,
    dataDir: string,
  ) {
    this.live = live
    this.log = log
    this.dataDir = dataDir
  }

  /** Reports queued and not yet accepted. */
  get length(): number {
    return this.outbox.length
  }

  /** Queues one signed report and tries to hand the queue over. */
  async push(bytes: Uint8Array, label: string): Promise<void> {
    this.outbox.push({ bytes, label, tries: 0 })
    await this.flushOutbox()
  }

  /** Hands signed reports to the node; those it cannot take now are retried at the next tick. */
  async flushOutbox(): Promise<void> {
    if (this.flushing) return
    const live = await this.live()
    if (live === undefined || this.outbox.length === 0) return
    this.flushing = true
    const batch = this.outbox
    this.outbox = []
    const left: Outgoing[] = []
    try {
      // Read each flush: the node makes its token on first start, and keeps it.
      const token = await readApiToken(this.dataDir)
      for (const o of batch) {
        const r = await postReport(live.api, o.bytes, 2000, token)
        if (r.ok) this.log(`reported ${o.label}`)
        else if (keepReport(r.retry, ++o.tries)) left.push(o)
        else this.log(`report ${o.label} dropped: ${r.reason}`)
      }
    } finally {
      // Reports queued meanwhile stay behind the ones that could not go yet.
      this.outbox = [...left, ...this.outbox]
      this.flushing = false
    }
  }
}
