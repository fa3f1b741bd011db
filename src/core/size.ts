/**
 * Sizes as people write them: `5MB`, `512KiB`, `1.5MiB`, `200GB`, or a plain integer of bytes,
 * and rates as the same with `/s` after (`5MB/s`). SI units are powers of 1000, binary units
 * (KiB, MiB, ...) powers of 1024. Pure; untrusted text never throws.
 */
import { fail, ok, type Result } from './result.ts'

const UNITS: Readonly<Record<string, number>> = Object.freeze({
  B: 1,
  kB: 1e3,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
})

/** The units {@link parseSize} takes, for messages and tests. */
export const SIZE_UNITS: readonly string[] = Object.freeze(Object.keys(UNITS))

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+)?$/

/**
 * Parses a size into whole bytes (rounded down). `rate`: a trailing `/s` is allowed. A number
 * without a unit must be an integer; anything else is refused with the reason.
 */
export function parseSize(text: string, options: { rate?: boolean } = {}): Result<number> {
  const what = options.rate === true ? 'a rate' : 'a size'
  const example = options.rate === true ? '5MB/s, 512KiB/s or 1048576' : '200GB, 512MiB or 1048576'
  const refuse = () =>
    fail(
      'malformed',
      `"${text.slice(0, 40)}" is not ${what}: use an integer of bytes or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, like ${example}`,
    )
  let t = text.trim()
  if (options.rate === true && t.endsWith('/s')) t = t.slice(0, -2).trimEnd()
  if (t.length > 32) return refuse()
  const m = SIZE_RE.exec(t)
  if (m === null) return refuse()
  const unit = m[2]
  if (unit === undefined && m[1]!.includes('.')) return refuse()
  const mult = unit === undefined ? 1 : UNITS[unit]
  if (mult === undefined) return refuse()
  const bytes = Math.floor(Number(m[1]) * mult)
  if (!Number.isSafeInteger(bytes))
    return fail('too-large', `"${text.slice(0, 40)}" is too large: at most 8 PiB`)
  return ok(bytes)
}

/** A size for people: `512 B`, `1.5 KiB`, `200.0 GiB` (binary units, one decimal). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'unlimited'
  if (bytes < 1024) return `${Math.round(bytes)} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = bytes / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(1)} ${units[i]}`
}
