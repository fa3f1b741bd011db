/**
 * A minimal, deterministic ustar writer for release artifacts.
 *
 * Written here rather than taken from `tar-stream` or `tar`: a release artifact must be
 * byte-reproducible, so every header field is set by us (no mtimes, owners, umask or locale from
 * the build machine), and the format we need (regular files, one directory, short names) is
 * about a hundred lines. Pure: bytes in, bytes out.
 */
import { gzipSync } from 'node:zlib'

/** One member of the archive. */
export interface TarEntry {
  /** Path inside the archive, `/`-separated; a directory ends with `/`. */
  path: string
  /** File contents; ignored (and must be empty) for a directory. */
  data: Uint8Array
  /** Permission bits, e.g. 0o644. */
  mode: number
}

/** A path or size the ustar format cannot hold, or a malformed entry. */
export class TarFormatError extends Error {
  override name = 'TarFormatError'
}

const BLOCK = 512
/** GNU and BSD tar write archives in 10 KiB records; padding to one keeps every reader quiet. */
const RECORD = 20 * BLOCK
const MAX_SIZE = 8 ** 11 - 1
const encoder = new TextEncoder()

/**
 * Builds an uncompressed ustar archive. Entries are written in the order given; owner is 0/0
 * with empty names, mtime is 0 (1970-01-01), device numbers are 0.
 */
export function createTar(entries: readonly TarEntry[]): Uint8Array {
  const chunks: Uint8Array[] = []
  let total = 0
  for (const entry of entries) {
    const isDir = entry.path.endsWith('/')
    if (isDir && entry.data.length > 0)
      throw new TarFormatError(`${entry.path}: a directory has no data`)
    const header = makeHeader(entry.path, isDir ? 0 : entry.data.length, entry.mode, isDir)
    chunks.push(header)
    total += BLOCK
    if (!isDir) {
      chunks.push(entry.data)
      const pad = (BLOCK - (entry.data.length % BLOCK)) % BLOCK
      chunks.push(new Uint8Array(pad))
      total += entry.data.length + pad
    }
  }
  // Two zero blocks end the archive; then pad to a whole record.
  total += 2 * BLOCK
  total += (RECORD - (total % RECORD)) % RECORD
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

function makeHeader(path: string, size: number, mode: number, isDir: boolean): Uint8Array {
  if (size > MAX_SIZE) throw new TarFormatError(`${path}: ${size} bytes is too large for ustar`)
  const { name, prefix } = splitPath(path)
  const h = new Uint8Array(BLOCK)
  writeString(h, 0, 100, name)
  writeOctal(h, 100, 8, mode & 0o7777)
  writeOctal(h, 108, 8, 0) // uid
  writeOctal(h, 116, 8, 0) // gid
  writeOctal(h, 124, 12, size)
  writeOctal(h, 136, 12, 0) // mtime
  h.fill(0x20, 148, 156) // checksum is computed with its own field as spaces
  h[156] = isDir ? 0x35 : 0x30 // '5' directory, '0' regular file
  writeString(h, 257, 6, 'ustar') // NUL-terminated magic
  writeString(h, 263, 2, '00')
  // uname, gname, devmajor, devminor stay empty/zero.
  writeString(h, 345, 155, prefix)
  let sum = 0
  for (const b of h) sum += b
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  return h
}

/** ustar holds 100 bytes of name and 155 of prefix, split at a `/`. */
function splitPath(path: string): { name: string; prefix: string } {
  const bytes = encoder.encode(path)
  if (bytes.length <= 100) return { name: path, prefix: '' }
  for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i)
    const name = path.slice(i + 1)
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100)
      return { name, prefix }
  }
  throw new TarFormatError(`${path}: path too long for ustar`)
}

function writeString(h: Uint8Array, offset: number, length: number, s: string): void {
  const bytes = encoder.encode(s)
  if (bytes.length > length) throw new TarFormatError(`"${s}" does not fit in ${length} bytes`)
  h.set(bytes, offset)
}

function writeOctal(h: Uint8Array, offset: number, length: number, n: number): void {
  // length-1 octal digits, then NUL, as POSIX and GNU tar write them.
  writeString(h, offset, length, `${n.toString(8).padStart(length - 1, '0')}\0`)
}

/**
 * gzip with fixed settings: level 9, default window and memory, header mtime 0 (Node never
 * writes one) and the OS byte forced to 255 ("unknown"), which zlib otherwise sets from the
 * platform it was built for. The compressed stream is reproducible for a given zlib build; the
 * tar inside is reproducible everywhere.
 */
export function gzipDeterministic(data: Uint8Array): Uint8Array {
  const gz = new Uint8Array(gzipSync(data, { level: 9, memLevel: 8, windowBits: 15, strategy: 0 }))
  gz[9] = 0xff
  return gz
}
