/**
 * Releases and operators: a release is published, nodes discover the newest manifest (the DHT and
 * push), and manual operators approve a release when they get to it.
 */
import type { Simulation } from '../engine.ts'
import { MANUAL, P } from '../model.ts'
import { scheduleContact, scheduleLiar } from './adversaries.ts'
import { K_APPROVE, K_DISCOVER, K_FALSE_REPORT } from './events.ts'
import { rebuildHistory } from './metrics.ts'

export function onPublish(sim: Simulation, v: number): void {
  const rel = sim.rels[v]!
  rel.published = true
  sim.latest = rel
  rebuildHistory(sim)
  sim.log({
    t: sim.t(),
    type: 'release',
    version: rel.spec.version,
    sequence: rel.target.sequence,
    quality: rel.spec.quality,
    digest: rel.target.digest,
    policy: rel.spec.policy,
  })
  const N = sim.N
  const ecl = sim.s.adversaries.eclipse
  for (let i = 0; i < N; i++) {
    const id = sim.identity[i]!
    if (sim.eclipsed[i] === 1) {
      sim.escaped[i] = 0
      if (ecl.honestContactsPerDay > 0) scheduleContact(sim, i, v, 0)
    } else if (sim.online[i] === 1) {
      sim.q.push(sim.now + sim.w.discoveryMs(id, sim.region[i]!, v, N), K_DISCOVER, i, v)
    }
    if (sim.op[i] === MANUAL) sim.q.push(sim.now + sim.w.manualDelayMs(id, v), K_APPROVE, i, v)
  }
  const fr = sim.s.adversaries.falseReporters
  if (fr.count > 0 && (fr.versions === undefined || fr.versions.includes(rel.spec.version))) {
    for (let k = 0; k < fr.count; k++) {
      const id = sim.reporterBase + k
      const r = sim.w.regionOf(id, P.reporterRegion)
      const lag = sim.w.latency(r, r, sim.w.unit(id, P.reporterDelay, v))
      sim.q.push(sim.now + fr.delayMinutes * 60_000 + lag, K_FALSE_REPORT, k, v)
    }
  }
  const liars = sim.s.adversaries.versionLiars
  if (v === 1 && liars.sequenceAhead && liars.contactsPerDay > 0) {
    for (let k = 0; k < liars.count; k++) scheduleLiar(sim, k, 0)
  }
}

export function onDiscover(sim: Simulation, i: number): void {
  if (sim.online[i] === 0 || sim.latest === undefined) return
  if (sim.eclipsed[i] === 1 && sim.escaped[i] === 0) return
  // The DHT and the hellos carry the highest sequence, whatever release the lookup began for.
  if (!sim.apply(i, sim.latest.manifestInput)) sim.scheduleWake(i, false)
}

export function onApprove(sim: Simulation, i: number, v: number): void {
  if (sim.online[i] === 0) {
    const pending = sim.pendingApprovals.get(i)
    if (pending === undefined) sim.pendingApprovals.set(i, [v])
    else pending.push(v)
    return
  }
  if (!sim.apply(i, sim.rels[v]!.approveInput)) sim.scheduleWake(i, false)
}
