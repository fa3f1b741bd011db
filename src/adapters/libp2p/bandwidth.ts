/**
 * A node's bandwidth budgets carried out (core/net/bandwidth.ts decides): one upload bucket and
 * one download bucket shared by every transfer, and the month's upload count, kept in the data
 * dir (`bandwidth.json`) so a restart does not hand a node a fresh quota.
 *
 * The artifact service holds a {@link BandwidthGate}: before it sends a chunk it takes the
 * chunk's bytes and waits the ms it is told; before it accepts a request it asks whether the
 * month has room (else it answers busy, reason "quota"); and it offers the upload slots
 * {@link BandwidthGate.uploadSlots} says, so each upload under a cap keeps the fetchers' floor.
 */

import { open } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type BandwidthLimits,
  burstFor,
  checkBandwidth,
  decodeQuotaState,
  FETCH_FLOOR_BYTES_PER_SECOND,
  MAX_BANDWIDTH_STATE_BYTES,
  MonthlyQuota,
  monthOf,
  TokenBucket,
  uploadSlotsUnderCap,
} from '../../core/net/bandwidth.ts'
import { DebouncedFile } from '../fs/debounced-file.ts'
import type { BandwidthGate as ArtifactBandwidth } from './artifact-types.ts'
import { type ConvoyNodeInit, roleOf } from './node-init.ts'

export type { BandwidthLimits }

/** The file in the data dir that holds the month's upload count. */
export const BANDWIDTH_FILE = 'bandwidth.json'

/** Longest the month's count stays unwritten while uploading, ms. */
export const BANDWIDTH_FLUSH_MS = 5000

/** What the artifact service asks of the node's budgets (artifact-types.ts), and its status. */
export interface BandwidthGate extends ArtifactBandwidth {
  status(now: number): BandwidthStatus
}

/** The budgets and their use, as `GET /status` shows them (`null`: no limit). */
export interface BandwidthStatus {
  limits: {
    uploadBytesPerSecond: number | null
    downloadBytesPerSecond: number | null
    monthlyUploadBytes: number | null
  }
  /** The UTC month counted, `YYYY-MM`. */
  month: string
  /** Bytes uploaded this month (counted when taken, before they go out). */
  uploadedBytes: number
  /** Bytes the quota has left this month; `null` without a quota. */
  quotaLeftBytes: number | null
  /** ms uploads were held back by the upload cap, summed over every take since start. */
  uploadHeldMs: number
  /** ms downloads were held back by the download cap, summed since start. */
  downloadHeldMs: number
  /** Upload requests the quota had no room for, since start. */
  quotaRefused: number
}

const orNull = (n: number): number | null => (Number.isFinite(n) ? n : null)

/** A node's budgets and the month's count; {@link open} it, {@link close} it on stop. */
export class Bandwidth implements BandwidthGate {
  readonly limits: BandwidthLimits
  private readonly file: DebouncedFile | undefined
  private readonly quota: MonthlyQuota
  private readonly up: TokenBucket | undefined
  private readonly down: TokenBucket | undefined
  private uploadHeldMs = 0
  private downloadHeldMs = 0
  private quotaRefused = 0

  private constructor(
    limits: BandwidthLimits,
    file: string | undefined,
    quota: MonthlyQuota,
    now: number,
    log: (line: string) => void,
  ) {
    this.limits = limits
    this.quota = quota
    this.file =
      file === undefined
        ? undefined
        : new DebouncedFile(
            file,
            BANDWIDTH_FLUSH_MS,
            () => {
              const { month, usedBytes } = this.quota.state
              return `${JSON.stringify({ month, usedBytes: Math.round(usedBytes) })}\n`
            },
            (line) => log(`bandwidth: ${line}`),
          )
    const bucket = (rate: number) =>
      Number.isFinite(rate) ? new TokenBucket(rate, burstFor(rate), now) : undefined
    this.up = bucket(limits.uploadBytesPerSecond)
    this.down = bucket(limits.downloadBytesPerSecond)
  }

  /**
   * Opens the budgets `limits` (each above 0, `Infinity` for none; the CLI holds caps to the
   * fetchers' floor, core checkBandwidth) with the month's count from `stateFile`. An absent or
   * unreadable file starts the month at 0 and says so in the log; it never fails the start.
   * Without `stateFile` the count lives in memory only (a shadow, a publisher).
   */
  static async open(
    limits: BandwidthLimits,
    stateFile: string | undefined,
    now: number,
    log: (line: string) => void = () => {},
  ): Promise<Bandwidth> {
    const checked = checkBandwidth(limits, (f) => `bandwidth ${f}`, 0)
    if (!checked.ok) throw new TypeError(checked.reason)
    let state = { month: monthOf(now), usedBytes: 0 }
    if (stateFile !== undefined) {
      const read = await readState(stateFile)
      if (read.ok) state = read.value
      else log(`bandwidth: ${read.reason}: this month's uploads count from 0`)
    }
    const quota = new MonthlyQuota(checked.value.monthlyUploadBytes, state)
    quota.roll(now)
    return new Bandwidth(checked.value, stateFile, quota, now, log)
  }

  takeUpload(bytes: number, now: number): number {
    this.quota.use(bytes, now)
    this.file?.changed()
    const wait = this.up?.take(bytes, now) ?? 0
    this.uploadHeldMs += wait
    return wait
  }

  takeDownload(bytes: number, now: number): number {
    const wait = this.down?.take(bytes, now) ?? 0
    this.downloadHeldMs += wait
    return wait
  }

  uploadAllowed(bytes: number, now: number): boolean {
    const allowed = this.quota.allows(bytes, now)
    if (!allowed) this.quotaRefused++
    return allowed
  }

  uploadSlots(configured: number, floorBytesPerSecond: number): number {
    return uploadSlotsUnderCap(configured, this.limits.uploadBytesPerSecond, floorBytesPerSecond)
  }

  status(now: number): BandwidthStatus {
    this.quota.roll(now)
    const { month, usedBytes } = this.quota.state
    return {
      limits: {
        uploadBytesPerSecond: orNull(this.limits.uploadBytesPerSecond),
        downloadBytesPerSecond: orNull(this.limits.downloadBytesPerSecond),
        monthlyUploadBytes: orNull(this.limits.monthlyUploadBytes),
      },
      month,
      uploadedBytes: usedBytes,
      quotaLeftBytes: orNull(this.quota.left),
      uploadHeldMs: this.uploadHeldMs,
      downloadHeldMs: this.downloadHeldMs,
      quotaRefused: this.quotaRefused,
    }
  }

  /**
   * Writes the month's count to the state file (atomically) if it changed since the last write.
   * Never rejects: a failed write is logged and tried again at the next flush.
   */
  flush(): Promise<void> {
    return this.file?.flush() ?? Promise.resolve()
  }

  /** Stops the flush timer and writes the count a last time (on node stop). */
  async close(): Promise<void> {
    await this.file?.close()
  }
}

/** The month's count from `file`, or why there is none to read. */
async function readState(
  file: string,
): Promise<ReturnType<typeof decodeQuotaState> | { ok: false; reason: string }> {
  let fh: Awaited<ReturnType<typeof open>>
  try {
    fh = await open(file, 'r')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return {
      ok: false,
      reason: code === 'ENOENT' ? `no ${file} yet` : `cannot read ${file} (${code})`,
    }
  }
  try {
    const { size } = await fh.stat()
    if (size > MAX_BANDWIDTH_STATE_BYTES)
      return { ok: false, reason: `${file} is corrupt (${size} bytes, more than a count)` }
    const text = (await fh.readFile('utf8')).toString()
    const d = decodeQuotaState(text)
    return d.ok ? d : { ok: false, reason: `${file} is corrupt (${d.reason})` }
  } catch (e) {
    return { ok: false, reason: `cannot read ${file} (${(e as Error).message})` }
  } finally {
    await fh.close()
  }
}

/**
 * The budgets of `init`, checked against the floor its own fetches hold providers to, with the
 * month's count in the data dir (a node only: a shadow's dir is a scratch copy, a publisher's
 * is temporary).
 */
export async function openBandwidth(
  init: Pick<ConvoyNodeInit, 'bandwidth' | 'artifactOptions' | 'role' | 'log'>,
  dataDir: string,
  now: number,
): Promise<Bandwidth> {
  const floor = init.artifactOptions?.minBytesPerSecond ?? FETCH_FLOOR_BYTES_PER_SECOND
  const checked = checkBandwidth({ ...(init.bandwidth ?? {}) }, (f) => `bandwidth.${f}`, floor)
  if (!checked.ok) throw new TypeError(checked.reason)
  const file = roleOf(init) === 'node' ? join(dataDir, BANDWIDTH_FILE) : undefined
  return Bandwidth.open(checked.value, file, now, (line) => init.log?.(line))
}
