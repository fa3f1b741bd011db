/**
 * The pace a transfer must keep, one rule for both ends of the artifact protocol:
 *
 * - a requester drops a provider that delivers too slowly (artifact-transfer.ts), and
 * - a server gives up an upload whose requester takes the bytes too slowly (artifact-upload.ts),
 *   so that a reader that takes 128 KiB just under every stall timeout cannot keep an upload
 *   slot for ever, and four such readers cannot make a seeder answer "busy" to everyone.
 *
 * The rule: after a grace of `graceMs`, the bytes moved over every sliding window of `windowMs`
 * must come to at least `minBytesPerSecond`. It implies a time cap relative to the length (a
 * transfer of `n` bytes that keeps the floor ends within `graceMs + windowMs + n / floor`);
 * {@link paceTimeCapMs} states the cap on its own, and the server holds uploads to it too.
 *
 * Time is the caller's running clock in ms from the transfer's start; pure.
 */

export interface PaceLimits {
  /** The floor, bytes per second. */
  minBytesPerSecond: number
  /** Time at the start before the rate is judged, ms. */
  graceMs: number
  /** Width of the window the rate is measured over, ms. */
  windowMs: number
}

/**
 * The server's floor for an upload: gentler than the requester's own (which drops a provider
 * under 256 KiB/s over 3 s), so that a requester on a slow link is cut by its own rule first,
 * and only a reader that holds a slot far below any useful rate is cut by the server.
 * @default 64 KiB/s over 10 s windows after 5 s
 */
export const DEFAULT_UPLOAD_PACE: PaceLimits = {
  minBytesPerSecond: 64 * 1024,
  graceMs: 5000,
  windowMs: 10_000,
}

/** The longest a transfer of `bytes` may take at the floor: grace, one window, then the bytes. */
export function paceTimeCapMs(bytes: number, limits: PaceLimits): number {
  return limits.graceMs + limits.windowMs + (Math.max(0, bytes) * 1000) / limits.minBytesPerSecond
}

/** Why a transfer fell below its pace; undefined while it keeps it. */
export type PaceVerdict = undefined | { kind: 'slow' | 'over-time'; detail: string }

/** The samples of one transfer and the judgement on them. */
export class Pace {
  private readonly limits: PaceLimits
  private readonly capMs: number
  private readonly samples: Array<{ at: number; bytes: number }> = [{ at: 0, bytes: 0 }]

  /** `total`: the bytes this transfer is to move, for the time cap. */
  constructor(limits: PaceLimits, total: number) {
    this.limits = limits
    this.capMs = paceTimeCapMs(total, limits)
  }

  /**
   * Records that `bytes` had moved in all by `now` (ms since the start) and judges the
   * transfer. Samples older than one window are dropped, so memory stays bounded.
   */
  sample(now: number, bytes: number): PaceVerdict {
    const { minBytesPerSecond, graceMs, windowMs } = this.limits
    this.samples.push({ at: now, bytes })
    while (this.samples.length > 2 && this.samples[1]!.at <= now - windowMs) this.samples.shift()
    if (now > this.capMs) {
      return {
        kind: 'over-time',
        detail: `${bytes} bytes in ${now} ms, past the cap of ${Math.round(this.capMs)} ms for its length at ${minBytesPerSecond} B/s`,
      }
    }
    if (now < graceMs + windowMs) return undefined
    const base = this.samples[0]!
    const rate = ((bytes - base.bytes) * 1000) / Math.max(1, now - base.at)
    if (rate >= minBytesPerSecond) return undefined
    return {
      kind: 'slow',
      detail: `${Math.round(rate)} B/s over ${now - base.at} ms, below ${minBytesPerSecond}`,
    }
  }
}

/**
 * A running clock for judging a peer: advances with the wall clock, but a late tick (the event
 * loop held up by a loaded machine) counts as two ticks at most, so a peer is never blamed for
 * time in which this node could not move its bytes. `wall` is the caller's clock reading.
 */
export class RunningClock {
  private readonly tickMs: number
  private last: number
  /** Running time since the start, ms. */
  now = 0

  constructor(tickMs: number, wall: number) {
    this.tickMs = tickMs
    this.last = wall
  }

  advance(wall: number): number {
    this.now += Math.min(Math.max(0, wall - this.last), 2 * this.tickMs)
    this.last = wall
    return this.now
  }
}
