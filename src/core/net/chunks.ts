/**
 * Chunk indexes: an artifact cut into fixed-size chunks, each named by its sha256, so that a
 * fetcher can check every chunk the moment it arrives, take chunks from many providers at once
 * and pass verified chunks on before it holds the whole artifact.
 *
 * The index is itself an artifact, pinned by the signed manifest under the platform name
 * `<platform>.chunks` (e.g. `node.chunks`). That is how the format evolves without stranding
 * the installed base: a release manifest's artifact pins accept only `sha256` and `length`, and
 * a node reads only its own platform's pin, so nodes that predate chunks verify the manifest,
 * ignore the extra pin and fetch the whole artifact as before. A node that knows chunks fetches
 * the index (it is small: 67 bytes a chunk), checks it against its pin, and then every chunk
 * against the index: the maintainers' signatures cover each chunk's hash.
 *
 * The index is canonical JSON, so the same artifact and chunk size give the same bytes on every
 * machine: any node that holds the artifact can rebuild the index, check it against the pin and
 * serve it. Pure: hashing is passed in.
 */
import { fromUtf8, isHexOfLength } from '../bytes.ts'
import { SchemaError } from '../errors.ts'
import { canonicalBytes } from '../manifest/canonical.ts'
import { type ArtifactPin, MAX_ARTIFACT_BYTES } from '../manifest/release.ts'
import { parseStrictJson } from '../manifest/strict-json.ts'
import { fail, ok, type Result } from '../result.ts'

/** Document type of a chunk index. */
export const CHUNKS_TYPE = 'convoy/chunks'
/** Chunk size of indexes this release writes: 1 MiB. */
export const DEFAULT_CHUNK_BYTES: number = 1024 * 1024
/** Smallest and largest chunk size an index may declare (both powers of two). */
export const MIN_CHUNK_BYTES: number = 64 * 1024
export const MAX_CHUNK_BYTES: number = 64 * 1024 * 1024
/** Most chunks one index may list (4 GiB at 1 MiB). */
export const MAX_CHUNKS = 4096
/** Largest index accepted, in bytes: {@link MAX_CHUNKS} hashes and the envelope. */
export const MAX_INDEX_BYTES: number = MAX_CHUNKS * 67 + 512

/** A decoded chunk index. */
export interface ChunkIndex {
  /** The whole artifact the chunks make up. */
  artifact: ArtifactPin
  /** Bytes per chunk; the last chunk holds the rest. */
  chunkSize: number
  /** Hex sha256 of each chunk, in order. */
  chunks: string[]
}

/** The platform name under which a release pins `platform`'s chunk index. */
export function chunkIndexPlatform(platform: string): string {
  return `${platform}.chunks`
}

/** Number of chunks of an artifact of `length` bytes. */
export function chunkCount(length: number, chunkSize: number): number {
  return Math.ceil(length / chunkSize)
}

/** Byte range `[start, end)` of chunk `i`. */
export function chunkRange(
  index: Pick<ChunkIndex, 'artifact' | 'chunkSize'>,
  i: number,
): { start: number; end: number } {
  const start = i * index.chunkSize
  return { start, end: Math.min(index.artifact.length, start + index.chunkSize) }
}

/** The chunks that make up `[start, end)`, or undefined when it is not on chunk boundaries. */
export function chunksOfRange(
  index: Pick<ChunkIndex, 'artifact' | 'chunkSize'>,
  start: number,
  end: number,
): { first: number; last: number } | undefined {
  const { length } = index.artifact
  if (start < 0 || end > length || start >= end) return undefined
  if (start % index.chunkSize !== 0) return undefined
  if (end !== length && end % index.chunkSize !== 0) return undefined
  return { first: start / index.chunkSize, last: Math.ceil(end / index.chunkSize) - 1 }
}

/** The canonical bytes of an index. */
export function encodeChunkIndex(index: ChunkIndex): Uint8Array {
  return canonicalBytes({
    type: CHUNKS_TYPE,
    artifact: { sha256: index.artifact.sha256, length: index.artifact.length },
    chunkSize: index.chunkSize,
    chunks: index.chunks,
  })
}

const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0

/**
 * Decodes an index and checks it describes `artifact`: the right hash and length, a chunk size
 * in bounds, exactly as many well-formed hashes as the length needs. Never throws.
 */
export function decodeChunkIndex(bytes: Uint8Array, artifact: ArtifactPin): Result<ChunkIndex> {
  if (bytes.byteLength > MAX_INDEX_BYTES)
    return fail('too-large', `too large: a chunk index of ${bytes.byteLength} bytes`)
  const text = fromUtf8(bytes)
  if (text === undefined) return fail('malformed', 'malformed chunk index: not valid UTF-8')
  const parsed = parseStrictJson(text, { maxDepth: 3 })
  if (!parsed.ok) return fail('malformed', `malformed chunk index: ${parsed.reason}`)
  try {
    const v = parsed.value as Record<string, unknown>
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw new SchemaError('not a JSON object')
    for (const k of Object.keys(v))
      if (!['type', 'artifact', 'chunkSize', 'chunks'].includes(k))
        throw new SchemaError(`unknown member ${JSON.stringify(k)}`)
    if (v.type !== CHUNKS_TYPE) return fail('wrong-type', `not a chunk index (type ${v.type})`)
    const a = v.artifact as Record<string, unknown> | null
    if (a === null || typeof a !== 'object' || Array.isArray(a))
      throw new SchemaError('artifact must be an object')
    if (a.sha256 !== artifact.sha256 || a.length !== artifact.length)
      return fail(
        'conflict',
        `chunk index describes ${String(a.sha256).slice(0, 12)}… of ${a.length} bytes, not the pinned ${artifact.sha256.slice(0, 12)}… of ${artifact.length}`,
      )
    const size = v.chunkSize
    if (
      typeof size !== 'number' ||
      !isPowerOfTwo(size) ||
      size < MIN_CHUNK_BYTES ||
      size > MAX_CHUNK_BYTES
    )
      throw new SchemaError(
        `chunkSize must be a power of two from ${MIN_CHUNK_BYTES} to ${MAX_CHUNK_BYTES}`,
      )
    const want = chunkCount(artifact.length, size)
    if (want > MAX_CHUNKS)
      throw new SchemaError(`${want} chunks of ${size} bytes; at most ${MAX_CHUNKS}`)
    const chunks = v.chunks
    if (!Array.isArray(chunks) || chunks.length !== want)
      throw new SchemaError(`chunks must list ${want} hashes`)
    for (const [i, c] of chunks.entries())
      if (!isHexOfLength(c, 32)) throw new SchemaError(`chunks[${i}] is not a sha256 in hex`)
    return ok({
      artifact: { sha256: artifact.sha256, length: artifact.length },
      chunkSize: size,
      chunks: chunks as string[],
    })
  } catch (e) {
    if (e instanceof SchemaError) return fail('malformed', `malformed chunk index: ${e.message}`)
    throw e
  }
}

/**
 * Builds the index of an artifact from the hashes of its chunks, as a hasher fed the artifact
 * chunk by chunk returns them. Throws a RangeError on an artifact this format cannot index.
 */
export function buildChunkIndex(
  artifact: ArtifactPin,
  chunkSize: number,
  chunks: string[],
): ChunkIndex {
  if (artifact.length < 1 || artifact.length > MAX_ARTIFACT_BYTES)
    throw new RangeError(`cannot index an artifact of ${artifact.length} bytes`)
  if (chunks.length !== chunkCount(artifact.length, chunkSize) || chunks.length > MAX_CHUNKS)
    throw new RangeError(`${chunks.length} chunk hashes for ${artifact.length} bytes`)
  return { artifact: { ...artifact }, chunkSize, chunks: [...chunks] }
}

/** The chunk size this release indexes an artifact of `length` bytes with. */
export function chunkSizeFor(length: number): number {
  let size = DEFAULT_CHUNK_BYTES
  while (chunkCount(length, size) > MAX_CHUNKS) size *= 2
  return size
}

/** Encodes which of `count` chunks are held, as base64 of a bitfield (bit i of byte i>>3). */
export function encodeHave(have: readonly boolean[]): string {
  const bytes = new Uint8Array(Math.ceil(have.length / 8))
  for (const [i, h] of have.entries()) if (h) bytes[i >> 3]! |= 0x80 >> (i & 7)
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    const k = Math.min(3, bytes.length - i)
    for (let j = 0; j <= k; j++) out += B64[(n >> (18 - 6 * j)) & 63]
  }
  return out
}

/** Decodes {@link encodeHave} for `count` chunks; undefined when it is not one. Never throws. */
export function decodeHave(text: unknown, count: number): boolean[] | undefined {
  if (typeof text !== 'string') return undefined
  const bytes = Math.ceil(count / 8)
  const want = Math.floor(bytes / 3) * 4 + (bytes % 3 === 0 ? 0 : (bytes % 3) + 1)
  if (text.length !== want) return undefined
  const have: boolean[] = []
  for (let i = 0; i < text.length; i += 4) {
    let n = 0
    let digits = 0
    for (let j = 0; j < 4 && i + j < text.length; j++) {
      const d = B64.indexOf(text[i + j]!)
      if (d < 0) return undefined
      n |= d << (18 - 6 * j)
      digits++
    }
    for (let b = 0; b < digits - 1; b++) {
      const byte = (n >> (16 - 8 * b)) & 0xff
      for (let k = 0; k < 8 && have.length < count; k++) have.push((byte & (0x80 >> k)) !== 0)
    }
  }
  return have.length === count ? have : undefined
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
