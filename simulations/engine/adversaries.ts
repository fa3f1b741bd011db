/**
 * The adversaries: Sybil reporters that file false failure reports, eclipse attackers and the
 * honest hellos that reach their victims, and version liars, with how honest nodes rank them.
 */
import { suspicionAfterMs } from '../../src/core/net/freeze.ts'
import { SLOT_GRACE_MS } from '../../src/core/rollout/admission.ts'
import { rolloutSlot, waveSlotTime } from '../../src/core/rollout/slot.ts'
import { BASE_CAPABILITIES, type Rank, rankPeer } from '../../src/core/version/rank.ts'
import type { Simulation } from '../engine.ts'
import { P } from '../model.ts'
import type { LiarClaim } from '../scenario.ts'
import {
  DAY,
  HOUR,
  K_ECLIPSE_CONTACT,
  K_ECLIPSE_SUSPECT,
  K_FALSE_REPORT,
  K_LIAR_CONTACT,
} from './events.ts'
import { report } from './evidence.ts'
import type { Rel } from './release.ts'

export function onFalseReport(sim: Simulation, k: number, v: number): void {
  const id = sim.reporterBase + k
  const fr = sim.s.adversaries.falseReporters
  sim.falseReports++
  const rel = sim.rels[v]!
  const why = report(sim, rel, id, sim.w.regionOf(id, P.reporterRegion), fr.verdict, fr.stage)
  // The worst case: a probation claim refused as too early is sent again once it can count.
  if (why === 'early-probation') {
    const at = Number.isNaN(rel.waveStart)
      ? sim.now + HOUR
      : Math.max(sim.now + 60_000, earliestDue(sim, rel, id))
    sim.q.push(at, K_FALSE_REPORT, k, v)
  }
}

/** When a probation report of `identity` first counts, by the release's earliest wave start. */
function earliestDue(sim: Simulation, rel: Rel, identity: number): number {
  const p = rel.target.policy
  const slot = rolloutSlot(sim.w.peerId(identity), rel.target.digest)
  return waveSlotTime(slot, p.canaryFraction, rel.waveStart, p.windowSeconds) - SLOT_GRACE_MS
}

export function scheduleContact(sim: Simulation, i: number, v: number, n: number): void {
  const rate = sim.s.adversaries.eclipse.honestContactsPerDay
  const gap = -Math.log(sim.w.unit(sim.identity[i]!, P.contact, v, n)) / rate
  sim.q.push(sim.now + gap * DAY, K_ECLIPSE_CONTACT, i, v * 65536 + Math.min(n + 1, 65535))
}

/** An honest peer's hello reaches an eclipsed node: it learns a higher sequence exists. */
export function onEclipseContact(sim: Simulation, i: number, arg: number): void {
  const v = Math.floor(arg / 65536)
  const n = arg % 65536
  const latest = sim.latest!
  if (latest.v !== v) return // a newer release started its own contacts
  const st = sim.states[i]!
  if (st.target !== undefined && st.target.sequence >= latest.target.sequence) return
  if (sim.online[i] === 1) {
    if (sim.contacted[i] === 0) {
      sim.contacted[i] = 1
      sim.contactedCount++
    }
    const ecl = sim.s.adversaries.eclipse
    if (sim.w.unit(sim.identity[i]!, P.escape, v, n) < ecl.directFetchSuccess) {
      // The node asked the claiming peer directly and got the manifest.
      sim.escaped[i] = 1
      sim.escapes++
      if (sim.everEscaped[i] === 0) {
        sim.everEscaped[i] = 1
        sim.escapedNodes++
      }
      if (sim.logged[i] === 1)
        sim.log({
          t: sim.t(),
          type: 'eclipse-escaped',
          node: st.nodeId,
          version: latest.spec.version,
        })
      if (!sim.apply(i, latest.manifestInput)) sim.scheduleWake(i, false)
      return
    }
    if (sim.suspected[i] === 1 && ecl.directFetchSuccess === 0) return // nothing more can happen
    if (sim.suspected[i] === 0) {
      // The node's rule (core/net/freeze.ts): suspicion after failed lookups, widened.
      const n0 = sim.s.network
      const id = sim.identity[i]!
      const at =
        sim.now +
        suspicionAfterMs(
          sim.w.lookupMs(id, sim.region[i]!, P.discoverLatency, 5000 + n),
          n0.lookupIntervalSeconds * 1000,
        )
      sim.q.push(at, K_ECLIPSE_SUSPECT, i, v)
    }
  }
  scheduleContact(sim, i, v, n)
}

export function onEclipseSuspect(sim: Simulation, i: number, v: number): void {
  if (sim.suspected[i] === 1 || sim.online[i] === 0) return
  const st = sim.states[i]!
  if (st.target !== undefined && st.target.sequence >= sim.rels[v]!.target.sequence) return
  sim.suspected[i] = 1
  sim.suspectedCount++
  const rel = sim.rels[v]!
  sim.suspicionHours.push((sim.now - rel.publishAt) / HOUR)
  if (sim.logged[i] === 1)
    sim.log({
      t: sim.t(),
      type: 'eclipse-suspected',
      node: sim.states[i]!.nodeId,
      version: rel.spec.version,
    })
}

export function scheduleLiar(sim: Simulation, k: number, n: number): void {
  const rate = sim.s.adversaries.versionLiars.contactsPerDay
  const id = sim.reporterBase + sim.s.adversaries.falseReporters.count + k
  const gap = -Math.log(sim.w.unit(id, P.liarContact, n)) / rate
  sim.q.push(sim.now + gap * DAY, K_LIAR_CONTACT, k, n + 1)
}

/** A liar that claims a sequence nobody signed says hello to an honest node. */
export function onLiarContact(sim: Simulation, k: number, n: number): void {
  const id = sim.reporterBase + sim.s.adversaries.falseReporters.count + k
  const j = Math.floor(sim.w.unit(id, P.liarTarget, n) * sim.N)
  if (sim.online[j] === 1 && sim.eclipsed[j] === 0 && sim.falseSuspect[j] === 0) {
    sim.falseSuspect[j] = 1
    sim.falseSuspicions++
  }
  scheduleLiar(sim, k, n)
}

export function liarRanks(sim: Simulation): Record<Rank, number> {
  const out: Record<Rank, number> = { normal: 0, unverified: 0, suspicious: 0, deranked: 0 }
  const liars = sim.s.adversaries.versionLiars
  if (liars.count === 0) return out
  const ctx = { history: sim.history, capabilitiesOf: () => BASE_CAPABILITIES }
  const latest = sim.latest?.spec.version ?? sim.s.initialVersion
  const major = Number(latest.split('.')[0])
  const claimOf = (c: LiarClaim) => {
    switch (c) {
      case 'newer-unsigned':
        return { version: `${major + 1}.0.0`, capabilities: BASE_CAPABILITIES }
      case 'older-unsigned':
        return { version: '0.0.0-liar', capabilities: BASE_CAPABILITIES }
      case 'oldest-signed':
        return { version: sim.s.initialVersion, capabilities: BASE_CAPABILITIES }
      case 'extra-capabilities':
        return { version: latest, capabilities: [...BASE_CAPABILITIES, 'admin/1'] }
    }
  }
  const ranks = liars.claims.map((c) => rankPeer(claimOf(c), ctx).rank)
  for (let k = 0; k < liars.count; k++) out[ranks[k % ranks.length]!]++
  return out
}
