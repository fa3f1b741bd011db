/**
 * The small control messages of convoy's stream protocols, decoded in one place: the manifest
 * exchange's request and reply head, the artifact protocol's request and reply head. Each is one
 * length-prefixed JSON object of at most {@link MAX_CONTROL_BYTES}; the size cap comes first,
 * then strict UTF-8 and strict JSON (no duplicate keys, no lone surrogates, shallow), then the
 * fields each message needs. Fields a message does not know are ignored, never refused: a later
 * release may add one, and the nodes of this one must still talk to it (the installed base is
 * never stranded). Decoders never throw; encoders write what the decoders accept. Pure.
 */
import { fromUtf8, isHexOfLength, utf8 } from '../bytes.ts'
import { NAME_RE } from '../manifest/schema.ts'
import { type JsonValue, parseStrictJson } from '../manifest/strict-json.ts'
import { fail, ok, type Result } from '../result.ts'
import type { UploadRefusal } from './uploads.ts'

/** Largest control message, bytes. */
export const MAX_CONTROL_BYTES = 256

/** Most roots one manifest-exchange reply carries. */
export const MAX_ROOTS_PER_REPLY = 16

/** A manifest-exchange request: the channel asked about and the asker's root version. */
export interface ManifestRequest {
  channel: string
  rootVersion: number
}

/** A manifest-exchange reply head: how many roots follow, and whether a manifest does. */
export interface ManifestReplyHead {
  roots: number
  manifest: boolean
}

/**
 * An artifact request: the artifact, where to start, whether the asker will confirm, and
 * (new with chunks) where to stop. Without `end` the server sends to the end of the file.
 */
export interface ArtifactRequest {
  sha256: string
  offset: number
  confirm: boolean
  /** Exclusive end of the range asked for; absent: the whole rest. */
  end?: number
}

/**
 * An artifact reply head. `end` echoes a ranged request (a server that does not echo it is
 * older and sends to the end of the file); `have` is a partial holder's bitfield of verified
 * chunks (core/net/chunks.ts, `encodeHave`), sent only to ranged requests.
 */
export type ArtifactReplyHead =
  | { status: 'ok'; length: number; end?: number }
  | { status: 'busy'; reason: UploadRefusal }
  | { status: 'not-found'; have?: string }

/**
 * Largest artifact reply head, bytes: room for a `have` bitfield of 4096 chunks. Requests, and
 * the replies to requests without `end` (all an older fetcher can read), stay within
 * {@link MAX_CONTROL_BYTES}.
 */
export const MAX_ARTIFACT_REPLY_BYTES = 1024

type Fields = Record<string, JsonValue>

function object(bytes: Uint8Array, what: string, max: number = MAX_CONTROL_BYTES): Result<Fields> {
  if (bytes.byteLength > max)
    return fail(
      'too-large',
      `too large: a ${what} of ${bytes.byteLength} bytes, the limit is ${max}`,
    )
  const text = fromUtf8(bytes)
  if (text === undefined) return fail('malformed', `malformed ${what}: not valid UTF-8`)
  const parsed = parseStrictJson(text, { maxDepth: 2 })
  if (!parsed.ok) return fail('malformed', `malformed ${what}: ${parsed.reason}`)
  const v = parsed.value
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    return fail('malformed', `malformed ${what}: not a JSON object`)
  return ok(v)
}

function missing(v: Fields, what: string, required: string[]) {
  for (const k of required)
    if (!(k in v)) return fail('malformed', `malformed ${what}: ${k} is missing`)
  return undefined
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0

/** Encodes a manifest-exchange request. */
export function encodeManifestRequest(r: ManifestRequest): Uint8Array {
  return utf8(JSON.stringify({ channel: r.channel, rootVersion: r.rootVersion }))
}

/** Decodes a manifest-exchange request; never throws. */
export function decodeManifestRequest(bytes: Uint8Array): Result<ManifestRequest> {
  const what = 'manifest request'
  const v = object(bytes, what)
  if (!v.ok) return v
  const bad = missing(v.value, what, ['channel', 'rootVersion'])
  if (bad) return bad
  const { channel, rootVersion } = v.value
  if (typeof channel !== 'string' || !NAME_RE.test(channel))
    return fail('malformed', `malformed ${what}: channel must be a name`)
  if (!isCount(rootVersion))
    return fail('malformed', `malformed ${what}: rootVersion must be a whole number`)
  return ok({ channel, rootVersion })
}

/** Encodes a manifest-exchange reply head. */
export function encodeManifestReplyHead(h: ManifestReplyHead): Uint8Array {
  return utf8(JSON.stringify({ roots: h.roots, manifest: h.manifest }))
}

/** Decodes a manifest-exchange reply head; never throws. */
export function decodeManifestReplyHead(bytes: Uint8Array): Result<ManifestReplyHead> {
  const what = 'manifest reply'
  const v = object(bytes, what)
  if (!v.ok) return v
  const bad = missing(v.value, what, ['roots', 'manifest'])
  if (bad) return bad
  const { roots, manifest } = v.value
  if (!isCount(roots) || roots > MAX_ROOTS_PER_REPLY)
    return fail('malformed', `malformed ${what}: roots must be 0 to ${MAX_ROOTS_PER_REPLY}`)
  if (typeof manifest !== 'boolean')
    return fail('malformed', `malformed ${what}: manifest must be true or false`)
  return ok({ roots, manifest })
}

/** Encodes an artifact request. */
export function encodeArtifactRequest(r: ArtifactRequest): Uint8Array {
  return utf8(
    JSON.stringify({
      sha256: r.sha256,
      offset: r.offset,
      confirm: r.confirm,
      ...(r.end === undefined ? {} : { end: r.end }),
    }),
  )
}

/** Decodes an artifact request; never throws. A missing `confirm` is false (older fetchers). */
export function decodeArtifactRequest(bytes: Uint8Array): Result<ArtifactRequest> {
  const what = 'artifact request'
  const v = object(bytes, what)
  if (!v.ok) return v
  const bad = missing(v.value, what, ['sha256', 'offset'])
  if (bad) return bad
  const { sha256, offset, confirm, end } = v.value
  if (!isHexOfLength(sha256, 32))
    return fail('malformed', `malformed ${what}: sha256 must be 64 lower-case hex digits`)
  if (!isCount(offset)) return fail('malformed', `malformed ${what}: offset must be a whole number`)
  if (confirm !== undefined && typeof confirm !== 'boolean')
    return fail('malformed', `malformed ${what}: confirm must be true or false`)
  if (end !== undefined && (!isCount(end) || end <= offset))
    return fail('malformed', `malformed ${what}: end must be a whole number past offset`)
  return ok({ sha256, offset, confirm: confirm === true, ...(end === undefined ? {} : { end }) })
}

/** Encodes an artifact reply head. */
export function encodeArtifactReplyHead(h: ArtifactReplyHead): Uint8Array {
  return utf8(JSON.stringify(h))
}

/** Decodes an artifact reply head; never throws. */
export function decodeArtifactReplyHead(bytes: Uint8Array): Result<ArtifactReplyHead> {
  const what = 'artifact reply'
  const v = object(bytes, what, MAX_ARTIFACT_REPLY_BYTES)
  if (!v.ok) return v
  const { status, end, have } = v.value
  if (status === 'ok') {
    const bad = missing(v.value, what, ['status', 'length'])
    if (bad) return bad
    const length = v.value.length
    if (!isCount(length))
      return fail('malformed', `malformed ${what}: length must be a whole number`)
    if (end !== undefined && (!isCount(end) || end > length))
      return fail('malformed', `malformed ${what}: end must be a whole number within length`)
    return ok({ status, length, ...(end === undefined ? {} : { end }) })
  }
  if (status === 'busy') {
    // An older seeder sends no reason, or one this node does not know: it is out of slots.
    const reason = v.value.reason
    return ok({ status, reason: reason === 'budget' || reason === 'quota' ? reason : 'slots' })
  }
  if (status === 'not-found') {
    // A bitfield this node cannot read is no reason to refuse the answer: it is dropped.
    return ok(typeof have === 'string' ? { status, have } : { status })
  }
  return fail('malformed', `malformed ${what}: status must be ok, busy or not-found`)
}
