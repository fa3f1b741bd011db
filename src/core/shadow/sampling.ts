/**
 * How a shadow run samples, and when it stops the candidate for its memory.
 *
 * A run takes {@link SHADOW_SAMPLES} samples over its window (a sample every `durationMs / 24`),
 * three times the verdict's eight per side, so the verdict has enough even after start-up
 * (samples count from readiness); never closer than {@link MIN_SAMPLE_MS}, as /proc and two
 * status reads take time, nor further apart than {@link MAX_SAMPLE_MS}, so a long window still
 * sees a short spike. The cadence is fixed from the start: a slow sample (a busy machine) does
 * not push every later one back. A candidate over max(4 x the live node's resident memory,
 * 512 MiB) is out of memory: a build may use more than the node it replaces (a fresh start, a
 * new cache), not a multiple of it, and the floor keeps a small live node from making the
 * limit too tight to start in. Pure: the caller passes the times and the readings.
 */

/** Samples a run takes over its window. */
export const SHADOW_SAMPLES = 24
/** The shortest sampling period, ms. */
export const MIN_SAMPLE_MS = 200
/** The longest sampling period, ms. */
export const MAX_SAMPLE_MS = 10_000
/** A candidate may use this many times the live node's resident memory... */
export const MEMORY_FACTOR = 4
/** ...or this much, bytes, whichever is more. */
export const MEMORY_FLOOR_BYTES: number = 512 * 1024 * 1024

/** The sampling period of a run of `durationMs`, ms. */
export function sampleMs(durationMs: number): number {
  return Math.min(MAX_SAMPLE_MS, Math.max(MIN_SAMPLE_MS, durationMs / SHADOW_SAMPLES))
}

/** The wait before the `k`-th sample (from 1) of a run that started at `startedAt`, ms. */
export function sampleWaitMs(startedAt: number, k: number, periodMs: number, now: number): number {
  return Math.max(0, startedAt + k * periodMs - now)
}

/**
 * The resident memory past which the candidate is killed, bytes; `liveRss` is the live node's,
 * undefined when it could not be read (then the floor holds).
 */
export function memoryLimitBytes(liveRss: number | undefined): number {
  return Math.max(MEMORY_FACTOR * (liveRss ?? 0), MEMORY_FLOOR_BYTES)
}
