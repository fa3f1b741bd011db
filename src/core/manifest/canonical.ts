/**
 * Canonical bytes (RFC 8785, JCS) and the stable text form of documents.
 *
 * Signatures cover the JCS bytes of the signed part, so whitespace, member order and number
 * spelling in a file never change what was signed. The JCS step is done by `canonicalize`, the
 * RFC author's maintained implementation; we do not hand-roll it.
 */
import canonicalize from 'canonicalize'
import { utf8 } from '../bytes.ts'
import type { JsonValue } from './strict-json.ts'

/** RFC 8785 canonical UTF-8 bytes of `value`. Throws only on values JSON cannot carry. */
export function canonicalBytes(value: unknown): Uint8Array {
  const text = canonicalize(value)
  if (text === undefined) throw new TypeError('value has no JSON form')
  return utf8(text)
}

/**
 * The text form convoy writes to files: two-space indented JSON with members in RFC 8785 order
 * and a final newline. Writing, reading and writing again gives the same bytes.
 */
export function prettyJson(value: JsonValue | unknown): string {
  return `${pretty(value, '')}\n`
}

function pretty(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    const inner = `${indent}  `
    return `[\n${value.map((v) => inner + pretty(v, inner)).join(',\n')}\n${indent}]`
  }
  if (value !== null && typeof value === 'object') {
    // UTF-16 code unit order, as RFC 8785 requires; Object.keys would put integer-like names first.
    const keys = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
    if (keys.length === 0) return '{}'
    const inner = `${indent}  `
    const members = keys.map(
      (k) =>
        `${inner}${JSON.stringify(k)}: ${pretty((value as Record<string, unknown>)[k], inner)}`,
    )
    return `{\n${members.join(',\n')}\n${indent}}`
  }
  // Primitives: JCS number and string forms (ES2015 Number serialisation, JSON string escapes).
  const text = canonicalize(value)
  if (text === undefined) throw new TypeError('value has no JSON form')
  return text
}
