/**
 * Counters and measurements of a run: nodes per version and phase as they change, the times the
 * arrival thresholds are reached, the signed history the nodes rank by, and the rows of
 * timeseries.csv.
 */
import { compareVersions } from '../../src/core/rollout/machine.ts'
import { buildHistory, withoutReleases } from '../../src/core/version/history.ts'
import { BASE_CAPABILITIES, rankPeer } from '../../src/core/version/rank.ts'
import type { Simulation } from '../engine.ts'
import { AUTO } from '../model.ts'
import { THRESHOLDS } from './output.ts'
import type { Rel } from './release.ts'
import { noteCleared } from './revoke.ts'

export function setVersion(sim: Simulation, i: number, nv: number): void {
  const ov = sim.verIdx[i]!
  if (ov === nv) return
  sim.verIdx[i] = nv
  sim.verAll[ov]!--
  sim.verAll[nv]!++
  const rel = sim.rels[nv]
  if (rel && sim.verAll[nv]! > rel.stats.maxOn) rel.stats.maxOn = sim.verAll[nv]!
  noteCleared(sim, ov)
  if (sim.badVersion[ov] === 1) sim.onBad--
  if (sim.badVersion[nv] === 1) {
    sim.onBad++
    if (sim.onBad > sim.maxOnBad) {
      sim.maxOnBad = sim.onBad
      sim.maxOnBadAt = sim.now
    }
  }
  if (sim.online[i] === 1) {
    sim.verOnline[ov]!--
    sim.verOnline[nv]!++
    if (sim.op[i] === AUTO) {
      sim.verAuto[ov]!--
      sim.verAuto[nv]!++
    }
    const lo = Math.min(ov, nv) + 1
    const hi = Math.max(ov, nv)
    const d = nv > ov ? 1 : -1
    for (let v = lo; v <= hi; v++) sim.atLeastAll[v]! += d
    checkThresholds(sim, nv)
  }
}

export function setOnline(sim: Simulation, i: number, on: boolean): void {
  const was = sim.online[i] === 1
  if (was === on) return
  sim.online[i] = on ? 1 : 0
  const d = on ? 1 : -1
  sim.onlineCount += d
  const v0 = sim.verIdx[i]!
  sim.verOnline[v0]! += d
  if (sim.op[i] === AUTO) {
    sim.autoOnline += d
    sim.verAuto[v0]! += d
  }
  for (let v = 0; v <= v0; v++) sim.atLeastAll[v]! += d
  // Leaving raises everyone else's share only if the leaver was behind; check all releases.
  for (let v = 1; v < sim.versions.length; v++) checkThresholds(sim, v)
}

export function checkThresholds(sim: Simulation, v: number): void {
  const rel = sim.rels[v]
  if (rel === undefined || !rel.published) return
  const st = rel.stats
  for (let k = 0; k < THRESHOLDS.length; k++) {
    const th = THRESHOLDS[k]!
    if (
      Number.isNaN(st.autoAt[k]!) &&
      sim.autoOnline > 0 &&
      sim.verAuto[v]! >= th * sim.autoOnline
    ) {
      st.autoAt[k] = sim.now
      sim.log({
        t: sim.t(),
        type: 'threshold',
        version: rel.spec.version,
        of: 'auto-upgrading',
        share: th,
      })
    }
    if (
      Number.isNaN(st.allAt[k]!) &&
      sim.onlineCount > 0 &&
      sim.verOnline[v]! >= th * sim.onlineCount
    ) {
      st.allAt[k] = sim.now
      sim.log({
        t: sim.t(),
        type: 'threshold',
        version: rel.spec.version,
        of: 'all',
        share: th,
      })
    }
  }
}

/** The signed history the nodes rank by: every published release, less the halted ones. */
export function rebuildHistory(sim: Simulation): void {
  const published = sim.rels.filter((r): r is Rel => r?.published === true)
  const all = buildHistory([
    { version: sim.s.initialVersion, sequence: 1 },
    ...published.map((r) => ({
      version: r.spec.version,
      sequence: r.target.sequence,
      digest: r.target.digest,
    })),
  ])
  const halted = new Set(
    published.filter((r) => !Number.isNaN(r.stats.firstHaltAt)).map((r) => r.target.digest),
  )
  sim.history = withoutReleases(all, halted)
  refreshRanks(sim)
}

export function refreshRanks(sim: Simulation): void {
  const ctx = { history: sim.history, capabilitiesOf: () => BASE_CAPABILITIES }
  sim.rankOf = sim.versions.map(
    (version) => rankPeer({ version, capabilities: BASE_CAPABILITIES }, ctx).rank,
  )
}

export function sample(sim: Simulation): void {
  sim.lastSampleAt = sim.now
  let deranked = 0
  let stranded = 0
  const min = sim.latest?.spec.minVersion
  for (let v = 0; v < sim.versions.length; v++) {
    const n = sim.verOnline[v]!
    if (sim.rankOf[v] === 'deranked') deranked += n
    if (min !== undefined && compareVersions(sim.versions[v]!, min) < 0) stranded += n
  }
  sim.lastDeranked = deranked
  sim.lastStranded = stranded
  if (deranked > sim.derankedMax) {
    sim.derankedMax = deranked
    sim.derankedMaxAt = sim.now
  }
  let pass = 0
  let fail = 0
  for (const rel of sim.rels) {
    if (!rel) continue
    pass += rel.globalPass
    fail += rel.globalFail
  }
  sim.rows.push([
    Math.round(sim.now / 36) / 100000,
    sim.onlineCount,
    ...sim.verOnline,
    ...sim.phaseAll,
    deranked,
    stranded,
    sim.onBad,
    sim.rollbacks,
    sim.reinstalls,
    pass,
    fail,
    sim.suspectedCount,
    sim.falseSuspicions,
    sim.leakCrashes,
  ])
}
