/**
 * Bandwidth budgets a node runner sets (issue 15): an upload rate cap, a download rate cap and a
 * monthly upload quota, as Windows Delivery Optimization offers them.
 *
 * - {@link TokenBucket} paces bytes under a rate: a caller debits what it is about to send and
 *   waits the time it is told, so that over any stretch the bytes sent stay within one burst plus
 *   the rate times the time.
 * - {@link MonthlyQuota} counts bytes uploaded in the current UTC month and says whether more fit.
 * - {@link uploadSlotsUnderCap}: a capped node offers fewer upload slots, so that each upload it
 *   serves still keeps the pace fetchers hold providers to, instead of every fetcher dropping it.
 *
 * Pure: the caller passes the time (ms since the epoch).
 */

import { fail, ok, type Result } from '../result.ts'
import { formatSize } from '../size.ts'

/** A node's bandwidth budgets; `Infinity` is uncapped. */
export interface BandwidthLimits {
  /** Upload rate cap over all uploads, bytes per second. */
  uploadBytesPerSecond: number
  /** Download rate cap over all downloads, bytes per second. */
  downloadBytesPerSecond: number
  /** Bytes this node uploads in one UTC calendar month at most. */
  monthlyUploadBytes: number
}

/** No budgets: everything uncapped. */
export const DEFAULT_BANDWIDTH: Readonly<BandwidthLimits> = Object.freeze({
  uploadBytesPerSecond: Number.POSITIVE_INFINITY,
  downloadBytesPerSecond: Number.POSITIVE_INFINITY,
  monthlyUploadBytes: Number.POSITIVE_INFINITY,
})

/**
 * The rate a fetcher requires of a provider, bytes per second: a requester drops a provider that
 * delivers less over its rate window (the artifact service's `minBytesPerSecond` default).
 * @default 256 KiB/s
 */
export const FETCH_FLOOR_BYTES_PER_SECOND: number = 256 * 1024

/** A rate cap's burst: one second of its rate. */
export const BURST_SECONDS = 1

/** The burst of a bucket for a cap of `bytesPerSecond` ({@link BURST_SECONDS} of it). */
export function burstFor(bytesPerSecond: number): number {
  return Number.isFinite(bytesPerSecond) ? bytesPerSecond * BURST_SECONDS : 0
}

/**
 * A token bucket that may go into debt: {@link take} debits at once and returns how long to
 * wait before the bytes go out. Starts full.
 */
export class TokenBucket {
  readonly bytesPerSecond: number
  readonly burstBytes: number
  private tokens: number
  private at: number

  constructor(bytesPerSecond: number, burstBytes: number, now: number) {
    if (!(bytesPerSecond > 0))
      throw new TypeError(`a token bucket needs a rate above 0, got ${bytesPerSecond}`)
    if (!(burstBytes >= 0) || !Number.isFinite(burstBytes))
      throw new TypeError(`a token bucket needs a finite burst of 0 or more, got ${burstBytes}`)
    this.bytesPerSecond = bytesPerSecond
    this.burstBytes = burstBytes
    this.tokens = burstBytes
    this.at = now
  }

  /**
   * Debits `bytes` at `now` and returns the ms to wait before sending them: 0 within the burst,
   * else the time the debt takes to pay off at the rate. A clock that steps back adds nothing.
   */
  take(bytes: number, now: number): number {
    if (this.bytesPerSecond === Number.POSITIVE_INFINITY) return 0
    const elapsed = Math.max(0, now - this.at)
    this.at = Math.max(this.at, now)
    this.tokens = Math.min(this.burstBytes, this.tokens + (elapsed * this.bytesPerSecond) / 1000)
    this.tokens -= Math.max(0, bytes)
    if (this.tokens >= 0) return 0
    return Math.ceil((-this.tokens * 1000) / this.bytesPerSecond)
  }
}

/** The UTC month of `nowMs`, `YYYY-MM`. */
export function monthOf(nowMs: number): string {
  const d = new Date(nowMs)
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`
}

/** What a {@link MonthlyQuota} remembers: the month and the bytes uploaded in it. */
export interface QuotaState {
  month: string
  usedBytes: number
}

/** Bytes uploaded this UTC month against a limit; a new month starts at 0. */
export class MonthlyQuota {
  readonly limitBytes: number
  private current: QuotaState

  constructor(limitBytes: number, state: QuotaState) {
    this.limitBytes = limitBytes
    this.current = { month: state.month, usedBytes: Math.max(0, state.usedBytes) }
  }

  /** Moves to the month of `now` when it is a new one (bytes back to 0). */
  roll(now: number): void {
    const month = monthOf(now)
    if (month !== this.current.month) this.current = { month, usedBytes: 0 }
  }

  /** Whether `bytes` more fit in the month of `now`. */
  allows(bytes: number, now: number): boolean {
    this.roll(now)
    return this.current.usedBytes + Math.max(0, bytes) <= this.limitBytes
  }

  /** Counts `bytes` uploaded at `now`. */
  use(bytes: number, now: number): void {
    this.roll(now)
    this.current = {
      month: this.current.month,
      usedBytes: this.current.usedBytes + Math.max(0, bytes),
    }
  }

  /** Bytes left this month (as of the last call), `Infinity` without a limit. */
  get left(): number {
    return Math.max(0, this.limitBytes - this.current.usedBytes)
  }

  get state(): QuotaState {
    return { ...this.current }
  }
}

/**
 * Upload slots a node capped at `capBytesPerSecond` offers so that each upload still gets the
 * `floorBytesPerSecond` fetchers require: the cap split by the floor, at most `maxUploads`, at
 * least 1. Uncapped: `maxUploads`.
 */
export function uploadSlotsUnderCap(
  maxUploads: number,
  capBytesPerSecond: number,
  floorBytesPerSecond: number,
): number {
  const max = Math.max(1, Math.floor(maxUploads))
  if (!Number.isFinite(capBytesPerSecond) || !(floorBytesPerSecond > 0)) return max
  return Math.max(1, Math.min(max, Math.floor(capBytesPerSecond / floorBytesPerSecond)))
}

const FIELDS = ['uploadBytesPerSecond', 'downloadBytesPerSecond', 'monthlyUploadBytes'] as const

/** The name a field is shown by in a refusal (a CLI passes its flags). */
export type FieldLabel = (field: keyof BandwidthLimits) => string

/**
 * Checks bandwidth budgets: an object with any of the three fields, each a number above 0
 * (`Infinity` for uncapped); a field left out is uncapped. A rate cap under
 * {@link FETCH_FLOOR_BYTES_PER_SECOND} is refused: fetchers would drop this node (or this node
 * every provider) as slow. Refusals name the field as `label` shows it.
 */
export function checkBandwidth(
  x: unknown,
  label: FieldLabel = (f) => f,
  floorBytesPerSecond: number = FETCH_FLOOR_BYTES_PER_SECOND,
): Result<BandwidthLimits> {
  if (typeof x !== 'object' || x === null || Array.isArray(x))
    return fail('wrong-type', 'bandwidth must be an object')
  for (const k of Object.keys(x))
    if (!(FIELDS as readonly string[]).includes(k))
      return fail(
        'malformed',
        `bandwidth: unknown member "${k.slice(0, 40)}": use ${FIELDS.join(', ')}`,
      )
  const out = { ...DEFAULT_BANDWIDTH }
  const floor = formatSize(floorBytesPerSecond)
  for (const f of FIELDS) {
    const v = (x as Record<string, unknown>)[f]
    if (v === undefined) continue
    if (typeof v !== 'number' || Number.isNaN(v))
      return fail('wrong-type', `${label(f)} must be a number of bytes, got ${typeof v}`)
    if (!(v > 0))
      return fail('malformed', `${label(f)} must be above 0, got ${v}: leave it out for no limit`)
    if (f === 'uploadBytesPerSecond' && v < floorBytesPerSecond)
      return fail(
        'malformed',
        `${label(f)} of ${formatSize(v)}/s is below the ${floor}/s fetchers require of a provider: peers would drop this node as slow. Set at least ${floor}/s, or leave it out for no cap`,
      )
    if (f === 'downloadBytesPerSecond' && v < floorBytesPerSecond)
      return fail(
        'malformed',
        `${label(f)} of ${formatSize(v)}/s is below the ${floor}/s this node requires of a provider: it would drop every peer as slow. Set at least ${floor}/s, or leave it out for no cap`,
      )
    out[f] = v
  }
  return ok(out)
}

/** Largest bandwidth state file read, bytes. */
export const MAX_BANDWIDTH_STATE_BYTES = 4096

const MONTH_RE = /^\d{4}-(0[1-9]|1[0-2])$/

/**
 * Decodes the bandwidth state a node keeps (`{"month": "YYYY-MM", "usedBytes": N}`, from the
 * data dir); never throws.
 */
export function decodeQuotaState(text: string): Result<QuotaState> {
  if (text.length > MAX_BANDWIDTH_STATE_BYTES)
    return fail('too-large', `bandwidth state is over ${MAX_BANDWIDTH_STATE_BYTES} bytes`)
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return fail('malformed', 'bandwidth state is not JSON')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return fail('wrong-type', 'bandwidth state must be an object')
  const { month, usedBytes } = v as Record<string, unknown>
  if (typeof month !== 'string' || !MONTH_RE.test(month))
    return fail('malformed', 'bandwidth state: month must be "YYYY-MM"')
  if (typeof usedBytes !== 'number' || !Number.isSafeInteger(usedBytes) || usedBytes < 0)
    return fail('malformed', 'bandwidth state: usedBytes must be an integer of 0 or more')
  return ok({ month, usedBytes })
}
