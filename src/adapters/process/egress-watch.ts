/**
 * Carries out the egress rules of core/shadow/egress.ts during one shadow run: it reads what the
 * tracer saw (or, without one, the candidate's sampled TCP sockets), keeps the allow-list from the
 * network file and the live node's state, asks the live node about unknown TCP destinations in
 * the background, and says what is phone home.
 */
import {
  type EgressAttempt,
  type PeerAnswer,
  phoneHomeOf,
  toConfirm,
  unconfirmedOf,
  unexplained,
} from '../../core/shadow/egress.ts'
import type { PeerCheck } from '../libp2p/peer-check.ts'
import { type EgressTrace, MAX_DESTINATIONS } from './egress-trace.ts'

/** Options of {@link EgressWatch}. */
export interface EgressWatchInit {
  /** The tracer's reader; without it, only sampled sockets are seen. */
  trace?: EgressTrace
  /** Hosts of the host's DNS resolvers. */
  resolvers: ReadonlySet<string>
  /** Whether the live node confirms a convoy peer at a host:port; without it, none is confirmed. */
  confirm?: (hostPort: string) => Promise<PeerCheck>
  log: (line: string) => void
}

export class EgressWatch {
  /** host:port destinations that are legitimate: bootstrap peers, the live node's state. */
  readonly allowed: Set<string> = new Set()
  private readonly init: EgressWatchInit
  private readonly sampled = new Map<string, EgressAttempt>()
  private readonly answers = new Map<string, PeerAnswer>()
  private readonly asking = new Set<string>()
  private queue: Promise<void> = Promise.resolve()

  constructor(init: EgressWatchInit) {
    this.init = init
  }

  /** Adds legitimate destinations. */
  allow(hostPorts: Iterable<string | undefined>): void {
    for (const hp of hostPorts) if (hp !== undefined) this.allowed.add(hp)
  }

  /** Outbound TCP remotes seen in a socket sample (the only view when there is no tracer). */
  sawSockets(remotes: Iterable<string>): void {
    for (const dest of remotes)
      if (this.sampled.size < MAX_DESTINATIONS) this.sampled.set(dest, { proto: 'tcp', dest })
  }

  /** Reads the trace, and asks about new unknown TCP destinations. */
  async poll(): Promise<void> {
    await this.init.trace?.poll()
    const found = this.found()
    if (this.init.confirm === undefined) return
    for (const dest of toConfirm(found, this.answers)) {
      // One asked again keeps `unanswered` until an answer comes: a late one is not phone home.
      if (this.asking.has(dest)) continue
      this.asking.add(dest)
      if (!this.answers.has(dest)) this.answers.set(dest, 'pending')
      const confirm = this.init.confirm
      // One question at a time: the node answers one peer check at a time (429 otherwise).
      this.queue = this.queue.then(async () => {
        try {
          const r = await confirm(dest)
          const a = r.peer ? 'peer' : r.unanswered === true ? 'unanswered' : 'not-peer'
          this.answers.set(dest, a)
          this.init.log(
            a === 'unanswered'
              ? `shadow candidate reached ${dest}: the live node could not be asked (${r.reason})`
              : `shadow candidate reached ${dest}: ${r.peer ? '' : 'not '}a peer (${r.reason})`,
          )
        } catch {
          // The question itself failed: asked again at the next poll.
          this.answers.set(dest, 'unanswered')
        } finally {
          this.asking.delete(dest)
        }
      })
    }
  }

  /** Waits, at most `ms`, for the questions still out. */
  async settle(ms: number): Promise<void> {
    let t: NodeJS.Timeout | undefined
    await Promise.race([
      this.queue,
      new Promise((r) => {
        t = setTimeout(r, ms)
      }),
    ])
    clearTimeout(t)
  }

  /** Destinations the live node could not be asked about (egress.ts `unconfirmedOf`). */
  unconfirmed(): string[] {
    return unconfirmedOf(this.found(), this.answers)
  }

  /** What is phone home so far; `final` once the run is over (nothing pending is excused). */
  phoneHome(final = false): string[] {
    const out = phoneHomeOf(this.found(), this.answers, final)
    if (this.init.trace?.flooded === true)
      out.push(`a flood of network calls (over ${this.init.trace.limitBytes} bytes of trace)`)
    return out
  }

  private found() {
    const attempts = [...(this.init.trace?.seen.values() ?? []), ...this.sampled.values()]
    return unexplained(attempts, { tcp: this.allowed, resolvers: this.init.resolvers })
  }
}
