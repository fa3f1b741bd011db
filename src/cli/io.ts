/**
 * Shared plumbing for CLI commands: errors with exit codes, reading documents with size caps,
 * passphrases, durations and output.
 */
import { open } from 'node:fs/promises'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import type { Envelope } from '../core/manifest/envelope.ts'
import { decodeRelease, MAX_RELEASE_BYTES, type ReleaseSigned } from '../core/manifest/release.ts'
import { decodeRoot, MAX_ROOT_BYTES, type RootSigned } from '../core/manifest/root.ts'
import type { Result } from '../core/result.ts'
import { CliError } from './errors.ts'

/** What a command hands back: a line or table for people, an object for `--json`. */
export interface CommandOutput {
  text: string
  json: Record<string, unknown>
}

/** The environment a command runs in; tests and the walk-through pass their own. */
export interface CliContext {
  env: NodeJS.ProcessEnv
  /** Current time in ms since the epoch. */
  now: () => number
  /** Reads a passphrase from the terminal; undefined when there is none. */
  prompt?: (question: string) => Promise<string>
  /**
   * Says one line that is not the command's result (stderr, `convoy: warning: ...`), so stdout
   * stays the result alone, also with --json. `run` supplies it when the caller did not.
   */
  warn?: (message: string) => void
}

/** What {@link parse} returns for `options` (plus the `--json` every command takes). */
export type ParsedArgs<T extends NonNullable<ParseArgsConfig['options']>> = ReturnType<
  typeof parseArgs<{
    args: string[]
    options: T & { json: { type: 'boolean' } }
    allowPositionals: true
    strict: true
  }>
>

/** Parses options strictly; unknown options are a usage error naming the option. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
): ParsedArgs<T> {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (e) {
    throw new CliError(`${(e as Error).message.split('\n')[0]}\nusage: ${usage}`, 2)
  }
}

/** Asserts a required option is present. */
export function required<T>(value: T | undefined, flag: string, usage: string): T {
  if (value === undefined || value === '') throw new CliError(`missing ${flag}\nusage: ${usage}`, 2)
  return value
}

/** Parses "90s", "10m", "24h", "30d" or "0" into seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim())
  if (m === null)
    throw new CliError(
      `${flag} "${text}" is not a duration: use a number with s, m, h or d, like 24h`,
      2,
    )
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return n * { s: 1, m: 60, h: 3600, d: 86400 }[unit as 's' | 'm' | 'h' | 'd']
}

/** Parses a number option within [min, max]. */
export function parseNumber(
  text: string,
  flag: string,
  min: number,
  max: number,
  integer = false,
): number {
  const n = Number(text)
  if (
    text.trim() === '' ||
    !Number.isFinite(n) ||
    n < min ||
    n > max ||
    (integer && !Number.isInteger(n))
  ) {
    throw new CliError(
      `${flag} "${text}" must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`,
      2,
    )
  }
  return n
}

/** Reads at most `maxBytes` of a file; a larger file is refused before it is read whole. */
export async function readCapped(path: string, maxBytes: number): Promise<Uint8Array> {
  let fh: Awaited<ReturnType<typeof open>>
  try {
    fh = await open(path, 'r')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new CliError(
      code === 'ENOENT'
        ? `${path}: no such file`
        : `${path}: cannot read (${code ?? (e as Error).message})`,
    )
  }
  try {
    const { size } = await fh.stat()
    if (size > maxBytes)
      throw new CliError(`${path}: too large: ${size} bytes, the limit is ${maxBytes}`)
    const buf = Buffer.alloc(size)
    const { bytesRead } = await fh.read(buf, 0, size, 0)
    return new Uint8Array(buf.subarray(0, bytesRead))
  } catch (e) {
    if (e instanceof CliError) throw e
    // E.g. EISDIR: the path names a directory.
    const code = (e as NodeJS.ErrnoException).code
    throw new CliError(`${path}: cannot read (${code ?? (e as Error).message})`)
  } finally {
    await fh.close()
  }
}

/** Unwraps a core result or throws a CliError prefixed with the file name. */
export function unwrap<T>(result: Result<T>, path: string): T {
  if (!result.ok) throw new CliError(`${path}: ${result.reason}`)
  return result.value
}

/** Reads and shape-checks a root file (signatures not checked). */
export async function readRootFile(
  path: string,
): Promise<{ env: Envelope<RootSigned>; bytes: Uint8Array }> {
  const bytes = await readCapped(path, MAX_ROOT_BYTES)
  return { env: unwrap(decodeRoot(bytes), path), bytes }
}

/** Reads and shape-checks a release file (signatures not checked). */
export async function readReleaseFile(
  path: string,
): Promise<{ env: Envelope<ReleaseSigned>; bytes: Uint8Array }> {
  const bytes = await readCapped(path, MAX_RELEASE_BYTES)
  return { env: unwrap(decodeRelease(bytes), path), bytes }
}

/**
 * Gets a passphrase from the environment variable `varName`, or from the terminal. Never from
 * argv: command lines are visible to every user of the machine.
 */
export async function getPassphrase(
  ctx: CliContext,
  varName: string,
  purpose: string,
): Promise<string> {
  const fromEnv = ctx.env[varName]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  if (ctx.prompt === undefined) {
    throw new CliError(
      `${purpose} needs a passphrase: set ${varName} or run in a terminal to be prompted`,
    )
  }
  return ctx.prompt(`Passphrase (${purpose}): `)
}

/** Formats a short key id with its holder's name, if known. */
export function keyLabel(keyid: string, name?: string): string {
  return name ? `${keyid.slice(0, 12)} (${name})` : keyid.slice(0, 12)
}

/** The time of day for log lines, `HH:MM:SS.mmm` (UTC). */
export function stamp(): string {
  return new Date().toISOString().slice(11, 23)
}

/**
 * Imports a module of the checkout's simulations/ at run time, by a computed URL: a packed release
 * (`convoy release pack`) bundles the node and its CLI, not the simulator or the testnet, so every
 * node's artifact stays as small as it was. In a packed release the command says where to run it.
 */
export async function importSimulations<T>(
  file: string,
  what: string,
  command: string,
): Promise<T> {
  try {
    return (await import(new URL(`../../simulations/${file}`, import.meta.url).href)) as T
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND')
      throw new CliError(
        `this convoy has no ${what} (a packed release ships without simulations/): run \`convoy ${command}\` from a source checkout`,
      )
    throw e
  }
}

/** A release version as the CLI takes it (`1.4.0`, `2.0.0-rc.1`). */
const VERSION_OPTION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/

/** Checks a version argument; a usage error (exit 2) naming the flag otherwise. */
export function parseVersion(text: string, flag: string, usage?: string): string {
  if (!VERSION_OPTION_RE.test(text))
    throw new CliError(
      `${flag} "${text}" is not a version like 1.4.0${usage ? `\nusage: ${usage}` : ''}`,
      2,
    )
  return text
}
