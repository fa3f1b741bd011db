/**
 * Crash-safe file writes: write a temporary file beside the target, fsync it, then rename (or
 * link, when overwriting is refused), then fsync the directory. A crash at any point leaves the
 * old file or the new one, never half of either.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { link, open, readdir, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { FileExistsError } from './errors.ts'

export { FileExistsError }

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the new file. @default 0o644 */
  mode?: number
  /** Refuse (EEXIST) instead of replacing an existing file. @default false */
  noOverwrite?: boolean
}

/** Writes `data` to `path` atomically. */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `${tempPrefix(path)}${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    options.mode ?? 0o644,
  )
  try {
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    if (options.noOverwrite === true) {
      try {
        await link(tmp, path)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(path)
        throw e
      }
      await unlink(tmp)
    } else {
      await rename(tmp, path)
    }
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw e
  }
  await syncDir(dir)
}

/** The name a temporary file of {@link writeFileAtomic} for `path` starts with. */
function tempPrefix(path: string): string {
  return `.${basename(path)}.`
}

/**
 * Removes the temporary files {@link writeFileAtomic} left beside `path` when the process died
 * mid-write. Call it before the first write to `path`; never rejects.
 */
export async function removeLeftoverTemps(path: string): Promise<void> {
  const dir = dirname(path)
  const prefix = tempPrefix(path)
  for (const f of await readdir(dir).catch(() => []))
    if (f.startsWith(prefix) && f.endsWith('.tmp')) await unlink(join(dir, f)).catch(() => {})
}

/** fsyncs a directory so a rename in it survives a crash; a no-op where the filesystem refuses. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const dh = await open(dir, constants.O_RDONLY)
    try {
      await dh.sync()
    } finally {
      await dh.close()
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
  }
}
