/**
 * The bandwidth flags of `convoy node start` and `convoy run` (`--upload-rate`,
 * `--download-rate`, `--monthly-upload`), and the status line that shows the budgets.
 */
import type { BandwidthStatus } from '../adapters/libp2p/bandwidth.ts'
import { BANDWIDTH_ENV } from '../adapters/process/node-api.ts'
import { type BandwidthLimits, checkBandwidth } from '../core/net/bandwidth.ts'
import { formatSize, parseSize } from '../core/size.ts'
import { CliError } from './errors.ts'

/** The flags, by the budget each sets. */
export const BANDWIDTH_FLAGS: Readonly<Record<keyof BandwidthLimits, string>> = Object.freeze({
  uploadBytesPerSecond: 'upload-rate',
  downloadBytesPerSecond: 'download-rate',
  monthlyUploadBytes: 'monthly-upload',
})

/** The parseArgs options of the flags. */
export const BANDWIDTH_OPTIONS = {
  'upload-rate': { type: 'string' },
  'download-rate': { type: 'string' },
  'monthly-upload': { type: 'string' },
} as const

/** The usage text of the flags. */
export const BANDWIDTH_USAGE =
  '[--upload-rate 5MB/s] [--download-rate 10MB/s] [--monthly-upload 200GB]'

type FlagValues = Partial<Record<'upload-rate' | 'download-rate' | 'monthly-upload', string>>

/**
 * The budgets the flags set (undefined when none is given), checked: sizes as core/size.ts reads
 * them, rate caps at least the fetchers' floor. A bad one is a usage error naming its flag.
 */
export function bandwidthFromFlags(values: FlagValues): Partial<BandwidthLimits> | undefined {
  const out: Partial<BandwidthLimits> = {}
  for (const [field, flag] of Object.entries(BANDWIDTH_FLAGS) as Array<
    [keyof BandwidthLimits, keyof FlagValues]
  >) {
    const text = values[flag]
    if (text === undefined) continue
    const r = parseSize(text, { rate: field !== 'monthlyUploadBytes' })
    if (!r.ok) throw new CliError(`--${flag} ${r.reason}`, 2)
    out[field] = r.value
  }
  if (Object.keys(out).length === 0) return undefined
  const checked = checkBandwidth(out, (f) => `--${BANDWIDTH_FLAGS[f]}`)
  if (!checked.ok) throw new CliError(checked.reason, 2)
  return out
}

/**
 * The environment that hands `limits` to the node a supervisor starts ({@link BANDWIDTH_ENV}:
 * not flags, which a release from before budgets would refuse).
 */
export function bandwidthEnv(limits: Partial<BandwidthLimits> | undefined): Record<string, string> {
  return limits === undefined ? {} : { [BANDWIDTH_ENV]: JSON.stringify(limits) }
}

/**
 * The budgets of `node start`: {@link BANDWIDTH_ENV} (set by `convoy run`), then the flags over
 * it, budget by budget; undefined when neither sets one.
 */
export function nodeBandwidth(
  values: FlagValues,
  env: NodeJS.ProcessEnv,
): Partial<BandwidthLimits> | undefined {
  const flags = bandwidthFromFlags(values)
  const text = env[BANDWIDTH_ENV]
  if (text === undefined || text === '') return flags
  let fromEnv: unknown
  try {
    fromEnv = JSON.parse(text)
  } catch {
    throw new CliError(`${BANDWIDTH_ENV} is not JSON: unset it, or pass --upload-rate and the rest`)
  }
  const checked = checkBandwidth(fromEnv, (f) => `${BANDWIDTH_ENV} ${f}`)
  if (!checked.ok) throw new CliError(checked.reason)
  return { ...(fromEnv as Partial<BandwidthLimits>), ...flags }
}

/** One status line: the caps, the month's uploads and the quota left. */
export function bandwidthLine(b: BandwidthStatus): string {
  const rate = (n: number | null) => (n === null ? 'uncapped' : `${formatSize(n)}/s`)
  const { limits } = b
  const month =
    limits.monthlyUploadBytes === null
      ? `uploaded ${formatSize(b.uploadedBytes)} in ${b.month}, no monthly quota`
      : `uploaded ${formatSize(b.uploadedBytes)} of ${formatSize(limits.monthlyUploadBytes)} in ${b.month} (${formatSize(b.quotaLeftBytes ?? 0)} left${b.quotaRefused > 0 ? `, ${b.quotaRefused} request(s) refused` : ''})`
  const held = [
    ...(b.uploadHeldMs > 0 ? [`uploads ${(b.uploadHeldMs / 1000).toFixed(1)} s`] : []),
    ...(b.downloadHeldMs > 0 ? [`downloads ${(b.downloadHeldMs / 1000).toFixed(1)} s`] : []),
  ]
  return `bandwidth: upload ${rate(limits.uploadBytesPerSecond)}, download ${rate(limits.downloadBytesPerSecond)}; ${month}${held.length > 0 ? `; held back: ${held.join(', ')}` : ''}`
}
