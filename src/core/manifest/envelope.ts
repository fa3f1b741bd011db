/**
 * The envelope shared by every signed convoy document: `{ "signed": {...}, "signatures": [...] }`.
 * Decoding checks the size cap before reading a single byte of JSON.
 */
import { fromUtf8, isHexOfLength, utf8 } from '../bytes.ts'
import { SchemaError } from '../errors.ts'
import { fail, ok, type Result } from '../result.ts'
import { prettyJson } from './canonical.ts'
import * as s from './schema.ts'
import type { Attestation, Signature } from './signing.ts'
import { parseStrictJson } from './strict-json.ts'

/** A signed document before its signed part has been checked against a schema. */
export interface Envelope<T = unknown> {
  signed: T
  signatures: Signature[]
}

/** Most signatures an envelope may carry; more is refused as malformed. @default 64 */
export const MAX_SIGNATURES = 64

/** Decodes and shape-checks an envelope: size cap, strict UTF-8, strict JSON, then shape. */
export function decodeEnvelope(bytes: Uint8Array, maxBytes: number): Result<Envelope> {
  if (bytes.length > maxBytes)
    return fail('too-large', `too large: ${bytes.length} bytes, the limit is ${maxBytes}`)
  const text = fromUtf8(bytes)
  if (text === undefined) return fail('malformed', 'malformed: not valid UTF-8')
  const parsed = parseStrictJson(text)
  if (!parsed.ok) return parsed
  try {
    const env = s.object(parsed.value, 'document', ['signed', 'signatures'])
    s.object(env.signed, 'signed', [], Object.keys((env.signed as object) ?? {}))
    const signatures = s.array(env.signatures, 'signatures', MAX_SIGNATURES, (x, p) => {
      const sig = s.object(x, p, ['keyid', 'sig'], ['attestation'])
      if (!isHexOfLength(sig.keyid, 32))
        throw new SchemaError(`${p}.keyid must be 64 lower-case hex digits`)
      if (!isHexOfLength(sig.sig, 64))
        throw new SchemaError(`${p}.sig must be 128 lower-case hex digits`)
      const entry: Signature = { keyid: sig.keyid, sig: sig.sig }
      if (sig.attestation !== undefined) entry.attestation = parseAttestation(sig.attestation, p)
      return entry
    })
    return ok({ signed: env.signed, signatures })
  } catch (e) {
    return schemaFailure(e)
  }
}

/**
 * {@link decodeEnvelope}, then the two checks every document type makes before its own shape:
 * the signed part's `type` is `type` (named `what` in the refusal) and its `specVersion` is 1.
 */
export function decodeTyped(
  bytes: Uint8Array,
  maxBytes: number,
  type: string,
  what: string,
): Result<Envelope> {
  const env = decodeEnvelope(bytes, maxBytes)
  if (!env.ok) return env
  if ((env.value.signed as { type?: unknown }).type !== type)
    return fail('wrong-type', `wrong document type: expected ${what} ("${type}")`)
  const spec = (env.value.signed as { specVersion?: unknown }).specVersion
  if (spec !== 1)
    return fail(
      'unsupported',
      `unsupported: specVersion ${JSON.stringify(spec)}; this convoy reads specVersion 1, upgrade convoy to read newer documents`,
    )
  return env
}

/** A refusal if any signature of `env` carries an attestation (only a release signature may). */
export function attestationRefused(env: Envelope): Result<never> | undefined {
  const attested = env.signatures.findIndex((x) => x.attestation !== undefined)
  return attested < 0
    ? undefined
    : fail(
        'malformed',
        `malformed: signatures[${attested}].attestation: only a release signature may carry one`,
      )
}

/** Shape of a signature entry's optional `attestation`: exactly `{ reproduced: true, sig }`. */
function parseAttestation(v: unknown, path: string): Attestation {
  const p = `${path}.attestation`
  const a = s.object(v, p, ['reproduced', 'sig'])
  if (a.reproduced !== true) throw new SchemaError(`${p}.reproduced must be true`)
  if (!isHexOfLength(a.sig, 64)) throw new SchemaError(`${p}.sig must be 128 lower-case hex digits`)
  return { reproduced: true, sig: a.sig }
}

/** Turns a thrown {@link SchemaError} into a `malformed:` result; rethrows anything else. */
export function schemaFailure(e: unknown): Result<never> {
  if (e instanceof SchemaError) return fail('malformed', `malformed: ${e.message}`)
  throw e
}

/** The bytes convoy writes for a document: stable, human-readable, ends in a newline. */
export function encodeEnvelope(env: Envelope): Uint8Array {
  return utf8(prettyJson(env))
}

/**
 * Merges the signatures of several copies of one document. Order-independent: the result lists
 * each distinct (key id, signature, attestation) entry once, sorted, so merging on different
 * machines in any order gives the same bytes. ed25519 signatures are deterministic, so one key
 * adds one entry; an entry without an attestation is dropped when the same key id and signature
 * also come with one (an attestation only adds a claim, so the attested entry says more).
 */
export function mergeSignatures(...lists: ReadonlyArray<readonly Signature[]>): Signature[] {
  const byEntry = new Map<string, Signature>()
  for (const list of lists) for (const sig of list) byEntry.set(entryKey(sig), sig)
  const attested = new Set<string>()
  for (const sig of byEntry.values())
    if (sig.attestation !== undefined) attested.add(`${sig.keyid}:${sig.sig}`)
  return [...byEntry.entries()]
    .filter(([, sig]) => sig.attestation !== undefined || !attested.has(entryKey(sig)))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, sig]) => sig)
}

/** `keyid:sig`, plus `:attestation-sig` when attested: entries that merge to one share it. */
function entryKey(sig: Signature): string {
  const base = `${sig.keyid}:${sig.sig}`
  return sig.attestation === undefined ? base : `${base}:${sig.attestation.sig}`
}
