/**
 * Churn: nodes go offline and come back after modelled session and downtime lengths, and a node
 * that departs for good is replaced by a new one with a fresh identity and state.
 */
import type { Simulation } from '../engine.ts'
import { MANUAL, meanHours, P, sampleHours } from '../model.ts'
import { HOUR, K_APPROVE, K_DISCOVER, K_JOIN, K_LEAVE } from './events.ts'
import { growIdentities } from './evidence.ts'
import { RESUME } from './inputs.ts'
import { setOnline, setVersion } from './metrics.ts'
import { revocationsOnJoin } from './revoke.ts'

export function startChurn(sim: Simulation): void {
  const c = sim.s.churn
  const N = sim.N
  if (c === undefined) {
    for (let i = 0; i < N; i++) setOnline(sim, i, true)
    return
  }
  const on = meanHours(c.session) / (meanHours(c.session) + meanHours(c.downtime))
  for (let i = 0; i < N; i++) {
    const id = sim.identity[i]!
    const u = sim.w.unit(id, P.churnStart)
    // Start in the stationary mix of online and offline; a uniform share of a first draw
    // stands in for the residual time (an approximation for heavy tails, see docs).
    const res = sim.w.unit(id, P.churnResidual)
    if (u < on) {
      setOnline(sim, i, true)
      const h = sampleHours(
        c.session,
        sim.w.unit(id, P.churnSession, 0),
        sim.w.unit(id, P.churnSession2, 0),
      )
      sim.q.push(res * h * HOUR, K_LEAVE, i, 0)
    } else {
      const h = sampleHours(
        c.downtime,
        sim.w.unit(id, P.churnDown, 0),
        sim.w.unit(id, P.churnDown2, 0),
      )
      sim.q.push(res * h * HOUR, K_JOIN, i, 0)
    }
  }
}

export function onLeave(sim: Simulation, i: number): void {
  const c = sim.s.churn!
  sim.leaves++
  setOnline(sim, i, false)
  sim.token[i] = 0
  sim.pendingInput[i] = undefined
  sim.tickAt[i] = Number.NaN
  const id = sim.identity[i]!
  const n = ++sim.churnCount[i]!
  if (sim.w.unit(id, P.departure, n) < c.departure) sim.departing[i] = 1
  if (sim.logged[i] === 1)
    sim.log({
      t: sim.t(),
      type: 'offline',
      node: sim.states[i]!.nodeId,
      departs: sim.departing[i] === 1,
    })
  const h = sampleHours(c.downtime, sim.w.unit(id, P.churnDown, n), sim.w.unit(id, P.churnDown2, n))
  sim.q.push(sim.now + h * HOUR, K_JOIN, i, 0)
}

export function onJoin(sim: Simulation, i: number): void {
  const c = sim.s.churn!
  sim.joins++
  if (sim.departing[i] === 1) replace(sim, i)
  setOnline(sim, i, true)
  const st = sim.states[i]!
  if (sim.logged[i] === 1) sim.log({ t: sim.t(), type: 'online', node: st.nodeId })
  // The supervisor starts again: the machine re-issues whatever its phase was doing.
  sim.apply(i, RESUME)
  revocationsOnJoin(sim, i)
  const pending = sim.pendingApprovals.get(i)
  if (pending !== undefined) {
    sim.pendingApprovals.delete(i)
    for (const v of pending.sort((a, b) => a - b)) sim.apply(i, sim.rels[v]!.approveInput)
  }
  const t = sim.states[i]!.target
  if (t !== undefined) {
    const ev = sim.relOf(t).regionInput[sim.region[i]!]
    if (ev !== undefined) sim.apply(i, ev)
  }
  const id = sim.identity[i]!
  if (sim.latest !== undefined && (sim.eclipsed[i] === 0 || sim.escaped[i] === 1))
    sim.q.push(
      sim.now + sim.w.lookupMs(id, sim.region[i]!, P.discoverLatency, 1000 + sim.churnCount[i]!),
      K_DISCOVER,
      i,
      sim.latest.v,
    )
  sim.scheduleWake(i, false)
  const n = sim.churnCount[i]!
  const h = sampleHours(
    c.session,
    sim.w.unit(id, P.churnSession, n + 1),
    sim.w.unit(id, P.churnSession2, n + 1),
  )
  sim.q.push(sim.now + h * HOUR, K_LEAVE, i, 0)
}

/** A node left for good; a new one (new peer id, fresh state) takes its place. */
export function replace(sim: Simulation, i: number): void {
  sim.departures++
  sim.departing[i] = 0
  const id = sim.nextIdentity++
  growIdentities(sim, id)
  sim.bornAt.set(id, sim.now)
  const oldPhase = sim.phaseIdx[i]!
  sim.phaseAll[oldPhase]!--
  sim.phaseAll[0]!++
  sim.phaseIdx[i] = 0
  // Joiners install what most of the network runs, never a revoked release.
  let best = 0
  for (let v = 1; v < sim.versions.length; v++)
    if (sim.rels[v]?.revoked !== true && sim.verOnline[v]! > sim.verOnline[best]!) best = v
  setVersion(sim, i, best)
  sim.identity[i] = id
  sim.op[i] = sim.w.operatorOf(id)
  sim.eclipsed[i] = sim.w.isEclipsed(id) ? 1 : 0
  sim.escaped[i] = 0
  sim.everEscaped[i] = 0
  sim.suspected[i] = 0
  sim.contacted[i] = 0
  sim.falseSuspect[i] = 0
  sim.pendingApprovals.delete(i)
  sim.churnCount[i] = 0
  sim.states[i] = sim.fresh(i, sim.versions[best]!)
  if (sim.op[i] === MANUAL) {
    for (let v = best + 1; v < sim.versions.length; v++) {
      const rel = sim.rels[v]!
      if (rel.published) sim.q.push(sim.now + sim.w.manualDelayMs(id, v), K_APPROVE, i, v)
    }
  }
}
