/**
 * The errors of files (home, data directory, key files, atomic writes).
 * Each sets `name`; its message says what was wrong and what to do.
 */

/** Thrown when the target exists and overwriting was refused. */
export class FileExistsError extends Error {
  override name = 'FileExistsError'
  readonly path: string
  constructor(path: string) {
    super(`${path} already exists; choose another path or remove it first`)
    this.path = path
  }
}

/** The home cannot do what was asked; `message` says what and what to do. */
export class HomeError extends Error {
  override name = 'HomeError'
}

/** The data directory cannot be used; `message` says why and what to do. */
export class DataDirError extends Error {
  override name = 'DataDirError'
}

/** A key file could not be read, decrypted or trusted. `message` says what to do. */
export class KeyFileError extends Error {
  override name = 'KeyFileError'
}
