/**
 * The checks every service's init goes through: each names the service and the field, says what
 * the field must be and what it got, and throws a TypeError (js-libp2p's convention for bad
 * options), so a mistyped option fails at assembly and not at the first stream.
 */

/** `value`, when it is a positive number (a positive safe integer, if `integer`). */
export function positiveField(
  service: string,
  field: string,
  value: unknown,
  integer = false,
): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value <= 0 ||
    (integer && !Number.isSafeInteger(value))
  )
    throw new TypeError(
      `${service}: ${field} must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`,
    )
  return value
}

/** `value`, when it is a safe integer of at least `min`. */
export function integerField(service: string, field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new TypeError(
      `${service}: ${field} must be an integer of at least ${min}, got ${String(value)}`,
    )
  return value
}

/** `value`, when it is a non-empty string (`what` names the kind: a string, a path). */
export function stringField(
  service: string,
  field: string,
  value: unknown,
  what = 'string',
): string {
  if (typeof value !== 'string' || value === '')
    throw new TypeError(`${service}: ${field} must be a non-empty ${what}`)
  return value
}

/** `value`, when it is a function (a hook the service calls). */
export function hookField<T>(service: string, field: string, value: T | undefined): T {
  if (typeof value !== 'function') throw new TypeError(`${service}: ${field} must be a function`)
  return value
}
