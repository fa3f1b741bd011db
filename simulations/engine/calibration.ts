/**
 * Calibration points: at a scenario's chosen times, the share of online nodes on a release, and
 * whether it matches the published figure it is checked against.
 */
import type { Simulation } from '../engine.ts'

export function onCalibrate(sim: Simulation, k: number): void {
  const c = sim.s.calibration[k]!
  const v = sim.verIndex.get(c.release)!
  const measured = sim.onlineCount === 0 ? 0 : sim.atLeastAll[v]! / sim.onlineCount
  const rounded = Math.round(measured * 10000) / 10000
  const ok = c.share === undefined ? null : Math.abs(measured - c.share) <= c.tolerance
  const entry = {
    label: c.label,
    release: c.release,
    afterDays: c.afterDays,
    expected: c.share ?? null,
    measured: rounded,
    tolerance: c.share === undefined ? null : c.tolerance,
    ok,
  }
  sim.calibration.push(entry)
  sim.log({ t: sim.t(), type: 'calibration', ...entry })
}
