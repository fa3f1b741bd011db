/** The fixed inputs the driver sends to a node's machine. */
import type { RolloutInput } from '../../src/core/rollout/machine.ts'

// Inputs the driver sends; the machine never mutates its inputs, so they are shared.
export const TICK: RolloutInput = { type: 'tick' }
export const RESUME: RolloutInput = { type: 'resume' }
export const FETCHED_OK: RolloutInput = { type: 'fetched', ok: true }
export const FETCHED_FAIL: RolloutInput = {
  type: 'fetched',
  ok: false,
  reason: 'no provider answered',
}
export const STAGED_OK: RolloutInput = { type: 'staged', ok: true }
export const SWITCHED_OK: RolloutInput = { type: 'switched', ok: true }
export const SWITCHED_FAIL: RolloutInput = {
  type: 'switched',
  ok: false,
  reason: 'new version did not start',
}
export const ROLLED_BACK_OK: RolloutInput = { type: 'rolled-back', ok: true }
export const ROLLED_BACK_FAIL: RolloutInput = {
  type: 'rolled-back',
  ok: false,
  reason: 'previous version would not start',
}
export const REINSTALLED_OK: RolloutInput = { type: 'reinstalled', ok: true }
export const HEALTH_CRASH: RolloutInput = {
  type: 'health',
  ok: false,
  reason: 'crashed under load',
}
export const HEALTH_OOM: RolloutInput = {
  type: 'health',
  ok: false,
  reason: 'killed for passing its memory limit',
}
export const SHADOW_SKIPPED: RolloutInput = {
  type: 'shadow-result',
  verdict: 'pass',
  reason: 'no shadow run in this scenario',
}
