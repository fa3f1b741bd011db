/** Byte helpers shared by the core. Pure: no Buffer, no node:* imports. */

const HEX = '0123456789abcdef'
const HEX_RE = /^(?:[0-9a-f]{2})*$/

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!
  return out
}

/** Parses lower-case hex; returns undefined on anything else (odd length, upper case, junk). */
export function fromHex(hex: string): Uint8Array | undefined {
  if (!HEX_RE.test(hex)) return undefined
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

/** True when `s` is lower-case hex encoding exactly `bytes` bytes. */
export function isHexOfLength(s: unknown, bytes: number): s is string {
  return typeof s === 'string' && s.length === bytes * 2 && HEX_RE.test(s)
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** UTF-8 encoding of `s`. */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s)
}

/** Strict UTF-8 decoding; undefined when the bytes are not valid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return concatList(parts)
}

/** Concatenates a list of byte arrays, however long (no spread: no argument limit). */
export function concatList(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Constant-shape equality of two byte arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/** Byte order of two arrays, shorter first on a common prefix: a total order, the same everywhere. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}
