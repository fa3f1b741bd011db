import { DEFAULT_SOURCE_DIR, PackError, packRelease } from '../../adapters/build/pack.ts'
import { writeFileAtomic } from '../../adapters/fs/atomic.ts'
import { isVersion } from '../../core/version/version.ts'
import { CliError } from '../errors.ts'
import { type CliContext, type CommandOutput, parse, required } from '../io.ts'

const PACK_USAGE =
  'convoy release pack --version V --out FILE [--migration SCRIPT.mjs [--migration-down SCRIPT.mjs]] [--source DIR]'
const VERSION_USAGE = 'convoy version'

/**
 * `release pack`: bundles a convoy source tree (default: the checkout this convoy runs from) into
 * a byte-reproducible `.tar.gz` that runs with plain `node`, and writes it atomically to --out.
 */
export async function releasePack(argv: string[], _ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(
    argv,
    {
      version: { type: 'string' },
      out: { type: 'string' },
      migration: { type: 'string' },
      'migration-down': { type: 'string' },
      source: { type: 'string' },
    },
    PACK_USAGE,
  )
  const version = required(values.version, '--version', PACK_USAGE)
  const out = required(values.out, '--out', PACK_USAGE)
  if (!isVersion(version))
    throw new CliError(`--version "${version}" is not a semver version like 1.2.3`, 2)
  const started = performance.now()
  let packed: Awaited<ReturnType<typeof packRelease>>
  try {
    packed = await packRelease({
      sourceDir: values.source ?? DEFAULT_SOURCE_DIR,
      version,
      ...(values.migration !== undefined ? { migration: values.migration } : {}),
      ...(values['migration-down'] !== undefined
        ? { migrationDown: values['migration-down'] }
        : {}),
    })
  } catch (e) {
    if (e instanceof PackError) throw new CliError(e.message)
    throw e
  }
  try {
    await writeFileAtomic(out, packed.bytes)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new CliError(`--out ${out}: cannot write (${code ?? (e as Error).message})`)
  }
  const ms = Math.round(performance.now() - started)
  return {
    text: [
      `wrote ${out}`,
      `sha256:      ${packed.sha256}`,
      `bytes:       ${packed.bytes.length}`,
      `commit:      ${packed.commit}`,
      `pack tool:   ${packed.packTool}`,
      `files:       ${packed.files.map((f) => `${f.path} (${f.size})`).join(', ')}`,
      `packed in ${ms} ms`,
    ].join('\n'),
    json: {
      file: out,
      version,
      sha256: packed.sha256,
      length: packed.bytes.length,
      commit: packed.commit,
      packTool: packed.packTool,
      files: packed.files,
    },
  }
}

/** `version`: the version of this build, from its package.json (stamped by `release pack`). */
export async function version(argv: string[]): Promise<CommandOutput> {
  const { positionals } = parse(argv, {}, VERSION_USAGE)
  if (positionals.length > 0)
    throw new CliError(`unexpected argument "${positionals[0]}"\nusage: ${VERSION_USAGE}`, 2)
  // The same import as CONVOY_VERSION in the libp2p adapter; in a packed build esbuild replaces
  // this package.json with one carrying the packed version.
  const pkg = (await import('../../../package.json', { with: { type: 'json' } })).default
  return { text: `convoy ${pkg.version}`, json: { version: pkg.version } }
}
