/**
 * The envelope shared by every signed convoy document: `{ "signed": {...}, "signatures": [...] }`.
 * Decoding checks the size cap before reading a single byte of JSON.
 */
import { fromUtf8, isHexOfLength, utf8 } from '../bytes.ts'
import { fail, ok, type Result } from '../result.ts'
import { prettyJson } from './canonical.ts'
import * as s from './schema.ts'
import type { Signature } from './signing.ts'
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
      const sig = s.object(x, p, ['keyid', 'sig'])
      if (!isHexOfLength(sig.keyid, 32))
        throw new s.SchemaError(`${p}.keyid must be 64 lower-case hex digits`)
      if (!isHexOfLength(sig.sig, 64))
        throw new s.SchemaError(`${p}.sig must be 128 lower-case hex digits`)
      return { keyid: sig.keyid, sig: sig.sig }
    })
    return ok({ signed: env.signed, signatures })
  } catch (e) {
    return schemaFailure(e)
  }
}

/** Turns a thrown {@link s.SchemaError} into a `malformed:` result; rethrows anything else. */
export function schemaFailure(e: unknown): Result<never> {
  if (e instanceof s.SchemaError) return fail('malformed', `malformed: ${e.message}`)
  throw e
}

/** The bytes convoy writes for a document: stable, human-readable, ends in a newline. */
export function encodeEnvelope(env: Envelope): Uint8Array {
  return utf8(prettyJson(env))
}

/**
 * Merges the signatures of several copies of one document. Order-independent: the result lists
 * each distinct (key id, signature) pair once, sorted, so merging on different machines in any
 * order gives the same bytes. ed25519 signatures are deterministic, so one key adds one entry.
 */
export function mergeSignatures(...lists: ReadonlyArray<readonly Signature[]>): Signature[] {
  const byPair = new Map<string, Signature>()
  for (const list of lists) for (const sig of list) byPair.set(`${sig.keyid}:${sig.sig}`, sig)
  return [...byPair.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, sig]) => sig)
}
