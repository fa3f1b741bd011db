/**
 * `convoy release rebuild-check`: rebuild a release's `node` artifact from the source its
 * manifest records and compare the bytes, so a co-signer need not trust whoever built it.
 */
import { createHash } from 'node:crypto'
import { DEFAULT_SOURCE_DIR, PackError, packRelease } from '../../adapters/build/pack.ts'
import {
  type Checkout,
  checkoutSource,
  firstDifference,
  RebuildError,
  short,
} from '../../adapters/build/rebuild.ts'
import { MAX_UNPACKED_BYTES } from '../../adapters/build/tar.ts'
import { convoyHome, writeReproduced } from '../../adapters/fs/reproduced.ts'
import { formatTime } from '../../core/manifest/draft.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  parse,
  readCapped,
  readReleaseFile,
  required,
} from '../io.ts'
import { sameCommit } from './release.ts'

const REBUILD_USAGE =
  'convoy release rebuild-check FILE [--source DIR] [--artifact FILE.tgz] [--migration SCRIPT.mjs [--migration-down SCRIPT.mjs]]'

/**
 * `release rebuild-check`: packs the manifest's recorded source (`--source DIR`, or a fresh clone
 * of the repository this convoy runs from at `source.commit`) with the manifest's version, and
 * compares sha256 and length with `artifacts.node`. Exit 0 and a record in
 * `$CONVOY_HOME/reproduced/` only on a byte match; otherwise exit 1 naming the first file inside
 * the archive that differs (when `--artifact` gives the signed artifact's bytes).
 */
export async function releaseRebuildCheck(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(
    argv,
    {
      source: { type: 'string' },
      artifact: { type: 'string' },
      migration: { type: 'string' },
      'migration-down': { type: 'string' },
    },
    REBUILD_USAGE,
  )
  const file = required(positionals[0], 'FILE', REBUILD_USAGE)
  if (positionals.length > 1)
    throw new CliError(`unexpected argument "${positionals[1]}"\nusage: ${REBUILD_USAGE}`, 2)
  const { env } = await readReleaseFile(file)
  const s = env.signed
  if (s.source === undefined)
    throw new CliError(
      `${file} records no source (commit and pack tool), so there is nothing to rebuild from: draft it with --from-pack`,
    )
  const pin = s.artifacts.node
  if (pin === undefined)
    throw new CliError(
      `${file} pins no \`node\` artifact: rebuild-check reproduces the node artifact that \`convoy release pack\` makes`,
    )
  const source = s.source

  // The signed artifact's bytes, checked against the pin before the (slower) rebuild.
  let signedBytes: Uint8Array | undefined
  if (values.artifact !== undefined) {
    signedBytes = await readCapped(values.artifact, MAX_UNPACKED_BYTES)
    const sha = sha256Hex(signedBytes)
    if (sha !== pin.sha256 || signedBytes.length !== pin.length)
      throw new CliError(
        `--artifact ${values.artifact} is not the artifact ${file} pins (sha256 ${short(sha)}, ${signedBytes.length} bytes; pinned ${short(pin.sha256)}, ${pin.length} bytes)`,
      )
  }

  let checkout: Checkout | undefined
  let packed: Awaited<ReturnType<typeof packRelease>>
  try {
    if (values.source === undefined) {
      checkout = await checkoutSource({ repo: DEFAULT_SOURCE_DIR, commit: source.commit })
    }
    packed = await packRelease({
      sourceDir: checkout?.dir ?? values.source!,
      version: s.version,
      ...(values.migration !== undefined ? { migration: values.migration } : {}),
      ...(values['migration-down'] !== undefined
        ? { migrationDown: values['migration-down'] }
        : {}),
    })
  } catch (e) {
    if (e instanceof PackError || e instanceof RebuildError) throw new CliError(e.message)
    throw e
  } finally {
    await checkout?.remove()
  }
  // A --source checkout at another commit may not stand in for the recorded one, even if the
  // bytes happened to agree: the record and the attestation name the commit.
  if (packed.commit !== 'unknown' && !sameCommit(packed.commit, source.commit))
    throw new CliError(
      `--source ${values.source} is at commit ${packed.commit}, but ${file} was built from ${source.commit}: check that commit out there first`,
    )

  if (packed.sha256 !== pin.sha256 || packed.bytes.length !== pin.length) {
    let detail: string
    if (signedBytes !== undefined) {
      try {
        detail = `differs: ${firstDifference(packed.bytes, signedBytes)}`
      } catch (e) {
        if (!(e instanceof RebuildError)) throw e
        detail = e.message
      }
    } else {
      detail = `pass --artifact FILE (the tarball that was drafted) to name the file that differs`
    }
    const tool =
      packed.packTool === source.packTool
        ? ''
        : `; packed with ${packed.packTool} here, ${source.packTool} by the builder`
    throw new CliError(
      `not reproduced: the rebuild of ${source.commit} is sha256 ${short(packed.sha256)} (${packed.bytes.length} bytes), ${file} pins ${short(pin.sha256)} (${pin.length} bytes)${tool}; ${detail}`,
    )
  }

  const record = await writeReproduced(convoyHome(ctx.env), {
    sha256: pin.sha256,
    commit: source.commit,
    packTool: packed.packTool,
    when: formatTime(ctx.now()),
  })
  return {
    text: [
      `reproduced: ${pin.sha256} from ${source.commit}`,
      `recorded in ${record}; your signature can now declare it: convoy release sign ${file} --key YOUR_KEY`,
    ].join('\n'),
    json: {
      file,
      reproduced: true,
      sha256: pin.sha256,
      length: pin.length,
      commit: source.commit,
      packTool: packed.packTool,
      record,
    },
  }
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
