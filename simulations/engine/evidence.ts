/**
 * Evidence: signed reports, counted once per reporter, gossiped from region to region, summed at
 * each region's heartbeat, and handed to the nodes of a region when its verdict changes.
 */
import { type AdmissionRefusal, refusal } from '../../src/core/rollout/admission.ts'
import {
  type EvidenceSummary,
  replacesReport,
  summarizeCounts,
} from '../../src/core/rollout/evidence.ts'
import type { RolloutInput } from '../../src/core/rollout/machine.ts'
import { rolloutSlot } from '../../src/core/rollout/slot.ts'
import type { Simulation } from '../engine.ts'
import { K_DRAIN, K_EVIDENCE } from './events.ts'
import { rebuildHistory } from './metrics.ts'
import { BAD_PHASE, HALTED_PHASE } from './output.ts'
import type { Rel } from './release.ts'

export function growIdentities(sim: Simulation, need: number): void {
  if (need < sim.identityCap) return
  let cap = sim.identityCap
  while (cap <= need) cap *= 2
  for (const rel of sim.rels) {
    if (!rel) continue
    const a = new Int8Array(cap)
    a.set(rel.verdict)
    rel.verdict = a
    const b = new Float64Array(cap)
    b.set(rel.lastAt)
    rel.lastAt = b
    const c = new Uint8Array(cap)
    c.set(rel.switched)
    rel.switched = c
  }
  sim.identityCap = cap
}

/**
 * When the identity was first known to the network: honest nodes of the first generation from
 * the start, churn replacements when they join (`sim.bornAt`), false reporters as the scenario
 * says (before the release, or when they first report).
 */
function firstSeen(sim: Simulation, rel: Rel, identity: number): number {
  if (
    identity >= sim.reporterBase &&
    identity < sim.reporterBase + sim.s.adversaries.falseReporters.count
  )
    return sim.s.adversaries.falseReporters.established ? rel.publishAt - 1 : sim.now
  return sim.bornAt.get(identity) ?? 0
}

/**
 * Admission (src/core/rollout/admission.ts, rules 2 and 3) as the simulator can apply it: every
 * node is taken to see the release when it is published, and the wave to open at the first
 * region's proceed, both the attacker's best case. Canaries are by fraction alone (the
 * simulator gives the machine no known peers), and no subnet is modelled.
 */
function admits(
  sim: Simulation,
  rel: Rel,
  identity: number,
  stage: 'shadow' | 'probation',
): AdmissionRefusal | undefined {
  return refusal(
    { stage },
    {
      self: false,
      known: { firstSeen: firstSeen(sim, rel, identity) },
      slot: stage === 'probation' ? rolloutSlot(sim.w.peerId(identity), rel.target.digest) : 0,
      lowerSlots: Number.MAX_SAFE_INTEGER,
    },
    {
      digest: rel.target.digest,
      policy: rel.target.policy,
      releaseSeenAt: rel.publishAt,
      ...(Number.isNaN(rel.waveStart) ? {} : { waveStart: rel.waveStart }),
      now: sim.now,
    },
  )
}

/**
 * One signed report from `identity` in region `q`: counted once per reporter, latest wins, if
 * admission counts it at all; returns why not when it does not.
 * Codes per reporter: 0 none, 1 shadow pass, 2 shadow fail, 3 probation pass, 4 probation fail.
 */
export function report(
  sim: Simulation,
  rel: Rel,
  identity: number,
  q: number,
  verdict: 'pass' | 'fail',
  stage: 'shadow' | 'probation',
): AdmissionRefusal | undefined {
  const why = admits(sim, rel, identity, stage)
  if (why !== undefined) {
    rel.notCounted[why] = (rel.notCounted[why] ?? 0) + 1
    return why
  }
  const prior = rel.verdict[identity]!
  const now = sim.now
  // The report service's rule (replacesReport); the simulator holds no bodies to order.
  const priorVerdict = prior === 2 || prior === 4 ? 'fail' : 'pass'
  if (
    prior !== 0 &&
    !replacesReport({ at: rel.lastAt[identity]!, verdict: priorVerdict }, { at: now, verdict })
  )
    return undefined
  const nv = (verdict === 'pass' ? 1 : 2) + (stage === 'probation' ? 2 : 0)
  rel.lastAt[identity] = now
  if (prior === nv) return undefined
  rel.verdict[identity] = nv
  const isPass = (c: number) => (c === 1 || c === 3 ? 1 : 0)
  const isFail = (c: number) => (c === 2 || c === 4 ? 1 : 0)
  const dp = isPass(nv) - isPass(prior)
  const df = isFail(nv) - isFail(prior)
  const dpp = (nv === 3 ? 1 : 0) - (prior === 3 ? 1 : 0)
  const dpf = (nv === 4 ? 1 : 0) - (prior === 4 ? 1 : 0)
  rel.globalPass += dp
  rel.globalFail += df
  const R = sim.R
  const hb = sim.s.network.heartbeatMs
  for (let r = 0; r < R; r++) {
    const arrival = now + sim.w.gossipMs[q * R + r]!
    rel.fifo[q * R + r]!.push(arrival, dp, df, dpp, dpf)
    const drain = Math.ceil(arrival / hb) * hb
    const cur = rel.drainAt[r]!
    if (Number.isNaN(cur) || drain < cur) {
      rel.drainAt[r] = drain
      sim.q.push(drain, K_DRAIN, 0, rel.v * R + r)
    }
  }
  return undefined
}

export function onDrain(sim: Simulation, arg: number): void {
  const R = sim.R
  const rel = sim.rels[Math.floor(arg / R)]!
  const r = arg % R
  if (rel.drainAt[r] !== sim.now) return
  rel.drainAt[r] = Number.NaN
  const out = sim.dpdf
  let next = Number.POSITIVE_INFINITY
  for (let q = 0; q < R; q++) {
    const f = rel.fifo[q * R + r]!
    while (!f.empty && f.headTime <= sim.now) {
      f.pop(out)
      rel.pass[r]! += out[0]!
      rel.fail[r]! += out[1]!
      rel.probPass[r]! += out[2]!
      rel.probFail[r]! += out[3]!
    }
    next = Math.min(next, f.headTime)
  }
  const summary = summarizeCounts(
    {
      passing: rel.pass[r]!,
      failing: rel.fail[r]!,
      probationPassing: rel.probPass[r]!,
      probationFailing: rel.probFail[r]!,
      electorate: sim.electorate,
    },
    rel.target.policy,
  )
  const input: RolloutInput = { type: 'evidence', digest: rel.target.digest, summary }
  rel.regionInput[r] = input
  const flags = (summary.proceed ? 1 : 0) | (summary.halt ? 2 : 0)
  if (flags !== rel.flags[r]) {
    rel.flags[r] = flags
    flip(sim, rel, r, summary, input)
  }
  if (next !== Number.POSITIVE_INFINITY) {
    const hb = sim.s.network.heartbeatMs
    const drain = Math.max(sim.now + hb, Math.ceil(next / hb) * hb)
    rel.drainAt[r] = drain
    sim.q.push(drain, K_DRAIN, 0, rel.v * R + r)
  }
}

/** A region's verdict on a release changed: tell every node there that is working on it. */
export function flip(
  sim: Simulation,
  rel: Rel,
  r: number,
  summary: EvidenceSummary,
  input: RolloutInput,
): void {
  sim.log({
    t: sim.t(),
    type: 'evidence',
    region: sim.s.regions.names[r],
    version: rel.spec.version,
    passing: summary.passing,
    failing: summary.failing,
    probationPassing: summary.probationPassing,
    probationFailing: summary.probationFailing,
    electorate: sim.electorate,
    proceed: summary.proceed,
    halt: summary.halt,
    reason: summary.reason,
  })
  if (summary.proceed && Number.isNaN(rel.waveStart)) rel.waveStart = sim.now
  if (summary.halt && rel.everHalted[r] === 0) {
    rel.everHalted[r] = 1
    rel.stats.haltedRegions++
    if (Number.isNaN(rel.stats.firstHaltAt)) {
      rel.stats.firstHaltAt = sim.now
      // Nodes leave halted releases out of the distance they derank by (withoutReleases in the
      // node); modelled network-wide from the first region's halt.
      rebuildHistory(sim)
    }
  }
  const idx = sim.flipInputs.length
  sim.flipInputs.push(input)
  const digest = rel.target.digest
  const members = sim.regionMembers[r]!
  for (let k = 0; k < members.length; k++) {
    const i = members[k]!
    if (sim.online[i] === 0) continue
    const p = sim.phaseIdx[i]!
    if (p === BAD_PHASE || p === HALTED_PHASE) continue
    if (sim.states[i]!.target?.digest !== digest) continue
    sim.q.push(sim.now + sim.jitter[i]!, K_EVIDENCE, i, idx)
  }
}

export function onEvidence(sim: Simulation, i: number, idx: number): void {
  if (sim.online[i] === 0) return
  const input = sim.flipInputs[idx] as Extract<RolloutInput, { type: 'evidence' }>
  if (sim.states[i]!.target?.digest !== input.digest) return
  if (!sim.apply(i, input)) sim.scheduleWake(i, false)
}
