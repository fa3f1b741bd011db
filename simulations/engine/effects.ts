/**
 * The supervisor and the processes, as modelled: how each effect of a node's machine is answered
 * and after what delay, and how a bad release's fault shows once it runs.
 */
import type { RolloutEffect, RolloutInput, RolloutState } from '../../src/core/rollout/machine.ts'
import type { Simulation } from '../engine.ts'
import { BANK_SIZE, P } from '../model.ts'
import { HOUR, K_LEAK_CRASH } from './events.ts'
import { report } from './evidence.ts'
import {
  FETCHED_FAIL,
  FETCHED_OK,
  HEALTH_CRASH,
  HEALTH_OOM,
  REINSTALLED_OK,
  ROLLED_BACK_FAIL,
  ROLLED_BACK_OK,
  SHADOW_SKIPPED,
  STAGED_OK,
  SWITCHED_FAIL,
  SWITCHED_OK,
} from './inputs.ts'

/** Carries out one effect of node i's machine, whose state is now `st`. */
export function effect(sim: Simulation, i: number, e: RolloutEffect, st: RolloutState): void {
  const id = sim.identity[i]!
  const now = sim.now
  switch (e.type) {
    case 'fetch': {
      const rel = sim.relOf(e.target)
      const alone = sim.w.fetchAloneMs(id, sim.region[i]!, rel.v, st.attempts)
      const k = ++rel.swarmRequests
      if (k === 1) rel.swarmFirst = now
      const swarm = rel.swarmFirst + sim.w.swarmGenerations(k) * sim.w.meanTransferMs
      const ok = sim.w.unit(id, P.fetchFail, rel.v, st.attempts) >= sim.s.failures.fetch
      sim.answer(i, ok ? FETCHED_OK : FETCHED_FAIL, Math.max(now + alone, swarm))
      break
    }
    case 'stage':
      sim.answer(i, STAGED_OK, now + sim.s.durations.stageSeconds * 1000)
      break
    case 'start-shadow': {
      const rel = sim.relOf(e.target)
      if (rel.bank === undefined) {
        sim.answer(i, SHADOW_SKIPPED, now)
        break
      }
      const spec = rel.spec
      const hit = sim.w.unit(id, P.fault, rel.v) < spec.probability
      let input: RolloutInput
      let at = now + e.durationMs
      if (hit && spec.quality === 'crash-in-shadow') {
        input = rel.crashInput
        at = now + Math.max(1000, sim.w.unit(id, P.faultTime, rel.v, st.attempts) * e.durationMs)
      } else {
        const k = Math.floor(sim.w.unit(id, P.bank, rel.v, st.attempts) * BANK_SIZE)
        input = hit && spec.quality === 'slow-leak' ? rel.leakInputs[k]! : rel.cleanInputs[k]!
      }
      sim.answer(i, input, at)
      break
    }
    case 'stop-shadow':
      if (sim.pendingInput[i]?.type === 'shadow-result') {
        sim.token[i] = 0
        sim.pendingInput[i] = undefined
      }
      break
    case 'switch': {
      const rel = sim.relOf(e.target)
      rel.stats.switches++
      if (rel.switched[id] === 0) {
        rel.switched[id] = 1
        rel.stats.nodesSwitched++
      }
      if (Number.isNaN(rel.stats.firstSwitchAt)) rel.stats.firstSwitchAt = now
      const ok = sim.w.unit(id, P.switchFail, rel.v, st.attempts) >= sim.s.failures.switch
      sim.answer(i, ok ? SWITCHED_OK : SWITCHED_FAIL, now + sim.s.durations.switchSeconds * 1000)
      break
    }
    case 'rollback': {
      sim.rollbacks++
      const rel = sim.rels[sim.verIndex.get(e.from) ?? -1]
      if (rel) rel.stats.rollbacks++
      const ok =
        sim.w.unit(id, P.rollbackFail, sim.verIndex.get(e.from) ?? 0) >= sim.s.failures.rollback
      sim.answer(
        i,
        ok ? ROLLED_BACK_OK : ROLLED_BACK_FAIL,
        now + sim.s.durations.rollbackSeconds * 1000,
      )
      break
    }
    case 'reinstall': {
      sim.reinstalls++
      const rel = st.target ? sim.relOf(st.target) : undefined
      if (rel) rel.stats.reinstalls++
      sim.answer(i, REINSTALLED_OK, now + sim.s.durations.reinstallSeconds * 1000)
      break
    }
    case 'commit': {
      const rel = sim.rels[sim.verIndex.get(e.version) ?? -1]
      if (rel) {
        rel.stats.commits++
        const spec = rel.spec
        if (spec.quality === 'slow-leak' && sim.w.unit(id, P.fault, rel.v) < spec.probability) {
          const kill = (spec.memoryLimitMiB / spec.leakMiBPerHour) * HOUR
          sim.q.push(sim.probationStart[i]! + kill, K_LEAK_CRASH, i, rel.v)
        }
      }
      break
    }
    case 'report': {
      const rel = sim.relOf(e.target)
      if (e.stage === 'probation' && e.verdict === 'fail') rel.stats.probationFailures++
      report(sim, rel, id, sim.region[i]!, e.verdict, e.stage)
      if (sim.logged[i] === 1)
        sim.log({
          t: sim.t(),
          type: 'report',
          node: st.nodeId,
          version: e.target.version,
          stage: e.stage,
          verdict: e.verdict,
          reason: e.reason,
        })
      break
    }
  }
}

/** Entering probation: model how the new version holds up under load. */
export function onProbation(sim: Simulation, i: number, st: RolloutState): void {
  sim.probationStart[i] = sim.now
  const rel = sim.relOf(st.target!)
  const spec = rel.spec
  const id = sim.identity[i]!
  if (!(sim.w.unit(id, P.fault, rel.v) < spec.probability)) return
  const probationMs = spec.policy.probationSeconds * 1000
  // Without a shadow run, a build that crashes on start crashes in production instead.
  const crashes =
    spec.quality === 'fails-in-probation' ||
    (spec.quality === 'crash-in-shadow' && rel.bank === undefined)
  if (crashes) {
    const at =
      sim.now + Math.max(1, Math.floor(sim.w.unit(id, P.faultTime, rel.v, 99) * probationMs * 0.98))
    sim.answer(i, HEALTH_CRASH, at)
  } else if (spec.quality === 'slow-leak') {
    const kill = (spec.memoryLimitMiB / spec.leakMiBPerHour) * HOUR
    if (kill < probationMs) sim.answer(i, HEALTH_OOM, sim.now + kill)
  }
}

export function onLeakCrash(sim: Simulation, i: number, v: number): void {
  const rel = sim.rels[v]!
  if (sim.verIdx[i] !== v) return
  rel.stats.leakCrashes++
  sim.leakCrashes++
  if (sim.logged[i] === 1)
    sim.log({
      t: sim.t(),
      type: 'leak-crash',
      node: sim.states[i]!.nodeId,
      version: rel.spec.version,
    })
  // The shipped watch after commit decides whether this exit is a late failure.
  if (sim.online[i] === 1 && !sim.apply(i, { type: 'exited', reason: 'out of memory' }))
    sim.scheduleWake(i, false)
}
