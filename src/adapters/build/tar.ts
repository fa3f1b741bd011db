/**
 * A minimal, deterministic ustar writer for release artifacts, and the reader that takes one
 * apart again (to read PACK.json and to name the file that differs between two builds).
 *
 * Written here rather than taken from `tar-stream` or `tar`: a release artifact must be
 * byte-reproducible, so every header field is set by us (no mtimes, owners, umask or locale from
 * the build machine), and the format we need (regular files, one directory, short names) is
 * about a hundred lines. Pure: bytes in, bytes out.
 */
import { gunzipSync, gzipSync } from 'node:zlib'
import { concatBytes } from '../../core/bytes.ts'
import { TarFormatError } from './errors.ts'

export { TarFormatError }

/** One member of the archive. */
export interface TarEntry {
  /** Path inside the archive, `/`-separated; a directory ends with `/`. */
  path: string
  /** File contents; ignored (and must be empty) for a directory. */
  data: Uint8Array
  /** Permission bits, e.g. 0o644. */
  mode: number
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
  const trailer = 2 * BLOCK + ((RECORD - ((total + 2 * BLOCK) % RECORD)) % RECORD)
  chunks.push(new Uint8Array(trailer))
  return concatBytes(...chunks)
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

/** One member as read back by {@link readTar}. */
export interface TarMember extends TarEntry {
  /** The ustar type flag as a character: `0` a file, `5` a directory, anything else kept as read. */
  type: string
}

/** Largest archive {@link gunzipCapped} inflates by default: 256 MiB. */
export const MAX_UNPACKED_BYTES: number = 256 * 1024 ** 2

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Inflates a gzip stream, refusing more than `maxBytes` of output (a gzip bomb) and anything that
 * is not gzip. Throws {@link TarFormatError} with one line for a person.
 */
export function gunzipCapped(data: Uint8Array, maxBytes: number = MAX_UNPACKED_BYTES): Uint8Array {
  try {
    return new Uint8Array(gunzipSync(data, { maxOutputLength: maxBytes }))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ERR_BUFFER_TOO_LARGE')
      throw new TarFormatError(`unpacks to more than ${maxBytes} bytes`)
    throw new TarFormatError(`not a gzip stream (${code ?? (e as Error).message})`)
  }
}

/**
 * Reads the members of an uncompressed ustar archive, in archive order. Checks each header's
 * checksum and that every member fits in the bytes given; stops at the first zero block.
 * Throws {@link TarFormatError} on anything malformed, never reads past the end.
 */
export function readTar(tar: Uint8Array): TarMember[] {
  const members: TarMember[] = []
  let at = 0
  while (at + BLOCK <= tar.length) {
    const h = tar.subarray(at, at + BLOCK)
    if (h.every((b) => b === 0)) return members
    let sum = 0
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!
    const recorded = readOctal(h, 148, 8, at)
    if (recorded !== sum) throw new TarFormatError(`bad header checksum at offset ${at}`)
    const name = readString(h, 0, 100, at)
    const prefix = readString(h, 345, 155, at)
    const path = prefix === '' ? name : `${prefix}/${name}`
    const size = readOctal(h, 124, 12, at)
    const mode = readOctal(h, 100, 8, at)
    const flag = h[156] === 0 ? '0' : String.fromCharCode(h[156]!)
    const start = at + BLOCK
    if (start + size > tar.length)
      throw new TarFormatError(`${path}: ${size} bytes run past the end of the archive`)
    members.push({ path, data: tar.slice(start, start + size), mode, type: flag })
    at = start + size + ((BLOCK - (size % BLOCK)) % BLOCK)
  }
  // A writer that omits the end-of-archive blocks still leaves every member readable.
  if (at < tar.length) throw new TarFormatError(`truncated header at offset ${at}`)
  return members
}

function readString(h: Uint8Array, offset: number, length: number, at: number): string {
  const field = h.subarray(offset, offset + length)
  const end = field.indexOf(0)
  try {
    return decoder.decode(end === -1 ? field : field.subarray(0, end))
  } catch {
    throw new TarFormatError(`header at offset ${at}: a name is not valid UTF-8`)
  }
}

function readOctal(h: Uint8Array, offset: number, length: number, at: number): number {
  const text = String.fromCharCode(...h.subarray(offset, offset + length))
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '')
  if (!/^[0-7]{1,12}$/.test(text))
    throw new TarFormatError(`header at offset ${at}: a numeric field is not octal`)
  return Number.parseInt(text, 8)
}
