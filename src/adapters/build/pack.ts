/**
 * Packs a release artifact of convoy: one esbuild bundle plus a small manifest in a
 * deterministic `.tar.gz`, so that anyone with the same source tree (and its lockfile's
 * node_modules) gets the same bytes, and a node can run it with plain `node`, no npm install.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile, realpath, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type * as EsbuildModule from 'esbuild'
import { isVersion } from '../../core/version/version.ts'
import { PackError } from './errors.ts'
import {
  createTar,
  gunzipCapped,
  gzipDeterministic,
  readTar,
  type TarEntry,
  TarFormatError,
} from './tar.ts'

export { PackError }

/** Name and version of the packing recipe; bump it whenever the artifact layout changes. */
export const PACK_TOOL = 'convoy-pack/1'

/** The esbuild target: the oldest Node that convoy's engines field accepts is 22. */
export const PACK_TARGET = 'node22'

/** The repository this convoy runs from (three levels above this file in a source checkout). */
export const DEFAULT_SOURCE_DIR: string = fileURLToPath(new URL('../../..', import.meta.url))

/** Options for {@link packRelease}. */
export interface PackOptions {
  /** Root of a convoy source tree with its node_modules installed. */
  sourceDir: string
  /** Semver version to stamp into the bundle, package.json and PACK.json. */
  version: string
  /** Path of a migration script to ship as `migrate.mjs`, copied byte for byte. */
  migration?: string
  /** Path of its reverse, shipped as `migrate-down.mjs` (run by a rollback), byte for byte. */
  migrationDown?: string
  /** Aborts between steps (the bundling step itself runs to completion). */
  signal?: AbortSignal
}

/** One file of the artifact as recorded in PACK.json. */
export interface PackedFile {
  /** Path inside the archive, e.g. `convoy-1.2.0/convoy.mjs`. */
  path: string
  /** Lowercase hex sha256 of the file. */
  sha256: string
  /** Bytes. */
  size: number
}

/** What {@link packRelease} built. */
export interface PackResult {
  /** The `.tar.gz` artifact. */
  bytes: Uint8Array
  /** Lowercase hex sha256 of `bytes`. */
  sha256: string
  /** `git rev-parse HEAD` of the source tree, or `unknown` outside git. */
  commit: string
  /**
   * {@link PACK_TOOL} and the esbuild version joined by `+`, e.g. `convoy-pack/1+esbuild/0.28.2`:
   * one token without spaces, so it goes into a manifest's `source.packTool` unchanged.
   */
  packTool: string
  /** Every file in the archive (PACK.json included), in archive order: sorted by path. */
  files: PackedFile[]
}

type Esbuild = typeof EsbuildModule

/**
 * Bundles `src/cli/main.ts` of `sourceDir` and packs it. Byte-reproducible: the output depends
 * only on the source files, the installed dependencies, the version and the migration script,
 * not on paths, mtimes, owners, umask, locale or time.
 */
export async function packRelease(options: PackOptions): Promise<PackResult> {
  const { version, signal } = options
  if (!isVersion(version))
    throw new PackError(`version "${version}" is not a semver version like 1.2.3`)
  const sourceDir = await realpathOrFail(resolve(options.sourceDir), 'source directory')
  if (!(await isFile(join(sourceDir, 'src/cli/main.ts'))))
    throw new PackError(`${sourceDir} is not a convoy source tree: no src/cli/main.ts`)
  if (!(await isDir(join(sourceDir, 'node_modules'))))
    throw new PackError(`${sourceDir} has no node_modules: run npm ci in ${sourceDir} first`)
  const readScript = async (path: string | undefined, what: string) => {
    if (path === undefined) return undefined
    try {
      return new Uint8Array(await readFile(path))
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      throw new PackError(
        code === 'ENOENT'
          ? `${what} ${path}: no such file`
          : `${what} ${path}: cannot read (${code ?? (e as Error).message})`,
      )
    }
  }
  const migration = await readScript(options.migration, 'migration')
  const migrationDown = await readScript(options.migrationDown, 'reverse migration')
  if (migrationDown !== undefined && migration === undefined)
    throw new PackError('a reverse migration (--migration-down) needs its migration (--migration)')
  signal?.throwIfAborted()
  const esbuild = await loadEsbuild(sourceDir)
  const packTool = `${PACK_TOOL}+esbuild/${esbuild.version}`
  const pkg = await readPackageJson(sourceDir)
  signal?.throwIfAborted()
  const bundle = await bundleConvoy(esbuild, sourceDir, pkg, version)
  signal?.throwIfAborted()
  const commit = await gitCommit(sourceDir, signal)

  const top = `convoy-${version}/`
  const packageJson = encode(
    `${JSON.stringify({ name: 'convoy', version, type: 'module', bin: { convoy: 'convoy.mjs' } }, null, 2)}\n`,
  )
  const payload: TarEntry[] = [
    { path: `${top}convoy.mjs`, data: bundle, mode: 0o755 },
    { path: `${top}package.json`, data: packageJson, mode: 0o644 },
  ]
  if (migration !== undefined)
    payload.push({ path: `${top}migrate.mjs`, data: migration, mode: 0o644 })
  if (migrationDown !== undefined)
    payload.push({ path: `${top}migrate-down.mjs`, data: migrationDown, mode: 0o644 })
  const described = payload.map(describe)
  const packJson = encode(
    `${JSON.stringify(
      {
        version,
        commit,
        packTool,
        target: PACK_TARGET,
        engines: { node: engineOf(pkg) },
        files: Object.fromEntries(
          described
            .map((f) => [f.path.slice(top.length), { sha256: f.sha256, size: f.size }] as const)
            .sort(([a], [b]) => compare(a, b)),
        ),
      },
      null,
      2,
    )}\n`,
  )
  const entries: TarEntry[] = [
    { path: top, data: new Uint8Array(0), mode: 0o755 },
    ...payload,
    { path: `${top}PACK.json`, data: packJson, mode: 0o644 },
  ].sort((a, b) => compare(a.path, b.path))
  const bytes = gzipDeterministic(createTar(entries))
  return {
    bytes,
    sha256: sha256Hex(bytes),
    commit,
    packTool,
    files: entries.filter((e) => e.path !== top).map(describe),
  }
}

/** What an artifact's PACK.json says about how it was made. */
export interface PackInfo {
  /** Path of PACK.json inside the archive, e.g. `convoy-1.2.0/PACK.json`. */
  path: string
  /** The version stamped into the build. */
  version: string
  /** The source commit it was packed from, or `unknown` when packed outside git. */
  commit: string
  /** {@link PackResult.packTool} of the packer that made it. */
  packTool: string
}

/**
 * Reads PACK.json out of a `.tar.gz` made by {@link packRelease}: the one file named
 * `convoy-<version>/PACK.json`. Throws {@link PackError} (one line) when the bytes are not such
 * an artifact.
 */
export function readPackInfo(tgz: Uint8Array): PackInfo {
  let members: ReturnType<typeof readTar>
  try {
    members = readTar(gunzipCapped(tgz))
  } catch (e) {
    if (e instanceof TarFormatError) throw new PackError(`not a convoy pack: ${e.message}`)
    throw e
  }
  const found = members.filter((m) => m.type === '0' && /^convoy-[^/]+\/PACK\.json$/.test(m.path))
  if (found.length !== 1)
    throw new PackError('not a convoy pack: no convoy-<version>/PACK.json inside')
  const entry = found[0]!
  let info: Record<string, unknown>
  try {
    const parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(entry.data))
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object')
    info = parsed as Record<string, unknown>
  } catch (e) {
    throw new PackError(`${entry.path}: not valid JSON (${(e as Error).message.split('\n')[0]})`)
  }
  const field = (name: string): string => {
    const v = info[name]
    if (typeof v !== 'string' || v === '' || v.length > 256)
      throw new PackError(`${entry.path}: "${name}" is missing or not a string`)
    return v
  }
  return {
    path: entry.path,
    version: field('version'),
    commit: field('commit'),
    packTool: field('packTool'),
  }
}

/**
 * Runs esbuild on a generated entry that imports `main` and calls it (main.ts only exports it;
 * bin/convoy.js is the caller in a checkout). Every option that could vary is pinned.
 */
async function bundleConvoy(
  esbuild: Esbuild,
  sourceDir: string,
  pkg: Record<string, unknown>,
  version: string,
): Promise<Uint8Array> {
  const pkgPath = join(sourceDir, 'package.json')
  let result: Awaited<ReturnType<Esbuild['build']>>
  try {
    result = await esbuild.build({
      stdin: {
        contents: "import { main } from './src/cli/main.ts'\nawait main()\n",
        resolveDir: sourceDir,
        sourcefile: 'convoy-entry.ts',
        loader: 'ts',
      },
      absWorkingDir: sourceDir,
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: PACK_TARGET,
      // The shebang makes convoy.mjs runnable by itself.
      banner: { js: '#!/usr/bin/env node' },
      charset: 'utf8',
      legalComments: 'inline',
      minify: false,
      sourcemap: false,
      metafile: false,
      treeShaking: true,
      logLevel: 'silent',
      // node_modules may be a symlink (a worktree sharing one install): without this esbuild
      // follows it and the `// path` comments in the bundle would name where it points.
      preserveSymlinks: true,
      // The packer itself loads esbuild at run time; a bundle never carries it.
      external: ['esbuild'],
      plugins: [
        {
          name: 'convoy-version',
          setup(build) {
            build.onLoad({ filter: /[\\/]package\.json$/ }, (args) =>
              args.path === pkgPath
                ? { contents: JSON.stringify({ ...pkg, version }), loader: 'json' }
                : undefined,
            )
          },
        },
      ],
    })
  } catch (e) {
    const first = (e as { errors?: { text: string; location?: { file: string; line: number } }[] })
      .errors?.[0]
    const where = first?.location ? `${first.location.file}:${first.location.line}: ` : ''
    throw new PackError(
      `bundling failed: ${first ? `${where}${first.text}` : (e as Error).message.split('\n')[0]}`,
    )
  }
  const file = result.outputFiles?.[0]
  if (file === undefined || result.outputFiles?.length !== 1)
    throw new PackError('bundling failed: esbuild did not produce exactly one file')
  return file.contents
}

/**
 * Prefers the esbuild installed in the source tree, so that its lockfile decides the bundler as
 * it decides every other dependency; falls back to the one this convoy runs with.
 */
async function loadEsbuild(sourceDir: string): Promise<Esbuild> {
  let specifier = 'esbuild'
  try {
    specifier = pathToFileURL(
      createRequire(join(sourceDir, 'package.json')).resolve('esbuild'),
    ).href
  } catch {
    // Not in the source tree: use ours.
  }
  try {
    const mod = (await import(specifier)) as Esbuild & { default?: Esbuild }
    return typeof mod.build === 'function' ? mod : (mod.default as Esbuild)
  } catch {
    throw new PackError(
      'release pack needs esbuild, a dev dependency: run it from a convoy source checkout after npm ci',
    )
  }
}

async function readPackageJson(sourceDir: string): Promise<Record<string, unknown>> {
  const path = join(sourceDir, 'package.json')
  try {
    const pkg = JSON.parse(await readFile(path, 'utf8')) as unknown
    if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg))
      throw new Error('not an object')
    return pkg as Record<string, unknown>
  } catch (e) {
    throw new PackError(`${path}: cannot read (${(e as Error).message.split('\n')[0]})`)
  }
}

function engineOf(pkg: Record<string, unknown>): string {
  const engines = pkg.engines as Record<string, unknown> | undefined
  return typeof engines?.node === 'string' ? engines.node : '*'
}

/** `git rev-parse HEAD` in the source tree; `unknown` when it is not a git checkout. */
function gitCommit(dir: string, signal?: AbortSignal): Promise<string> {
  return new Promise((done) => {
    execFile(
      'git',
      ['-C', dir, 'rev-parse', '--verify', 'HEAD'],
      { timeout: 10_000, ...(signal ? { signal } : {}), env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout) => {
        const commit = String(stdout).trim()
        done(err === null && /^[0-9a-f]{40,64}$/.test(commit) ? commit : 'unknown')
      },
    )
  })
}

function describe(e: TarEntry): PackedFile {
  return { path: e.path, sha256: sha256Hex(e.data), size: e.data.length }
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

function encode(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

/** Byte order, not locale order: the same on every machine. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

async function realpathOrFail(path: string, what: string): Promise<string> {
  try {
    return await realpath(path)
  } catch (e) {
    throw new PackError(
      `${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : `cannot read (${(e as NodeJS.ErrnoException).code})`}`,
    )
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() === true
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true
}
