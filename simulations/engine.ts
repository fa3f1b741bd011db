/**
 * The discrete-event simulator: a virtual clock, one event queue, and a driver per node that
 * does for the shipped rollout machine what the supervisor does for it in a real node.
 *
 * What is shipped logic and what is modelled:
 *
 * - Every upgrade decision is `step()` from src/core/rollout/machine.ts, on one `RolloutState`
 *   per node, fed `now` from the virtual clock. The driver answers each effect (fetch, stage,
 *   start-shadow, switch, rollback, reinstall) with the input the supervisor would send, after a
 *   modelled delay, and wakes the machine with `tick` at its deadlines, retry times and slots.
 * - Slots are `rolloutSlot(peerId, digest)` inside `step`, on deterministic peer ids.
 * - Evidence is `summarizeCounts()` (the rule of `summarize`) over the distinct reporters a region
 *   has heard of, one report per reporter, the latest winning, exactly as `addReport` keeps them.
 * - Shadow verdicts are `judgeShadow()` on modelled process samples (model.ts).
 * - Deranking is `rankPeer()` on each running version against the signed history.
 * - Modelled: latencies, DHT and push discovery, artifact swarm, churn, operators, faults,
 *   gossip delays, adversaries, and the adapter's freeze rule (two failed lookups after a claim).
 *
 * Evidence spreads per region: a report made at `t` in region q reaches region r at
 * `t + gossipHops * latency[q][r]`, is counted at the region's next gossip heartbeat, and reaches
 * each node of the region after its own small lag. The machine only ever acts on the two flags of
 * a summary (proceed, halt), so nodes are told when their region's flags change, and once when
 * they take up a release: see docs/simulations.md for why this is the same as telling them of
 * every report.
 */
import {
  initialRollout,
  type RolloutInput,
  type RolloutState,
  step,
  switchTime,
  type Target,
} from '../src/core/rollout/machine.ts'
import { buildHistory, type ReleaseHistory } from '../src/core/version/history.ts'
import type { Rank } from '../src/core/version/rank.ts'
import {
  onEclipseContact,
  onEclipseSuspect,
  onFalseReport,
  onLiarContact,
} from './engine/adversaries.ts'
import { onCalibrate } from './engine/calibration.ts'
import { onJoin, onLeave, startChurn } from './engine/churn.ts'
import { effect, onLeakCrash, onProbation } from './engine/effects.ts'
import {
  DAY,
  HOUR,
  K_ANSWER,
  K_APPROVE,
  K_CALIBRATE,
  K_DISCOVER,
  K_DRAIN,
  K_ECLIPSE_CONTACT,
  K_ECLIPSE_SUSPECT,
  K_EVIDENCE,
  K_FALSE_REPORT,
  K_JOIN,
  K_LEAK_CRASH,
  K_LEAVE,
  K_LIAR_CONTACT,
  K_PUBLISH,
  K_REVOKE,
  K_REVOKED,
  K_SAMPLE,
  K_TICK,
} from './engine/events.ts'
import { onDrain, onEvidence } from './engine/evidence.ts'
import { TICK } from './engine/inputs.ts'
import { refreshRanks, sample, setVersion } from './engine/metrics.ts'
import {
  MAX_LOG_LINES,
  PHASE_INDEX,
  PHASES,
  type SimResult,
  type SimSummary,
  timeseriesColumns,
} from './engine/output.ts'
import { onApprove, onDiscover, onPublish } from './engine/publish.ts'
import { makeRel, type Rel } from './engine/release.ts'
import { onRevoke, onRevoked } from './engine/revoke.ts'
import { finish } from './engine/summary.ts'
import { AUTO, NEVER, WorldModel } from './model.ts'
import { EventQueue } from './queue.ts'
import type { Scenario } from './scenario.ts'

export type { ReleaseOutcome, SimResult, SimSummary } from './engine/output.ts'
export { MAX_LOG_LINES, PHASES, THRESHOLDS, timeseriesColumns } from './engine/output.ts'

/** Options of one run. */
export interface RunOptions {
  seed: number
  /** Name of the policy under test (for compare); @default "scenario" */
  policyName?: string
}

/** Runs one scenario to its end. */
export function simulate(s: Scenario, options: RunOptions): SimResult {
  return new Simulation(s, options).run()
}

/**
 * One run: its state, the event loop and the driver of each node's machine. The rest of what
 * happens in a run is functions of it, in engine/.
 */
export class Simulation {
  readonly s: Scenario
  readonly seed: number
  readonly policyName: string
  readonly w: WorldModel
  readonly q: EventQueue = new EventQueue(1 << 16)
  now = 0
  readonly endMs: number
  readonly N: number
  readonly R: number
  readonly versions: string[]
  readonly verIndex: Map<string, number> = new Map()
  readonly rels: Array<Rel | undefined>
  private readonly relByDigest = new Map<string, Rel>()
  latest: Rel | undefined

  // Per slot.
  readonly states: RolloutState[]
  readonly identity: Int32Array
  readonly region: Uint8Array
  readonly op: Uint8Array
  readonly online: Uint8Array
  readonly eclipsed: Uint8Array
  readonly escaped: Uint8Array
  readonly everEscaped: Uint8Array
  readonly suspected: Uint8Array
  readonly contacted: Uint8Array
  readonly falseSuspect: Uint8Array
  readonly departing: Uint8Array
  readonly logged: Uint8Array
  readonly verIdx: Int16Array
  readonly phaseIdx: Uint8Array
  readonly token: Int32Array
  private readonly answerAt: Float64Array
  readonly pendingInput: Array<RolloutInput | undefined>
  readonly tickAt: Float64Array
  readonly jitter: Float32Array
  /**
   * Per offline node, the releases (by index) its operator approved while it was down, applied
   * when it comes back. A map of lists, not a bit mask: a scenario may hold 64 releases.
   */
  readonly pendingApprovals: Map<number, number[]> = new Map()
  readonly churnCount: Int32Array
  readonly probationStart: Float64Array
  readonly regionMembers: Int32Array[]
  private tokenCounter = 0
  nextIdentity: number
  identityCap: number
  readonly reporterBase: number

  // Counters.
  readonly phaseAll: Float64Array
  readonly verAll: Float64Array
  readonly verOnline: Float64Array
  readonly atLeastAll: Float64Array
  readonly verAuto: Float64Array
  readonly badVersion: Uint8Array
  onlineCount = 0
  autoOnline = 0
  onBad = 0
  maxOnBad = 0
  maxOnBadAt: number = Number.NaN
  rollbacks = 0
  reinstalls = 0
  leaves = 0
  joins = 0
  departures = 0
  falseReports = 0
  /**
   * Reporters every node knew before a release (admission's electorate): the first generation of
   * nodes, and false reporters the scenario says were established.
   */
  get electorate(): number {
    const fr = this.s.adversaries.falseReporters
    return this.N + (fr.established ? fr.count : 0)
  }
  /** When each identity that joined after the start (churn) first joined, ms. */
  readonly bornAt: Map<number, number> = new Map()
  falseSuspicions = 0
  suspicionHours: number[] = []
  suspectedCount = 0
  escapes = 0
  escapedNodes = 0
  contactedCount = 0
  leakCrashes = 0
  steps = 0
  derankedMax = 0
  derankedMaxAt: number = Number.NaN
  lastDeranked = 0
  lastStranded = 0
  lastSampleAt: number = Number.NEGATIVE_INFINITY
  history: ReleaseHistory
  rankOf: Rank[] = []
  readonly calibration: SimSummary['calibration'] = []

  // Outputs.
  readonly columns: string[]
  readonly rows: number[][] = []
  readonly lines: string[] = []
  dropped = 0
  loggedCount = 0
  readonly dpdf: number[] = [0, 0, 0, 0]
  readonly flipInputs: RolloutInput[] = []

  constructor(s: Scenario, options: RunOptions) {
    this.s = s
    this.seed = options.seed >>> 0
    this.policyName = options.policyName ?? 'scenario'
    this.w = new WorldModel(s, this.seed)
    this.endMs = s.durationHours * HOUR
    this.N = s.nodes
    this.R = s.regions.names.length
    this.versions = [s.initialVersion, ...s.releases.map((r) => r.version)]
    for (const [i, v] of this.versions.entries()) this.verIndex.set(v, i)
    const N = this.N
    const V = this.versions.length
    this.states = new Array<RolloutState>(N)
    this.identity = new Int32Array(N)
    this.region = new Uint8Array(N)
    this.op = new Uint8Array(N)
    this.online = new Uint8Array(N)
    this.eclipsed = new Uint8Array(N)
    this.escaped = new Uint8Array(N)
    this.everEscaped = new Uint8Array(N)
    this.suspected = new Uint8Array(N)
    this.contacted = new Uint8Array(N)
    this.falseSuspect = new Uint8Array(N)
    this.departing = new Uint8Array(N)
    this.logged = new Uint8Array(N)
    this.verIdx = new Int16Array(N)
    this.phaseIdx = new Uint8Array(N)
    this.token = new Int32Array(N)
    this.answerAt = new Float64Array(N)
    this.pendingInput = new Array<RolloutInput | undefined>(N)
    this.tickAt = new Float64Array(N).fill(Number.NaN)
    this.jitter = new Float32Array(N)
    this.churnCount = new Int32Array(N)
    this.probationStart = new Float64Array(N)
    this.phaseAll = new Float64Array(PHASES.length)
    this.verAll = new Float64Array(V)
    this.verOnline = new Float64Array(V)
    this.atLeastAll = new Float64Array(V)
    this.verAuto = new Float64Array(V)
    this.badVersion = new Uint8Array(V)
    s.releases.forEach((r, i) => {
      if (r.quality !== 'good') this.badVersion[i + 1] = 1
    })
    this.reporterBase = N
    this.nextIdentity = N + s.adversaries.falseReporters.count
    this.identityCap = Math.max(
      16,
      Math.ceil(this.nextIdentity * (s.churn && s.churn.departure > 0 ? 1.25 : 1)),
    )

    this.rels = [undefined]
    s.releases.forEach((spec, i) => {
      const rel = makeRel(s, this.seed, this.R, this.identityCap, spec, i + 1)
      this.relByDigest.set(rel.target.digest, rel)
      this.rels.push(rel)
    })
    this.history = buildHistory([{ version: s.initialVersion, sequence: 1 }])
    refreshRanks(this)

    this.columns = timeseriesColumns(this.versions)

    const stride =
      s.log.mode === 'full'
        ? 1
        : s.log.mode === 'sample' && s.log.sampleNodes > 0
          ? Math.max(1, Math.ceil(N / s.log.sampleNodes))
          : 0
    const members: number[][] = Array.from({ length: this.R }, () => [])
    for (let i = 0; i < N; i++) {
      const id = i
      this.identity[i] = id
      const r = this.w.regionOf(id)
      this.region[i] = r
      members[r]!.push(i)
      this.op[i] = this.w.operatorOf(id)
      this.eclipsed[i] = this.w.isEclipsed(id) ? 1 : 0
      this.jitter[i] = this.w.evidenceJitterMs(id, r)
      if (stride > 0 && i % stride === 0) {
        this.logged[i] = 1
        this.loggedCount++
      }
      this.states[i] = this.fresh(i, s.initialVersion)
      this.verIdx[i] = 0
      this.verAll[0]!++
      this.phaseAll[0]!++
    }
    this.regionMembers = members.map((m) => Int32Array.from(m))
  }

  fresh(i: number, version: string): RolloutState {
    const id = this.w.peerId(this.identity[i]!)
    return initialRollout(id, version, { autoUpgrade: this.op[i] === AUTO }, this.s.timeouts)
  }

  // ------------------------------------------------------------------ output helpers

  t(): number {
    return Math.round(this.now) / 1000
  }

  log(line: Record<string, unknown>): void {
    if (this.lines.length >= MAX_LOG_LINES) {
      this.dropped++
      return
    }
    this.lines.push(JSON.stringify(line))
  }

  // ------------------------------------------------------------------ the run

  run(): SimResult {
    const s = this.s
    this.log({
      t: 0,
      type: 'start',
      scenario: s.name,
      seed: this.seed,
      policy: this.policyName,
      nodes: s.nodes,
      regions: s.regions.names,
      log: s.log.mode,
    })
    startChurn(this)
    for (const rel of this.rels) if (rel) this.q.push(rel.publishAt, K_PUBLISH, 0, rel.v)
    for (const rel of this.rels)
      if (rel?.spec.revokeAtHours !== undefined)
        this.q.push(rel.spec.revokeAtHours * HOUR, K_REVOKE, 0, rel.v)
    s.calibration.forEach((c, k) => {
      const rel = this.rels[this.verIndex.get(c.release)!]!
      this.q.push(rel.publishAt + c.afterDays * DAY, K_CALIBRATE, 0, k)
    })
    const sampleMs = s.sampleMinutes * 60_000
    for (let k = 0; k * sampleMs <= this.endMs; k++) this.q.push(k * sampleMs, K_SAMPLE, 0, 0)

    const q = this.q
    for (;;) {
      if (q.peekTime() > this.endMs) break
      const e = q.pop()!
      this.now = e.time
      const i = e.node
      switch (e.kind) {
        case K_ANSWER:
          this.onAnswer(i, e.arg)
          break
        case K_TICK:
          if (this.online[i] === 1 && this.tickAt[i] === e.time) {
            this.tickAt[i] = Number.NaN
            if (!this.apply(i, TICK)) this.scheduleWake(i, false)
          }
          break
        case K_DISCOVER:
          onDiscover(this, i)
          break
        case K_EVIDENCE:
          onEvidence(this, i, e.arg)
          break
        case K_DRAIN:
          onDrain(this, e.arg)
          break
        case K_APPROVE:
          onApprove(this, i, e.arg)
          break
        case K_LEAVE:
          onLeave(this, i)
          break
        case K_JOIN:
          onJoin(this, i)
          break
        case K_PUBLISH:
          onPublish(this, e.arg)
          break
        case K_SAMPLE:
          sample(this)
          break
        case K_FALSE_REPORT:
          onFalseReport(this, i, e.arg)
          break
        case K_ECLIPSE_CONTACT:
          onEclipseContact(this, i, e.arg)
          break
        case K_ECLIPSE_SUSPECT:
          onEclipseSuspect(this, i, e.arg)
          break
        case K_LIAR_CONTACT:
          onLiarContact(this, i, e.arg)
          break
        case K_LEAK_CRASH:
          onLeakCrash(this, i, e.arg)
          break
        case K_CALIBRATE:
          onCalibrate(this, e.arg)
          break
        case K_REVOKE:
          onRevoke(this, e.arg)
          break
        case K_REVOKED:
          onRevoked(this, i, e.arg)
          break
      }
    }
    this.now = this.endMs
    return finish(this)
  }

  // ------------------------------------------------------------------ the driver of one machine

  /** Steps node i's machine; carries out the effects. Returns false when nothing changed. */
  apply(i: number, input: RolloutInput): boolean {
    const prev = this.states[i]!
    const r = step(prev, input, this.now)
    this.steps++
    const next = r.state
    if (next === prev && r.effects.length === 0) return false
    this.states[i] = next
    if (next.phase !== prev.phase) {
      const pi = PHASE_INDEX.get(next.phase)!
      this.phaseAll[this.phaseIdx[i]!]!--
      this.phaseAll[pi]!++
      this.phaseIdx[i] = pi
      if (this.logged[i] === 1)
        this.log({
          t: this.t(),
          type: 'phase',
          node: next.nodeId,
          from: prev.phase,
          to: next.phase,
          target: next.target?.version ?? null,
          current: next.current,
          reason: next.reason,
        })
      if (next.phase === 'probation') onProbation(this, i, next)
    }
    if (next.current !== prev.current) setVersion(this, i, this.verIndex.get(next.current)!)
    for (const e of r.effects) if (e.type !== 'log') effect(this, i, e, next)
    // A node that takes up a release hears what its region already knows about it.
    const t = next.target
    if (t !== undefined && t.digest !== prev.target?.digest) {
      const rel = this.relByDigest.get(t.digest)!
      const ev = rel.regionInput[this.region[i]!]
      if (ev !== undefined) this.apply(i, ev)
    }
    this.scheduleWake(i, true)
    return true
  }

  relOf(t: Target): Rel {
    return this.relByDigest.get(t.digest)!
  }

  answer(i: number, input: RolloutInput, at: number): void {
    const tok = ++this.tokenCounter
    this.token[i] = tok
    this.pendingInput[i] = input
    this.answerAt[i] = at
    this.q.push(at, K_ANSWER, i, tok)
  }

  private onAnswer(i: number, tok: number): void {
    if (this.token[i] !== tok) return
    this.token[i] = 0
    const input = this.pendingInput[i]!
    this.pendingInput[i] = undefined
    if (input.type === 'shadow-result' && input.verdict !== 'pass') {
      const rel = this.relOf(this.states[i]!.target!)
      if (input.verdict === 'fail') rel.stats.shadowFailures++
      else rel.stats.shadowInconclusive++
    }
    if (!this.apply(i, input)) this.scheduleWake(i, false)
  }

  /**
   * Wakes the machine with a tick at its next deadline, retry or slot, unless an answer comes
   * first. `allowNow`: the state just changed, so an overdue deadline is worth a tick at once.
   */
  scheduleWake(i: number, allowNow: boolean): void {
    if (this.online[i] === 0) return
    const s = this.states[i]!
    const now = this.now
    let w = Number.POSITIVE_INFINITY
    const d = s.deadline
    if (d !== undefined) {
      if (d > now) w = d
      else if (allowNow) w = now
    }
    const retry = s.retryAt
    if (s.phase === 'idle' && retry !== undefined && s.target !== undefined) {
      if (retry > now) w = Math.min(w, retry)
      else if (allowNow) w = Math.min(w, now)
    }
    if (s.phase === 'scheduled' && s.target !== undefined) {
      // The core's rule for when it may switch (a non-canary: in its wave), not a copy of it.
      const at = switchTime(s)
      if (at !== undefined && at > now) w = Math.min(w, at)
    }
    if (w === Number.POSITIVE_INFINITY) {
      this.tickAt[i] = Number.NaN
      return
    }
    w = Math.ceil(w)
    if (this.token[i] !== 0 && this.answerAt[i]! <= w) {
      this.tickAt[i] = Number.NaN
      return
    }
    if (this.tickAt[i] === w) return
    this.tickAt[i] = w
    this.q.push(w, K_TICK, i, 0)
  }
}

/** Exposed for tests: the never-upgrading operator kind. */
export const OPERATOR_NEVER: number = NEVER
