/** The file an artifact is written into until it is verified and renamed into the store. */
import { createHash, type Hash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, open, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { syncDir } from '../fs/atomic.ts'
import { DiskError } from './errors.ts'

/**
 * The file being fetched: `.${sha256}.${random}.tmp` in the store, created with O_EXCL, with
 * the running hash of everything written so far and the peers that wrote it.
 */
export class TempArtifact {
  private readonly dir: string
  private readonly sha256: string
  private path = ''
  private file: FileHandle | undefined
  private hash: Hash = createHash('sha256')
  offset = 0
  contributors: Set<string> = new Set()

  private constructor(dir: string, sha256: string) {
    this.dir = dir
    this.sha256 = sha256
  }

  static async create(dir: string, sha256: string): Promise<TempArtifact> {
    const temp = new TempArtifact(dir, sha256)
    await temp.openFresh()
    return temp
  }

  private async openFresh(): Promise<void> {
    this.path = join(this.dir, `.${this.sha256}.${randomBytes(6).toString('hex')}.tmp`)
    this.file = await open(
      this.path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
      0o644,
    )
    this.hash = createHash('sha256')
    this.offset = 0
    this.contributors = new Set()
  }

  async append(buf: Uint8Array, from?: string): Promise<void> {
    try {
      let written = 0
      while (written < buf.byteLength) {
        const r = await this.file!.write(
          buf,
          written,
          buf.byteLength - written,
          this.offset + written,
        )
        written += r.bytesWritten
      }
    } catch (e) {
      throw new DiskError(`writing ${this.path} failed`, { cause: e })
    }
    this.hash.update(buf)
    this.offset += buf.byteLength
    if (from !== undefined) this.contributors.add(from)
  }

  /** State to return to if the next provider turns out to be lying. */
  checkpoint(): { offset: number; hash: Hash; contributors: Set<string> } {
    return { offset: this.offset, hash: this.hash.copy(), contributors: new Set(this.contributors) }
  }

  async rollback(to: { offset: number; hash: Hash; contributors: Set<string> }): Promise<void> {
    await this.file!.truncate(to.offset)
    this.offset = to.offset
    this.hash = to.hash
    this.contributors = to.contributors
  }

  /** Hex digest of the bytes so far. Ends the hash: call only at full length. */
  digest(): string {
    return this.hash.digest('hex')
  }

  /** Throws the content away and starts again at offset 0 in a fresh temp file. */
  async restart(): Promise<void> {
    await this.discard()
    await this.openFresh()
  }

  /** fsync, atomic rename into the store, fsync the directory. */
  async commit(): Promise<string> {
    const file = this.file!
    this.file = undefined
    try {
      await file.sync()
    } finally {
      await file.close()
    }
    const target = join(this.dir, this.sha256)
    await rename(this.path, target)
    await syncDir(this.dir)
    return target
  }

  async discard(): Promise<void> {
    const file = this.file
    this.file = undefined
    await file?.close().catch(() => {})
    await unlink(this.path).catch(() => {})
  }
}
