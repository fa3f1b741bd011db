/** The end of a run: the last sample, summary.json, and the log's last line. */
import type { Simulation } from '../engine.ts'
import { liarRanks } from './adversaries.ts'
import { HOUR } from './events.ts'
import { sample } from './metrics.ts'
import { type ReleaseOutcome, type SimResult, type SimSummary, THRESHOLDS } from './output.ts'

export function finish(sim: Simulation): SimResult {
  const s = sim.s
  if (sim.lastSampleAt < sim.endMs) sample(sim)
  const hours = (ms: number) => (Number.isNaN(ms) ? null : Math.round((ms / HOUR) * 1000) / 1000)
  const halted = new Map<string, number>()
  const markedBad = new Map<string, number>()
  for (let i = 0; i < sim.N; i++) {
    const st = sim.states[i]!
    if (st.phase === 'halted' && st.target)
      halted.set(st.target.version, (halted.get(st.target.version) ?? 0) + 1)
    for (const v of Object.keys(st.bad)) markedBad.set(v, (markedBad.get(v) ?? 0) + 1)
  }
  const pct = (x: number) => `${Math.round(x * 100)}%`
  const releases: ReleaseOutcome[] = []
  for (const rel of sim.rels) {
    if (!rel) continue
    const st = rel.stats
    const since = (ms: number) => (Number.isNaN(ms) ? null : hours(ms - rel.publishAt))
    releases.push({
      version: rel.spec.version,
      sequence: rel.target.sequence,
      quality: rel.spec.quality,
      digest: rel.target.digest,
      publishedAtHours: hours(rel.publishAt)!,
      autoUpgradeHours: Object.fromEntries(
        THRESHOLDS.map((th, k) => [pct(th), since(st.autoAt[k]!)]),
      ),
      allNodesHours: Object.fromEntries(THRESHOLDS.map((th, k) => [pct(th), since(st.allAt[k]!)])),
      finalShare:
        sim.onlineCount === 0
          ? 0
          : Math.round((sim.atLeastAll[rel.v]! / sim.onlineCount) * 10000) / 10000,
      mostNodesOn: st.maxOn,
      firstSwitchAtHours: since(st.firstSwitchAt),
      nodesSwitched: st.nodesSwitched,
      switches: st.switches,
      commits: st.commits,
      rollbacks: st.rollbacks,
      reinstalls: st.reinstalls,
      shadowFailures: st.shadowFailures,
      shadowInconclusive: st.shadowInconclusive,
      probationFailures: st.probationFailures,
      reporters: { passing: rel.globalPass, failing: rel.globalFail },
      notCounted: { ...rel.notCounted },
      haltedRegions: st.haltedRegions,
      firstHaltAtHours: since(st.firstHaltAt),
      nodesHalted: halted.get(rel.spec.version) ?? 0,
      nodesMarkedBad: markedBad.get(rel.spec.version) ?? 0,
      leakCrashesAfterCommit: st.leakCrashes,
      ...(rel.revoked
        ? {
            revocation: {
              atHours: since(st.revokedAt)!,
              nodesOn: st.onAtRevoke,
              clearedAfterHours: Number.isNaN(st.clearedAt)
                ? null
                : Math.round(((st.clearedAt - st.revokedAt) / HOUR) * 10000) / 10000,
              nodesLeft: rel.leftAfterRevoke.length,
              leftAfterHours: quantileHours(rel.leftAfterRevoke),
              stranded: sim.verAll[rel.v]!,
            },
          }
        : {}),
    })
  }
  let eclipsed = 0
  let unnoticed = 0
  let behind = 0
  const last = sim.versions.length - 1
  for (let i = 0; i < sim.N; i++) {
    if (sim.eclipsed[i] === 0) continue
    eclipsed++
    if (sim.suspected[i] === 0 && sim.everEscaped[i] === 0) unnoticed++
    if (sim.verIdx[i]! < last) behind++
  }
  const sorted = [...sim.suspicionHours].sort((a, b) => a - b)
  const median =
    sorted.length === 0 ? null : Math.round(sorted[Math.floor(sorted.length / 2)]! * 1000) / 1000
  const summary: SimSummary = {
    scenario: s.name,
    description: s.description,
    seed: sim.seed,
    policyName: sim.policyName,
    policy: s.policy,
    nodes: s.nodes,
    durationHours: s.durationHours,
    releases,
    mostNodesOnBadRelease: {
      nodes: sim.maxOnBad,
      share: Math.round((sim.maxOnBad / sim.N) * 10000) / 10000,
      atHours: hours(sim.maxOnBadAt),
    },
    badReleaseReach: (() => {
      let best: ReleaseOutcome | undefined
      for (const r of releases)
        if (r.quality !== 'good' && (best === undefined || r.nodesSwitched > best.nodesSwitched))
          best = r
      const n = best?.nodesSwitched ?? 0
      return {
        version: best?.version ?? null,
        nodes: n,
        share: Math.round((n / sim.N) * 10000) / 10000,
      }
    })(),
    rollbacks: sim.rollbacks,
    reinstalls: sim.reinstalls,
    versionSkew: {
      derankedMax: sim.derankedMax,
      derankedMaxAtHours: hours(sim.derankedMaxAt),
      derankedFinal: sim.lastDeranked,
      strandedFinal: sim.lastStranded,
    },
    eclipse: {
      eclipsed,
      contacted: sim.contactedCount,
      suspected: sim.suspectedCount,
      escapedNodes: sim.escapedNodes,
      escapes: sim.escapes,
      unnoticed,
      behindAtEnd: behind,
      medianHoursToSuspicion: median,
    },
    versionLiars: {
      count: s.adversaries.versionLiars.count,
      ranks: liarRanks(sim),
      falseFreezeSuspicions: sim.falseSuspicions,
    },
    falseReports: sim.falseReports,
    churn: { leaves: sim.leaves, joins: sim.joins, departures: sim.departures },
    calibration: sim.calibration,
    log: { mode: s.log.mode, lines: 0, dropped: sim.dropped, loggedNodes: sim.loggedCount },
    engine: { events: sim.q.pushed, machineSteps: sim.steps },
  }
  sim.log({
    t: sim.t(),
    type: 'end',
    events: sim.q.pushed,
    machineSteps: sim.steps,
    dropped: sim.dropped,
  })
  summary.log.lines = sim.lines.length
  return { summary, columns: sim.columns, rows: sim.rows, events: sim.lines }
}

/** Half, 99% and all of `ms` (unsorted), in hours to 4 decimals; null when empty. */
function quantileHours(ms: readonly number[]): {
  '50%': number | null
  '99%': number | null
  '100%': number | null
} {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number) =>
    s.length === 0
      ? null
      : Math.round((s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! / HOUR) * 10000) / 10000
  return { '50%': at(0.5), '99%': at(0.99), '100%': at(1) }
}
