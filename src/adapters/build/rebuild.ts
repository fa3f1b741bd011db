/**
 * Rebuilding a release from its signed source, so a co-signer need not trust whoever built the
 * artifact: check out the recorded commit in a fresh clone (or take a checkout the maintainer
 * prepared), pack it, and, when the bytes differ, name the first file inside that differs.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { RebuildError } from './errors.ts'
import { gunzipCapped, readTar, TarFormatError, type TarMember } from './tar.ts'

export { RebuildError }

/** Options for {@link checkoutSource}. */
export interface CheckoutOptions {
  /** The git repository to clone from, with node_modules installed (usually the running one). */
  repo: string
  /** Commit to check out: 7 to 64 lower-case hex digits, as a manifest's `source.commit`. */
  commit: string
  /** Parent of the temporary directory. @default os.tmpdir() */
  tmp?: string
  /** Aborts the git commands. */
  signal?: AbortSignal
}

/** A checkout made by {@link checkoutSource}; call `remove` when done with it. */
export interface Checkout {
  /** Root of the checked-out tree, ready for `packRelease`. */
  dir: string
  /** Removes the whole temporary directory (the node_modules link, not its target). */
  remove: () => Promise<void>
}

/**
 * Makes a fresh `git clone --no-local` of `repo` in a temporary directory, checks out `commit`,
 * and links `repo`'s node_modules into it. The link is made only when the checkout's
 * package-lock.json is byte-identical to `repo`'s: dependency versions come from the lockfile
 * alone, so an identical lockfile means an identical install. Otherwise it throws a
 * {@link RebuildError} telling the maintainer to install that commit themselves.
 */
export async function checkoutSource(options: CheckoutOptions): Promise<Checkout> {
  const { commit, signal } = options
  if (!/^[0-9a-f]{7,64}$/.test(commit))
    throw new RebuildError(`source commit "${commit}" is not 7 to 64 lower-case hex digits`)
  const repo = resolve(options.repo)
  const base = await mkdtemp(join(options.tmp ?? tmpdir(), 'convoy-rebuild-'))
  const remove = () => rm(base, { recursive: true, force: true })
  const dir = join(base, 'source')
  const fallback = `check out ${commit} yourself, run \`npm ci\` there and pass --source DIR`
  try {
    // Line endings as committed and no hooks: the machine's git settings must not change bytes.
    const config = ['-c', 'core.autocrlf=false', '-c', 'core.hooksPath=/dev/null']
    const clone = await git(
      [...config, 'clone', '--no-local', '--no-checkout', '--quiet', repo, dir],
      signal,
    )
    if (clone.error !== undefined)
      throw new RebuildError(`cannot clone ${repo} (${clone.error}); ${fallback}`)
    const known = await git(
      ['-C', dir, 'rev-parse', '--quiet', '--verify', `${commit}^{commit}`],
      signal,
    )
    if (known.error !== undefined)
      throw new RebuildError(`commit ${commit} is not in ${repo}: fetch it there, or ${fallback}`)
    const checkout = await git(
      [...config, '-C', dir, 'checkout', '--quiet', '--detach', commit],
      signal,
    )
    if (checkout.error !== undefined)
      throw new RebuildError(`cannot check out ${commit} (${checkout.error}); ${fallback}`)
    const mine = await readFile(join(repo, 'package-lock.json')).catch(() => undefined)
    const theirs = await readFile(join(dir, 'package-lock.json')).catch(() => undefined)
    if (mine === undefined || theirs === undefined || !mine.equals(theirs)) {
      throw new RebuildError(
        `the package-lock.json of commit ${commit} is not this checkout's (${repo}), so its node_modules cannot be reused: run \`npm ci\` in a checkout of ${commit} and pass --source DIR`,
      )
    }
    if ((await stat(join(repo, 'node_modules')).catch(() => undefined))?.isDirectory() !== true)
      throw new RebuildError(`${repo} has no node_modules: run npm ci in ${repo} first`)
    await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir')
    return { dir, remove }
  } catch (e) {
    await remove()
    throw e
  }
}

/** Runs git; resolves with the first line of its complaint instead of rejecting. */
function git(args: string[], signal?: AbortSignal): Promise<{ error?: string }> {
  return new Promise((done) => {
    execFile(
      'git',
      args,
      {
        timeout: 120_000,
        ...(signal ? { signal } : {}),
        env: { ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' },
      },
      (err, _stdout, stderr) => {
        if (err === null) return done({})
        const line = String(stderr)
          .split('\n')
          .map((l) => l.trim())
          .find((l) => l !== '')
        const spawnFailed = (err as NodeJS.ErrnoException).code === 'ENOENT'
        done({ error: spawnFailed ? 'git is not installed' : (line ?? err.message.split('\n')[0]) })
      },
    )
  })
}

/**
 * Names the first difference between two `.tar.gz` artifacts, for a person: the first member, in
 * byte order of its path, whose presence, type, mode or bytes differ, e.g.
 * `convoy-1.2.0/convoy.mjs (sha256 ab12cd34ef56… here, 0123456789ab… in the signed artifact)`.
 * A `PACK.json` is compared last: it lists the other files' hashes, so it differs whenever any
 * of them does, and naming it would hide the file that actually changed.
 * When every member matches, says whether the tar headers or only the gzip stream differ.
 * Throws {@link RebuildError} when either is not a readable tar.gz.
 */
export function firstDifference(here: Uint8Array, signed: Uint8Array): string {
  const tarHere = unpack(here, 'the rebuilt artifact')
  const tarSigned = unpack(signed, 'the signed artifact')
  const a = byPath(readMembers(tarHere, 'the rebuilt artifact'))
  const b = byPath(readMembers(tarSigned, 'the signed artifact'))
  const summary = (p: string) => (p === 'PACK.json' || p.endsWith('/PACK.json') ? 1 : 0)
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort(
    (x, y) => summary(x) - summary(y) || (x < y ? -1 : x > y ? 1 : 0),
  )
  for (const path of paths) {
    const x = a.get(path)
    const y = b.get(path)
    if (x === undefined) return `${path} (only in the signed artifact)`
    if (y === undefined) return `${path} (only here)`
    if (x.type !== y.type) return `${path} (type ${x.type} here, ${y.type} in the signed artifact)`
    if (x.mode !== y.mode)
      return `${path} (mode ${octal(x.mode)} here, ${octal(y.mode)} in the signed artifact)`
    const hx = sha256Hex(x.data)
    const hy = sha256Hex(y.data)
    if (hx !== hy) return `${path} (sha256 ${short(hx)} here, ${short(hy)} in the signed artifact)`
  }
  if (sha256Hex(tarHere) === sha256Hex(tarSigned))
    return 'no file: the tar archives are identical, only the gzip stream differs (another zlib build?)'
  return 'no file: every file matches, but the tar headers differ (times, owners or order)'
}

function unpack(tgz: Uint8Array, what: string): Uint8Array {
  try {
    return gunzipCapped(tgz)
  } catch (e) {
    if (e instanceof TarFormatError) throw new RebuildError(`${what}: ${e.message}`)
    throw e
  }
}

function readMembers(tar: Uint8Array, what: string): TarMember[] {
  try {
    return readTar(tar)
  } catch (e) {
    if (e instanceof TarFormatError)
      throw new RebuildError(`${what} is not a tar archive: ${e.message}`)
    throw e
  }
}

function byPath(members: TarMember[]): Map<string, TarMember> {
  return new Map(members.map((m) => [m.path, m]))
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0')
}

/** The first 12 hex digits of a hash and an ellipsis: enough to tell two apart in a message. */
export function short(hex: string): string {
  return `${hex.slice(0, 12)}…`
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
