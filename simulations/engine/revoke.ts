/**
 * Revocations in a run: at `revokeAtHours` the maintainers revoke a release; each node hears of
 * it after the push's hops (model.ts `revokeMs`), a node offline then hears of it when it comes
 * back (its peers push every revocation they hold to a new connection), and the shipped machine
 * decides what to do with it (`step` with a `revoked` input): the same code the supervisor runs.
 */
import type { RolloutInput } from '../../src/core/rollout/machine.ts'
import type { Simulation } from '../engine.ts'
import { P } from '../model.ts'
import { K_REVOKED } from './events.ts'

/** The reason every simulated revocation carries. */
const REASON = 'revoked in the scenario'

/** The maintainers revoke release `v`: the push starts toward every node. */
export function onRevoke(sim: Simulation, v: number): void {
  const rel = sim.rels[v]!
  rel.revoked = true
  rel.stats.revokedAt = sim.now
  rel.stats.onAtRevoke = sim.verAll[v]!
  if (sim.verAll[v] === 0) rel.stats.clearedAt = sim.now
  sim.log({ t: sim.t(), type: 'revoked', version: rel.spec.version, nodesOn: sim.verAll[v] })
  for (let i = 0; i < sim.N; i++) {
    if (sim.online[i] === 0) continue
    const at = sim.now + sim.w.revokeMs(sim.identity[i]!, sim.region[i]!, v, sim.N)
    sim.q.push(at, K_REVOKED, i, v)
  }
}

/** The revocation of release `v` reaches node i (online: its machine takes it). */
export function onRevoked(sim: Simulation, i: number, v: number): void {
  if (sim.online[i] === 0) return
  const input: RolloutInput = {
    type: 'revoked',
    version: sim.rels[v]!.spec.version,
    reason: REASON,
  }
  if (!sim.apply(i, input)) sim.scheduleWake(i, false)
}

/** A node that comes online hears of every revocation made so far from its first peer. */
export function revocationsOnJoin(sim: Simulation, i: number): void {
  for (const rel of sim.rels) {
    if (rel?.revoked !== true) continue
    const lag = sim.w.latency(
      sim.region[i]!,
      sim.region[i]!,
      sim.w.unit(sim.identity[i]!, P.revokePush, rel.v, 99),
    )
    sim.q.push(sim.now + lag, K_REVOKED, i, rel.v)
  }
}

/** After a node left version `ov`: how long after the revocation, and is the release cleared. */
export function noteCleared(sim: Simulation, ov: number): void {
  const rel = sim.rels[ov]
  if (rel?.revoked !== true) return
  rel.leftAfterRevoke.push(sim.now - rel.stats.revokedAt)
  if (sim.verAll[ov] === 0 && Number.isNaN(rel.stats.clearedAt)) rel.stats.clearedAt = sim.now
}
