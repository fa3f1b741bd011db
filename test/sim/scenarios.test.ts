/**
 * The headline result of every shipped scenario, asserted on the scenario file itself. Each
 * assertion states what the shipped rollout logic and the scenario's policy imply, so a change
 * to either that changes the outcome fails here.
 */
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { describe, it } from 'node:test'
import type { SimSummary } from '../../simulations/engine.ts'
import { runScenario } from '../../simulations/run.ts'
import { parseScenario } from '../../simulations/scenario.ts'
import { loadScenario, SCENARIOS, scenarioDoc } from './helpers.ts'

const cache = new Map<string, SimSummary>()
function run(name: string, over: Record<string, unknown> = {}): SimSummary {
  const key = `${name}${JSON.stringify(over)}`
  let s = cache.get(key)
  if (s === undefined) {
    s = runScenario(loadScenario(name, over), 1).summary
    cache.set(key, s)
  }
  return s
}

describe('shipped scenarios', () => {
  it('all parse, and the benchmark ones are the sizes the benchmark claims', () => {
    const files = readdirSync(SCENARIOS).filter((f) => f.endsWith('.json'))
    for (const want of [
      'good-release',
      'bad-release',
      'probation-failure',
      'heavy-churn',
      'eclipse',
      'false-reports',
      'manual-baseline',
      'convoy-network',
      'slow-canaries',
      'revoked-release',
      'bench-100k',
      'bench-1m',
    ])
      assert.ok(files.includes(`${want}.json`), `${want}.json is shipped`)
    for (const f of files) parseScenario(scenarioDoc(f.replace(/\.json$/, '')))
    assert.equal(loadScenario('bench-100k').nodes, 100_000)
    assert.equal(loadScenario('bench-1m').nodes, 1_000_000)
  })

  it('good-release: 90% of auto-upgrading nodes within the window, no halt, nothing bad', () => {
    const s = run('good-release')
    const r = s.releases[0]!
    const windowHours = s.policy.windowSeconds / 3600
    assert.ok(
      r.autoUpgradeHours['50%']! < windowHours * 0.6,
      `50% at ${r.autoUpgradeHours['50%']} h`,
    )
    assert.ok(
      r.autoUpgradeHours['90%']! <= windowHours + 1,
      `90% at ${r.autoUpgradeHours['90%']} h`,
    )
    assert.equal(r.haltedRegions, 0)
    assert.equal(s.mostNodesOnBadRelease.nodes, 0)
    // Canaries go first: the first switch comes right after the first shadow run, long before
    // the median node's slot.
    assert.ok(r.firstSwitchAtHours! < 0.5)
  })

  it('bad-release: caught before it reaches more than the canary share; the fix rolls out', () => {
    const s = run('bad-release')
    const [bad, fix] = s.releases
    const canaries = s.policy.canaryFraction * s.nodes
    assert.ok(
      bad!.nodesSwitched <= canaries,
      `${bad!.nodesSwitched} nodes ran it, canary share is ${canaries}`,
    )
    assert.ok(s.mostNodesOnBadRelease.nodes <= canaries)
    assert.ok(bad!.haltedRegions > 0 && bad!.firstHaltAtHours! < 1, 'halted within the hour')
    assert.ok(bad!.reporters.failing >= s.policy.haltMinFailures)
    assert.ok(fix!.autoUpgradeHours['90%'] !== null, 'the fix reaches 90% of auto nodes')
    // Halted releases do not count toward the distance: once the fix is out, a node still on
    // 1.0.0 is one release behind, not two, and nobody is deranked for having stayed off 1.1.0.
    // (Counting it, 2,650 of 3,000 nodes were deranked at the peak.)
    assert.equal(s.versionSkew.derankedMax, 0)
  })

  it('probation-failure: the canaries catch it on probation and halt it within the canary share', () => {
    const s = run('probation-failure')
    const r = s.releases[0]!
    const p = s.policy
    // Every node shadow-runs at once and passes; only nodes that switched can see the fault.
    // Their failures are weighed against the other probation results, not against every
    // shadow pass, so they halt the release before it gets past the canaries.
    assert.ok(r.nodesSwitched > 0, 'the canaries tried it')
    assert.ok(
      r.nodesSwitched <= p.canaryFraction * s.nodes,
      `${r.nodesSwitched} nodes ran it; the canary share is ${p.canaryFraction * s.nodes}`,
    )
    assert.ok(r.haltedRegions > 0, 'halted')
    assert.ok(r.nodesHalted + r.nodesMarkedBad >= 0.95 * s.nodes, `${r.nodesHalted} halted`)
    assert.equal(r.commits, 0, 'no node committed it')
    assert.equal(r.rollbacks, r.nodesSwitched, 'every node that ran it rolled back')
    assert.equal(r.finalShare, 0)
  })

  it('heavy-churn: still converges; a restart during probation redoes the switch, not a rollback', () => {
    const s = run('heavy-churn')
    const r = s.releases[0]!
    assert.ok(r.finalShare >= 0.95, `final share ${r.finalShare}`)
    assert.ok(r.autoUpgradeHours['90%'] !== null && r.autoUpgradeHours['90%']! < 36)
    assert.ok(s.churn.leaves > s.nodes * 10, 'heavy churn indeed')
    assert.ok(s.churn.departures > 0)
    assert.ok(r.switches > r.nodesSwitched, 'some switches were redone after a restart')
    assert.ok(r.rollbacks < s.nodes * 0.01, `${r.rollbacks} rollbacks of a good release`)
    assert.equal(r.haltedRegions, 0)
  })

  it('eclipse: eclipsed nodes are counted, detected, and the liars derank only themselves', () => {
    const s = run('eclipse')
    const e = s.eclipse
    assert.ok(e.eclipsed > 0.01 * s.nodes && e.eclipsed < 0.03 * s.nodes, `${e.eclipsed} eclipsed`)
    assert.ok(e.suspected >= 0.9 * e.eclipsed, `${e.suspected} of ${e.eclipsed} suspected`)
    assert.ok(e.escapedNodes > 0 && e.escapedNodes < e.eclipsed)
    assert.ok(e.medianHoursToSuspicion! < 24)
    // Only eclipsed nodes fall behind, so only they are deranked.
    assert.ok(s.versionSkew.derankedFinal > 0)
    assert.ok(s.versionSkew.derankedFinal <= e.behindAtEnd)
    // rankPeer on each lie: an unsigned newer version is unverified, unsigned or over-claimed
    // capabilities are suspicious, an old signed version is deranked.
    assert.deepEqual(s.versionLiars.ranks, {
      normal: 0,
      unverified: 10,
      suspicious: 20,
      deranked: 10,
    })
    assert.ok(
      s.versionLiars.falseFreezeSuspicions > 0,
      'a claimed higher sequence alarms honest nodes',
    )
    const noLiars = run('eclipse', {
      adversaries: {
        ...(scenarioDoc('eclipse').adversaries as object),
        versionLiars: { count: 0 },
      },
    })
    assert.equal(noLiars.versionSkew.derankedMax, s.versionSkew.derankedMax)
    assert.equal(noLiars.versionSkew.derankedFinal, s.versionSkew.derankedFinal)
  })

  it('false-reports: 1,000 Sybils made after the release count for nothing; it goes through', () => {
    const s = run('false-reports')
    const r = s.releases[0]!
    assert.equal(s.falseReports, 1000)
    assert.equal(r.notCounted?.newcomer, 1000, 'admission left every Sybil report out')
    assert.equal(r.haltedRegions, 0)
    assert.ok(r.autoUpgradeHours['99%'] !== null, 'all the way to 99%')
  })

  it('false-reports: Sybils made after a release that fails live cannot lift its halt', () => {
    const s = run('false-reports', {
      releases: [{ version: '1.1.0', atHours: 1, quality: 'fails-in-probation', probability: 1 }],
      adversaries: { falseReporters: { count: 1000, delayMinutes: 30, verdict: 'pass' } },
    })
    const r = s.releases[0]!
    assert.equal(r.notCounted?.newcomer, 1000)
    assert.ok(r.haltedRegions > 0, 'halted')
    assert.ok(r.nodesSwitched <= s.policy.canaryFraction * s.nodes, `${r.nodesSwitched} ran it`)
    assert.equal(r.finalShare, 0)
  })

  it('false-reports: 10% of established reporters lying cannot halt a good release', () => {
    for (const stage of ['shadow', 'probation'] as const) {
      const s = run('false-reports', {
        adversaries: {
          falseReporters: { count: 300, delayMinutes: 0, established: true, stage },
        },
      })
      const r = s.releases[0]!
      assert.equal(r.haltedRegions, 0, `${stage} lies halted it`)
      assert.ok(r.autoUpgradeHours['90%'] !== null, `${stage} lies: 90% reached`)
    }
  })

  it('false-reports: established liars past a quarter of the network halt it (the bound left)', () => {
    const s = run('false-reports', {
      adversaries: {
        falseReporters: { count: 1200, delayMinutes: 0, established: true, stage: 'shadow' },
      },
    })
    assert.ok(s.releases[0]!.haltedRegions > 0)
  })

  it('slow-canaries: switch and probation longer than the window; a live fault stays with the canaries', () => {
    const s = run('slow-canaries')
    const r = s.releases[0]!
    const p = s.policy
    assert.ok(p.probationSeconds > p.windowSeconds, 'probation outlasts the window')
    assert.ok(r.nodesSwitched > 0, 'the canaries tried it')
    assert.ok(
      r.nodesSwitched <= p.canaryFraction * s.nodes,
      `blast radius ${r.nodesSwitched} nodes; the canary share is ${p.canaryFraction * s.nodes}`,
    )
    assert.ok(r.haltedRegions > 0)
    assert.equal(r.finalShare, 0)
  })

  it('slow-canaries: a good release still reaches 99% within the window plus two waves', () => {
    const s = run('slow-canaries', {
      releases: [{ version: '1.1.0', atHours: 1, quality: 'good' }],
    })
    const r = s.releases[0]!
    const p = s.policy
    // Shadow run, the canaries' switch and probation (the wave's start), then the window, each
    // non-canary's own switch and probation; an hour of slack for gossip and heartbeats.
    const boundHours =
      (p.shadowSeconds + 2 * (5400 + p.probationSeconds) + p.windowSeconds) / 3600 + 1
    assert.ok(r.autoUpgradeHours['99%'] !== null, 'reached 99%')
    assert.ok(r.autoUpgradeHours['99%']! <= boundHours, `99% at ${r.autoUpgradeHours['99%']} h`)
    assert.equal(r.haltedRegions, 0)
  })

  it('revoked-release: every node with an older release leaves it, online ones within seconds; none starts it again', () => {
    const s = run('revoked-release', { nodes: 10_000 })
    const r = s.releases[0]!
    const rv = r.revocation!
    assert.ok(rv.nodesOn > 0.8 * s.nodes, `${rv.nodesOn} nodes ran it when it was revoked`)
    // Half of them (the ones online) within a few seconds of the push.
    assert.ok(rv.leftAfterHours['50%']! < 10 / 3600, `50% left after ${rv.leftAfterHours['50%']} h`)
    // The rest as they come back online; only nodes first installed on it have nowhere to go.
    assert.ok(rv.stranded < 0.03 * s.nodes, `${rv.stranded} stranded`)
    assert.ok(rv.nodesLeft + rv.stranded >= rv.nodesOn)
    assert.ok(r.nodesMarkedBad > 0.95 * s.nodes, `${r.nodesMarkedBad} nodes skip it`)
    assert.ok(r.finalShare <= rv.stranded / s.nodes + 0.001, `final share ${r.finalShare}`)
  })

  it('manual-baseline: reproduces the published Ethereum readiness figures within tolerance', () => {
    const s = run('manual-baseline')
    assert.equal(s.calibration.length, 4)
    for (const c of s.calibration)
      assert.ok(
        c.ok,
        `${c.label}: simulated ${c.measured}, published ${c.expected} +- ${c.tolerance}`,
      )
    const tail = 1 - s.releases[0]!.finalShare
    assert.ok(tail >= 0.1 && tail <= 0.15, `never-upgrading tail ${tail}`)
  })

  it('convoy-network: the same network under convoy is ahead at every checkpoint', () => {
    const base = run('manual-baseline')
    const convoy = run('convoy-network')
    assert.equal(convoy.calibration.length, base.calibration.length)
    convoy.calibration.forEach((c, k) => {
      assert.equal(c.ok, null, 'a plain measurement')
      assert.ok(c.measured > base.calibration[k]!.measured + 0.05, `${c.label}: ${c.measured}`)
    })
    assert.ok(convoy.releases[0]!.autoUpgradeHours['90%']! < 26)
  })
})
