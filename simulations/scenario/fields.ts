/**
 * The generic readers of a scenario's fields: each checks one value against its rule and, when
 * it breaks it, throws a {@link ScenarioError} that names the field's path.
 */
import { ScenarioError } from '../errors.ts'

export const NAME_RE: RegExp = /^[a-z0-9][a-z0-9-]{0,63}$/

export type Obj = Record<string, unknown>

export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)
  if (Array.isArray(v)) return 'an array'
  if (v === null) return 'null'
  return typeof v === 'object' ? 'an object' : String(v)
}

export function object(v: unknown, path: string, known: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ScenarioError(path, `must be an object (got ${describe(v)})`)
  for (const k of Object.keys(v)) {
    if (!known.includes(k))
      throw new ScenarioError(
        path === '' ? k : `${path}.${k}`,
        `is not a known field (known: ${known.join(', ')})`,
      )
  }
  return v as Obj
}

export const at = (path: string, k: string): string => (path === '' ? k : `${path}.${k}`)

export function num(
  o: Obj,
  path: string,
  k: string,
  min: number,
  max: number,
  fallback?: number,
  opts: { integer?: boolean; exclusiveMin?: boolean } = {},
): number {
  const v = o[k]
  const p = at(path, k)
  if (v === undefined) {
    if (fallback === undefined) throw new ScenarioError(p, 'is required')
    return fallback
  }
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (opts.exclusiveMin ? v > min : v >= min) &&
    v <= max &&
    (!opts.integer || Number.isInteger(v))
  if (!ok) {
    const kind = opts.integer ? 'an integer' : 'a number'
    const range = opts.exclusiveMin
      ? `greater than ${min} and at most ${max}`
      : `from ${min} to ${max}`
    throw new ScenarioError(p, `must be ${kind} ${range} (got ${describe(v)})`)
  }
  return v as number
}

export function str(
  o: Obj,
  path: string,
  k: string,
  re: RegExp | ((v: string) => boolean),
  rule: string,
  fallback?: string,
): string {
  const v = o[k]
  const p = at(path, k)
  if (v === undefined) {
    if (fallback === undefined) throw new ScenarioError(p, 'is required')
    return fallback
  }
  if (typeof v !== 'string' || !(typeof re === 'function' ? re(v) : re.test(v)))
    throw new ScenarioError(p, `must be ${rule} (got ${describe(v)})`)
  return v
}

export function oneOf<T extends string>(
  o: Obj,
  path: string,
  k: string,
  values: readonly T[],
  fallback?: T,
): T {
  const v = o[k]
  const p = at(path, k)
  if (v === undefined) {
    if (fallback === undefined) throw new ScenarioError(p, 'is required')
    return fallback
  }
  if (typeof v !== 'string' || !values.includes(v as T))
    throw new ScenarioError(p, `must be one of ${values.join(', ')} (got ${describe(v)})`)
  return v as T
}

export function array(
  o: Obj,
  path: string,
  k: string,
  min: number,
  max: number,
): unknown[] | undefined {
  const v = o[k]
  if (v === undefined) return undefined
  const p = at(path, k)
  if (!Array.isArray(v) || v.length < min || v.length > max)
    throw new ScenarioError(p, `must be an array of ${min} to ${max} entries (got ${describe(v)})`)
  return v
}
