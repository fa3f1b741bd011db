/**
 * Helpers for end-to-end tests of the `convoy` binary: run it as a child process with the Node
 * that runs the tests, in a directory of the test's own, and inspect what it left on disk.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Absolute path of the `convoy` entry point. */
export const CONVOY_BIN: string = fileURLToPath(new URL('../../bin/convoy.js', import.meta.url))

/** What one run of the binary did. */
export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Where and with what environment to run the binary. */
export interface RunOptions {
  cwd: string
  /**
   * Extra environment variables; an `undefined` value removes the variable. CONVOY_HOME defaults
   * to `<cwd>/.convoy-home`, so a test never reads or writes the real `~/.convoy` and each working
   * directory is its own "machine".
   */
  env?: Record<string, string | undefined>
  /** Kills the run after this long, ms. @default 30000 */
  timeout?: number
}

/**
 * The environment of the test process without CONVOY_PASSPHRASE (and without the test runner's
 * own marker, so the child is a plain program), plus `extra`.
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.CONVOY_PASSPHRASE
  delete env.NODE_TEST_CONTEXT
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  return env
}

/** How {@link collect} runs a program. */
export interface CollectOptions {
  cwd: string
  env: NodeJS.ProcessEnv
  /** `pipe` closes stdin at once (no terminal, no prompt); `ignore` gives none. @default 'pipe' */
  stdin?: 'pipe' | 'ignore'
  /** Kills the program after this long, ms. */
  timeout: number
}

/** Runs `command ...args` to the end and collects its exit code and output. */
export function collect(
  command: string,
  args: readonly string[],
  options: CollectOptions,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe'],
      timeout: options.timeout,
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      stdout += c
    })
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      stderr += c
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin?.end()
  })
}

/**
 * Runs `convoy ...args` with the test's Node (`process.execPath`). stdin is a pipe that is closed
 * at once, so the binary never sees a terminal and never prompts.
 */
export function convoy(args: readonly string[], options: RunOptions): Promise<RunResult> {
  return collect(process.execPath, [CONVOY_BIN, ...args], {
    cwd: options.cwd,
    env: cleanEnv({ CONVOY_HOME: join(options.cwd, '.convoy-home'), ...options.env }),
    timeout: options.timeout ?? 30_000,
  })
}

/** A long-running `convoy` process (a node, a supervisor) and everything it printed so far. */
export interface Started {
  child: ChildProcess
  /** stdout and stderr interleaved, as received. */
  output: () => string
}

/** Starts `convoy ...args` without waiting for it; the test stops it. */
export function startConvoy(
  args: readonly string[],
  options: {
    cwd: string
    stdin?: 'pipe' | 'ignore'
    env?: Record<string, string | undefined>
    /** Another convoy CLI to run (a previous release's convoy.mjs). @default this checkout's */
    entry?: string
    /** Flags for node itself, before the script (V8 flags NODE_OPTIONS refuses). */
    execArgv?: readonly string[]
  },
): Started {
  const child = spawn(
    process.execPath,
    [...(options.execArgv ?? []), options.entry ?? CONVOY_BIN, ...args],
    {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe'],
    },
  )
  let out = ''
  const add = (c: string) => {
    out += c
  }
  child.stdout?.setEncoding('utf8').on('data', add)
  child.stderr?.setEncoding('utf8').on('data', add)
  return { child, output: () => out }
}

/**
 * Waits until `output()` matches `pattern` (a child's lines reach its parent a little after the
 * files it writes), failing with everything printed so far after `ms`.
 */
export async function waitForOutput(
  output: () => string,
  pattern: RegExp,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms
  while (!pattern.test(output())) {
    if (Date.now() > end) throw new Error(`no ${pattern} within ${ms} ms in:\n${output()}`)
    await new Promise((res) => setTimeout(res, 50))
  }
}

/** Like {@link convoy}, but fails the test unless the command exits 0. */
export async function convoyOk(args: readonly string[], options: RunOptions): Promise<RunResult> {
  const r = await convoy(args, options)
  assert.equal(
    r.code,
    0,
    `convoy ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
  )
  return r
}

/** A fresh temporary directory; remove it with {@link removeDir}. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `convoy-${prefix}-`))
}

/** Removes a directory made by {@link makeTempDir}. */
export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
}

/** Every file under `dir` (dot files included), by relative path, with its bytes. */
export async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>()
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  for (const e of entries) {
    if (!e.isFile()) continue
    const full = join(e.parentPath, e.name)
    files.set(full.slice(dir.length + 1), await readFile(full))
  }
  return files
}

/** Asserts that no file appeared, vanished or changed, and that no temporary file is left. */
export function assertSameFiles(
  before: ReadonlyMap<string, Buffer>,
  after: ReadonlyMap<string, Buffer>,
): void {
  const tmp = [...after.keys()].filter((f) => f.endsWith('.tmp'))
  assert.deepEqual(tmp, [], `temporary files left behind: ${tmp.join(', ')}`)
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'the set of files changed')
  for (const [name, bytes] of before) {
    assert.ok(bytes.equals(after.get(name)!), `${name} changed`)
  }
}

/**
 * Asserts a refusal: a non-zero exit (or exactly `code`), nothing on stdout, and one line on
 * stderr that contains `reason` and no stack trace.
 */
export function assertRefused(r: RunResult, reason: string, code?: number): void {
  const detail = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`
  if (code === undefined)
    assert.ok(r.code !== 0 && r.code !== null, `expected a failure: ${detail}`)
  else assert.equal(r.code, code, detail)
  assert.equal(r.stdout, '', detail)
  assert.ok(r.stderr.includes(reason), `stderr should mention "${reason}": ${detail}`)
  assert.ok(!r.stderr.includes('    at '), `stack trace on stderr: ${detail}`)
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `stderr is not one line: ${detail}`)
  assert.ok(r.stderr.startsWith('convoy: '), detail)
}
