/**
 * Probation measured: during probation, the supervisor samples its new live node each tick
 * (memory, CPU share and open files from /proc, peers and handshakes from its status) and
 * compares the samples with the same node's own samples from before the switch (the live side
 * of the release's shadow run) by the core's `judgeProbation`. A build that passed its shadow
 * run and regresses once it is the node fails its probation, and rolls back.
 */
import type { ProcessSample } from '../../core/shadow/verdict.ts'
import { judgeProbation } from '../../core/shadow/verdict.ts'
import type { NodeStatus } from '../libp2p/status.ts'
import { cpuShare, type ProcReading, readProc } from './probe.ts'

/** Samples skipped after the switch: start-up is not steady behaviour. */
const SKIP_SAMPLES = 3

/** The probation samples of one target, against the baseline kept from its shadow run. */
export class ProbationMeasure {
  private baseline?: { digest: string; samples: ProcessSample[] }
  private digest?: string
  private samples: ProcessSample[] = []
  private prev?: { pid: number; reading: ProcReading }
  private skip = SKIP_SAMPLES
  private nextJudgeAt = 0
  private failed = false

  /** Keeps the live node's samples of a passed shadow run of `digest`. */
  keepBaseline(digest: string, samples: readonly ProcessSample[]): void {
    this.baseline = { digest, samples: [...samples] }
  }

  /**
   * One sample of the live node on probation for `digest`. Returns the reason once, when the
   * comparison fails. Judged when the samples reach the rule's minimum, then at each doubling
   * (a few tests, not one a tick: each has its own chance of a false alarm).
   */
  async sample(
    digest: string,
    live: { pid: number },
    status: NodeStatus | undefined,
  ): Promise<string | undefined> {
    if (digest !== this.digest) {
      this.digest = digest
      this.samples = []
      this.prev = undefined
      this.skip = SKIP_SAMPLES
      this.nextJudgeAt = 0
      this.failed = false
    }
    const reading = await readProc(live.pid, Date.now())
    if (reading === undefined) return undefined
    const prev = this.prev
    this.prev = { pid: live.pid, reading }
    if (prev === undefined || prev.pid !== live.pid || status === undefined) return undefined
    if (this.skip > 0) {
      this.skip--
      return undefined
    }
    this.samples.push({
      rss: reading.rss,
      cpu: cpuShare(prev.reading, reading),
      fds: reading.fds,
      peers: status.peers.filter((p) => p.connected).length,
      handshakes: status.counters.hello_ok ?? 0,
    })
    const base = this.baseline
    if (this.failed || base === undefined || base.digest !== digest) return undefined
    if (this.samples.length < this.nextJudgeAt) return undefined
    const v = judgeProbation(base.samples, this.samples)
    if (v.verdict === 'inconclusive') return undefined
    this.nextJudgeAt = this.samples.length * 2
    if (v.verdict !== 'fail') return undefined
    this.failed = true
    return v.reason
  }
}
