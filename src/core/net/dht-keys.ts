/**
 * convoy's DHT record keys, built and read in one place, canonical only.
 *
 * - `/convoy-rel/<network>/<channel>`: the channel's latest manifest.
 * - `/convoy-rel/<network>/<channel>/<sequence>`: one manifest by sequence (history).
 * - `/convoy-root/<network>/<version>`: one root.
 * - `/convoy-revoke/<network>/<channel>/<sequence>`: the revocation of one manifest.
 *
 * A number in a key is accepted only in its canonical decimal form (`0`, or a digit 1-9 then
 * digits, a safe integer): the key a node builds from the number. Reading numbers leniently
 * (`Number()`) let `01`, `1.0`, `0x1`, `1e0` and ` 1` all name sequence 1, so one genuine
 * manifest could be stored under hundreds of keys that nothing reads and nothing expires.
 * Names follow the manifest's own rule (NAME_RE). Pure.
 */
import { NAME_RE } from '../manifest/schema.ts'

export type DhtKey =
  | { kind: 'latest'; network: string; channel: string }
  | { kind: 'sequence'; network: string; channel: string; sequence: number }
  | { kind: 'root'; network: string; version: number }
  | { kind: 'revocation'; network: string; channel: string; sequence: number }

const CANONICAL_UINT = /^(0|[1-9][0-9]{0,15})$/

function canonicalNumber(text: string | undefined): number | undefined {
  if (text === undefined || !CANONICAL_UINT.test(text)) return undefined
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : undefined
}

/** The text of a key. */
export function formatDhtKey(key: DhtKey): string {
  switch (key.kind) {
    case 'latest':
      return `/convoy-rel/${key.network}/${key.channel}`
    case 'sequence':
      return `/convoy-rel/${key.network}/${key.channel}/${key.sequence}`
    case 'root':
      return `/convoy-root/${key.network}/${key.version}`
    case 'revocation':
      return `/convoy-revoke/${key.network}/${key.channel}/${key.sequence}`
  }
}

/** Reads a key; undefined unless it is exactly what {@link formatDhtKey} would write. */
export function parseDhtKey(text: string): DhtKey | undefined {
  const parts = text.split('/')
  if (parts[0] !== '' || parts.length < 4) return undefined
  const [, ns, network, third, fourth, ...rest] = parts
  if (rest.length > 0 || network === undefined || !NAME_RE.test(network)) return undefined
  let key: DhtKey | undefined
  if (ns === 'convoy-root' && fourth === undefined) {
    const version = canonicalNumber(third)
    if (version !== undefined) key = { kind: 'root', network, version }
  } else if (ns === 'convoy-revoke' && third !== undefined && NAME_RE.test(third)) {
    const sequence = canonicalNumber(fourth)
    if (sequence !== undefined) key = { kind: 'revocation', network, channel: third, sequence }
  } else if (ns === 'convoy-rel' && third !== undefined && NAME_RE.test(third)) {
    if (fourth === undefined) key = { kind: 'latest', network, channel: third }
    else {
      const sequence = canonicalNumber(fourth)
      if (sequence !== undefined) key = { kind: 'sequence', network, channel: third, sequence }
    }
  }
  // Round-trip: nothing but the canonical spelling survives.
  return key !== undefined && formatDhtKey(key) === text ? key : undefined
}
