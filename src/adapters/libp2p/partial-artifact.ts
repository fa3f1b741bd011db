/**
 * The files of chunked artifacts (core/net/chunks.ts): the chunk index of a file, and the
 * partial file a chunked fetch writes into and serves onward from (artifact-chunked.ts).
 *
 * The partial file is `.${sha256}.partial.tmp` in the store: a fetch that stops (aborted, the
 * node restarted) leaves it, and the next fetch re-hashes what is on disk and keeps the chunks
 * that match, so it resumes. Chunks of artifacts already in the store that the index names are
 * copied locally ({@link reuseLocal}). Nothing is renamed into the store before the whole file's
 * sha256 matches the pin as well.
 */
import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { type ArtifactPin, PLATFORM_RE } from '../../core/manifest/release.ts'
import {
  buildChunkIndex,
  type ChunkIndex,
  chunkIndexPlatform,
  chunkRange,
  chunkSizeFor,
  chunksOfRange,
  encodeChunkIndex,
  encodeHave,
} from '../../core/net/chunks.ts'
import { syncDir } from '../fs/atomic.ts'
import type { PartialSource } from './artifact-upload.ts'
import { DiskError } from './errors.ts'
import { TempArtifact } from './temp-artifact.ts'

/** Hex sha256 of each `chunkSize` block of the file at `path`, and its length. */
export async function hashChunks(
  path: string,
  chunkSize: number,
  options: AbortOptions = {},
): Promise<{ sha256: string; length: number; chunks: string[] }> {
  const file = await open(path, constants.O_RDONLY)
  try {
    const whole = createHash('sha256')
    const chunks: string[] = []
    const buf = Buffer.allocUnsafe(chunkSize)
    let length = 0
    for (;;) {
      options.signal?.throwIfAborted()
      let filled = 0
      while (filled < chunkSize) {
        const { bytesRead } = await file.read(buf, filled, chunkSize - filled, length + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled === 0) break
      const piece = buf.subarray(0, filled)
      whole.update(piece)
      chunks.push(createHash('sha256').update(piece).digest('hex'))
      length += filled
      if (filled < chunkSize) break
    }
    return { sha256: whole.digest('hex'), length, chunks }
  } finally {
    await file.close()
  }
}

/** The chunk index of the file at `path`, cut at `chunkSize`. */
export async function indexFile(
  path: string,
  chunkSize: number,
  options: AbortOptions = {},
): Promise<ChunkIndex> {
  const h = await hashChunks(path, chunkSize, options)
  return buildChunkIndex({ sha256: h.sha256, length: h.length }, chunkSize, h.chunks)
}

/**
 * The pin of the chunk index this release writes for the file at `path` of `length` bytes
 * (`chunkSizeFor`): what `release draft` pins as `<platform>.chunks`.
 */
export async function chunkIndexPinOf(path: string, length: number): Promise<ArtifactPin> {
  return indexPinOf(encodeChunkIndex(await indexFile(path, chunkSizeFor(length))))
}

/** The pin of an index's bytes. */
function indexPinOf(bytes: Uint8Array): ArtifactPin {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length }
}

/**
 * Pins `platform`'s chunk index beside its artifact (core/net/chunks.ts): nodes that know chunks
 * fetch the artifact from many peers at once; older nodes read only their own platform's pin.
 * Nothing is pinned for a platform name too long to carry the `.chunks` suffix.
 */
export async function pinChunkIndex(
  artifacts: Record<string, ArtifactPin>,
  platform: string,
  path: string,
): Promise<void> {
  const name = chunkIndexPlatform(platform)
  const pin = artifacts[platform]
  if (PLATFORM_RE.test(name) && pin !== undefined)
    artifacts[name] = await chunkIndexPinOf(path, pin.length)
}

/** The file a chunked fetch writes into; served onward chunk by chunk. */
export class PartialArtifact implements PartialSource {
  readonly path: string
  readonly length: number
  readonly index: ChunkIndex
  private readonly held: boolean[]
  private file: FileHandle | undefined

  private constructor(path: string, index: ChunkIndex, file: FileHandle, held: boolean[]) {
    this.path = path
    this.index = index
    this.length = index.artifact.length
    this.file = file
    this.held = held
  }

  /**
   * Opens (or resumes) the partial file of `index.artifact` in `dir`: chunks already on disk
   * are re-hashed and kept only when they match the index.
   */
  static async open(dir: string, index: ChunkIndex): Promise<PartialArtifact> {
    const path = join(dir, `.${index.artifact.sha256}.partial.tmp`)
    let file: FileHandle
    try {
      file = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644)
    } catch (e) {
      throw new DiskError(`opening ${path} failed`, { cause: e })
    }
    const held = new Array<boolean>(index.chunks.length).fill(false)
    const size = (await file.stat()).size
    if (size > 0) {
      const buf = Buffer.allocUnsafe(index.chunkSize)
      for (let i = 0; i < index.chunks.length; i++) {
        const { start, end } = chunkRange(index, i)
        if (end > size) break
        const { bytesRead } = await file.read(buf, 0, end - start, start)
        if (bytesRead !== end - start) continue
        const h = createHash('sha256').update(buf.subarray(0, bytesRead)).digest('hex')
        held[i] = h === index.chunks[i]
      }
    }
    await file.truncate(index.artifact.length)
    return new PartialArtifact(path, index, file, held)
  }

  heldChunks(): boolean[] {
    return [...this.held]
  }

  covers(start: number, end: number): boolean {
    const r = chunksOfRange(this.index, start, end)
    if (r === undefined) return false
    for (let i = r.first; i <= r.last; i++) if (!this.held[i]) return false
    return true
  }

  have(): string {
    return encodeHave(this.held)
  }

  /** Writes verified chunk `i`; it is served onward only once it is on disk. */
  async write(i: number, bytes: Uint8Array): Promise<void> {
    const { start } = chunkRange(this.index, i)
    try {
      let written = 0
      while (written < bytes.byteLength) {
        const r = await this.file!.write(
          bytes,
          written,
          bytes.byteLength - written,
          start + written,
        )
        written += r.bytesWritten
      }
    } catch (e) {
      throw new DiskError(`writing ${this.path} failed`, { cause: e })
    }
    this.held[i] = true
  }

  /**
   * Checks the whole file against the pin, then fsync, rename into the store, fsync the
   * directory. Returns the store path, or undefined (the file removed) when the hash is wrong.
   */
  async commit(storeDir: string): Promise<string | undefined> {
    const file = this.file!
    const whole = createHash('sha256')
    const buf = Buffer.allocUnsafe(this.index.chunkSize)
    for (let i = 0; i < this.index.chunks.length; i++) {
      const { start, end } = chunkRange(this.index, i)
      const { bytesRead } = await file.read(buf, 0, end - start, start)
      whole.update(buf.subarray(0, bytesRead))
    }
    if (whole.digest('hex') !== this.index.artifact.sha256) {
      await this.discard()
      return undefined
    }
    this.file = undefined
    try {
      await file.sync()
    } finally {
      await file.close()
    }
    const target = join(storeDir, this.index.artifact.sha256)
    await rename(this.path, target)
    await syncDir(storeDir)
    return target
  }

  /** Closes the file and keeps it, for a later fetch to resume. */
  async close(): Promise<void> {
    const file = this.file
    this.file = undefined
    await file?.close().catch(() => {})
  }

  async discard(): Promise<void> {
    await this.close()
    await unlink(this.path).catch(() => {})
  }
}

/** Copies chunks the index names out of local artifacts; returns how many were copied. */
export async function reuseLocal(partial: PartialArtifact, paths: string[]): Promise<number> {
  const { index } = partial
  const wanted = new Map<string, number[]>()
  const held = partial.heldChunks()
  for (const [i, h] of index.chunks.entries()) {
    if (held[i]) continue
    const list = wanted.get(h) ?? []
    list.push(i)
    wanted.set(h, list)
  }
  let copied = 0
  for (const path of paths) {
    if (wanted.size === 0) break
    try {
      if (!(await stat(path)).isFile()) continue
    } catch {
      continue
    }
    const file = await open(path, constants.O_RDONLY)
    try {
      const buf = Buffer.allocUnsafe(index.chunkSize)
      for (let at = 0; wanted.size > 0; at += index.chunkSize) {
        const { bytesRead } = await file.read(buf, 0, index.chunkSize, at)
        if (bytesRead === 0) break
        const h = createHash('sha256').update(buf.subarray(0, bytesRead)).digest('hex')
        const targets = wanted.get(h)
        if (targets === undefined) continue
        for (const i of targets) {
          const { start, end } = chunkRange(index, i)
          if (end - start !== bytesRead) continue
          await partial.write(i, buf.subarray(0, bytesRead))
          copied++
        }
        wanted.delete(h)
      }
    } finally {
      await file.close()
    }
  }
  return copied
}

/**
 * Builds the chunk index of the stored artifact `${storeDir}/${sha256}` and stores it as an
 * artifact of its own (derived from verified bytes, so verified too); returns its pin, or
 * undefined when the file is not that artifact.
 */
export async function storeChunkIndex(
  storeDir: string,
  sha256: string,
  chunkSize: number,
  options: AbortOptions = {},
): Promise<ArtifactPin | undefined> {
  const index = await indexFile(join(storeDir, sha256), chunkSize, options)
  if (index.artifact.sha256 !== sha256) return undefined
  const bytes = encodeChunkIndex(index)
  const pin = indexPinOf(bytes)
  try {
    if ((await stat(join(storeDir, pin.sha256))).isFile()) return pin
  } catch {}
  const temp = await TempArtifact.create(storeDir, pin.sha256)
  try {
    await temp.append(bytes)
    await temp.commit()
  } catch (e) {
    await temp.discard()
    throw e
  }
  return pin
}
