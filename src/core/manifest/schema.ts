import { SchemaError } from '../errors.ts'
import { isVersion } from '../version/version.ts'

/** Network and channel names: lower case, digits, '.', '_', '-'; 1..64 characters. */
export const NAME_RE: RegExp = /^[a-z0-9][a-z0-9._-]{0,63}$/
/** RFC 3339 UTC timestamps with second precision, the only form convoy writes or accepts. */
export const TIME_RE: RegExp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

/** Asserts `v` is a plain object with only `allowed` members and all `required` ones. */
export function object(
  v: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new SchemaError(`${path} must be an object`)
  }
  const rec = v as Record<string, unknown>
  for (const k of required) {
    if (!Object.hasOwn(rec, k)) throw new SchemaError(`${path}.${k} is missing`)
  }
  for (const k of Object.keys(rec)) {
    if (!required.includes(k) && !optional.includes(k)) {
      throw new SchemaError(`${path} has unknown member ${JSON.stringify(k)}`)
    }
  }
  return rec
}

/** Asserts `v` is a string matching `re` (and at most `max` characters). */
export function string(v: unknown, path: string, re?: RegExp, max = 4096): string {
  if (typeof v !== 'string') throw new SchemaError(`${path} must be a string`)
  if (v.length > max) throw new SchemaError(`${path} is longer than ${max} characters`)
  if (re !== undefined && !re.test(v))
    throw new SchemaError(`${path} ${JSON.stringify(v)} does not match ${re}`)
  return v
}

/** Asserts `v` is an integer in [min, max]. */
export function integer(
  v: unknown,
  path: string,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new SchemaError(`${path} must be an integer from ${min} to ${max}`)
  }
  return v
}

/** Asserts `v` is a finite number in [min, max]. */
export function fraction(v: unknown, path: string, min = 0, max = 1): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new SchemaError(`${path} must be a number from ${min} to ${max}`)
  }
  return v
}

/** Asserts `v` is an array of at most `max` items and maps each with `item`. */
export function array<T>(
  v: unknown,
  path: string,
  max: number,
  item: (x: unknown, p: string) => T,
): T[] {
  if (!Array.isArray(v)) throw new SchemaError(`${path} must be an array`)
  if (v.length > max) throw new SchemaError(`${path} has more than ${max} items`)
  return v.map((x, i) => item(x, `${path}[${i}]`))
}

/** Asserts `v` is a strict semver version without a leading "v". */
export function version(v: unknown, path: string): string {
  const s = string(v, path, undefined, 256)
  if (!isVersion(s))
    throw new SchemaError(`${path} ${JSON.stringify(s)} is not a semver version like 1.2.3`)
  return s
}

/** Asserts `v` is an RFC 3339 UTC time with second precision; returns it unchanged. */
export function time(v: unknown, path: string): string {
  const s = string(v, path, TIME_RE, 20)
  const ms = Date.parse(s)
  // Date.parse rolls 2026-02-30 over to March; a real date survives the round trip unchanged.
  if (Number.isNaN(ms) || `${new Date(ms).toISOString().slice(0, 19)}Z` !== s) {
    throw new SchemaError(`${path} ${JSON.stringify(s)} is not a real date`)
  }
  return s
}
