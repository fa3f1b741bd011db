/** `convoy release ...`: drafting, co-signing, merging, verifying and inspecting manifests. */
import { createHash } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import semver from 'semver'
import { PackError, type PackInfo, readPackInfo } from '../../adapters/build/pack.ts'
import { short } from '../../adapters/build/rebuild.ts'
import { MAX_UNPACKED_BYTES } from '../../adapters/build/tar.ts'
import { opensslVerify } from '../../adapters/crypto/ed25519.ts'
import { writeFileAtomic } from '../../adapters/fs/atomic.ts'
import { hashFile } from '../../adapters/fs/hash.ts'
import { convoyHome, readReproduced } from '../../adapters/fs/reproduced.ts'
import { pinChunkIndex } from '../../adapters/libp2p/partial-artifact.ts'
import { bytesEqual } from '../../core/bytes.ts'
import { SchemaError } from '../../core/errors.ts'
import { draftRelease, signDocument } from '../../core/manifest/draft.ts'
import { encodeEnvelope } from '../../core/manifest/envelope.ts'
import {
  type ArtifactPin,
  PLATFORM_RE,
  probationPassesNeeded,
  type ReleaseSigned,
  type ReleaseSource,
  type RolloutPolicy,
  tallyRelease,
  verifyDecodedRelease,
} from '../../core/manifest/release.ts'
import { type RootSigned, verifyAnchorRoot, verifyRootChain } from '../../core/manifest/root.ts'
import { documentDigest, reproducedSigners } from '../../core/manifest/signing.ts'
import { chunkIndexPlatform } from '../../core/net/chunks.ts'
import { BASE_CAPABILITIES } from '../../core/version/rank.ts'
import { isVersion } from '../../core/version/version.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  keyLabel,
  parse,
  parseDuration,
  parseNumber,
  readCapped,
  readReleaseFile,
  readRootFile,
  required,
  unwrap,
} from '../io.ts'
import { loadSigningKey, readKeyFilePublic } from '../keyref.ts'
import { isRevocationPath, revocationMerge, revocationSign, revocationVerify } from './revoke.ts'
import { mergeDocs } from './root.ts'

const DRAFT_USAGE =
  'convoy release draft --root root.json --channel NAME --version V [--sequence N | --previous release.json] (--from-pack FILE.tgz | --artifact PLATFORM=PATH ...) [--window 24h] [--canary 0.02] [--expires 30d] [--min-version V] [--capability C ...] [--adds C ...] [--notes TEXT] [--source-commit HEX] [--pack-tool NAME] --out release.json'
const SIGN_USAGE =
  'convoy release sign FILE --key KEYFILE [--root root.json] [--out FILE] [--passphrase-env VAR] [--no-rebuild-check]'
const MERGE_USAGE = 'convoy release merge A.json B.json ... --out release.json'
const VERIFY_USAGE =
  'convoy release verify FILE --root root.json [--root root-2.json ...] [--channel NAME] [--trusted-sequence N]'
const INSPECT_USAGE = 'convoy release inspect FILE [--root root.json ...]'

/**
 * Resolves the key set to check against: the first --root is the anchor (checked against its own
 * keys), later ones are rotations verified step by step from it.
 */
async function resolveRoot(paths: string[], now: number): Promise<RootSigned> {
  const first = paths[0]!
  const { bytes } = await readRootFile(first)
  const anchor = unwrap(verifyAnchorRoot(bytes, { verify: opensslVerify }), first)
  if (paths.length === 1) {
    // An expired root signs nothing new: say so rather than verify against it.
    return unwrap(verifyRootChain(anchor.signed, [], { now, verify: opensslVerify }), first).root
  }
  const chain = await Promise.all(paths.slice(1).map(async (p) => (await readRootFile(p)).bytes))
  const result = verifyRootChain(anchor.signed, chain, { now, verify: opensslVerify })
  if (!result.ok) throw new CliError(`root chain from ${first}: ${result.reason}`)
  return result.value.root
}

/** `release draft`: an unsigned manifest with hashes and lengths computed from the files. */
export async function releaseDraft(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(
    argv,
    {
      root: { type: 'string' },
      channel: { type: 'string' },
      version: { type: 'string' },
      sequence: { type: 'string' },
      previous: { type: 'string' },
      artifact: { type: 'string', multiple: true },
      window: { type: 'string' },
      canary: { type: 'string' },
      shadow: { type: 'string' },
      probation: { type: 'string' },
      'min-pass': { type: 'string' },
      'min-probation-passes': { type: 'string' },
      'max-downtime': { type: 'string' },
      watch: { type: 'string' },
      'max-failure-share': { type: 'string' },
      'halt-share': { type: 'string' },
      'halt-min': { type: 'string' },
      expires: { type: 'string' },
      'min-version': { type: 'string' },
      capability: { type: 'string', multiple: true },
      adds: { type: 'string', multiple: true },
      notes: { type: 'string' },
      'source-commit': { type: 'string' },
      'pack-tool': { type: 'string' },
      'from-pack': { type: 'string' },
      out: { type: 'string' },
    },
    DRAFT_USAGE,
  )
  const rootPath = required(values.root, '--root', DRAFT_USAGE)
  const channel = required(values.channel, '--channel', DRAFT_USAGE)
  const version = required(values.version, '--version', DRAFT_USAGE)
  const fromPack = values['from-pack']
  const artifactArgs =
    fromPack === undefined
      ? required(values.artifact, '--artifact', DRAFT_USAGE)
      : (values.artifact ?? [])
  const out = required(values.out, '--out', DRAFT_USAGE)
  const { env: root } = await readRootFile(rootPath)
  if (!isVersion(version))
    throw new CliError(`--version "${version}" is not a semver version like 1.2.3`, 2)

  let previous: ReleaseSigned | undefined
  if (values.previous !== undefined) {
    previous = (await readReleaseFile(values.previous)).env.signed
    if (previous.channel !== channel)
      throw new CliError(
        `${values.previous} is for channel "${previous.channel}", not "${channel}"`,
      )
    if (!semver.gt(version, previous.version)) {
      throw new CliError(
        `--version ${version} must be newer than the previous release ${previous.version}`,
      )
    }
  }
  const sequence =
    values.sequence !== undefined
      ? parseNumber(values.sequence, '--sequence', 1, Number.MAX_SAFE_INTEGER, true)
      : previous !== undefined
        ? previous.sequence + 1
        : 1
  if (previous !== undefined && sequence <= previous.sequence) {
    throw new CliError(
      `--sequence ${sequence} must be greater than the previous release's ${previous.sequence}`,
    )
  }

  const artifacts: ReleaseSigned['artifacts'] = {}
  for (const arg of artifactArgs) {
    const eq = arg.indexOf('=')
    const platform = eq > 0 ? arg.slice(0, eq) : ''
    const path = arg.slice(eq + 1)
    if (!PLATFORM_RE.test(platform) || path === '') {
      throw new CliError(
        `--artifact "${arg}": use PLATFORM=PATH with a platform like linux-x64 or node`,
        2,
      )
    }
    if (Object.hasOwn(artifacts, platform))
      throw new CliError(`--artifact: platform ${platform} given twice`, 2)
    try {
      artifacts[platform] = await hashFile(path)
    } catch (e) {
      throw new CliError(
        `--artifact ${platform}=${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      )
    }
    if (artifacts[platform]!.length === 0)
      throw new CliError(`--artifact ${platform}=${path}: the file is empty`)
    if (!artifactArgs.some((a) => a.startsWith(`${chunkIndexPlatform(platform)}=`)))
      await pinChunkIndex(artifacts, platform, path)
  }

  let source: ReleaseSigned['source']
  if (fromPack !== undefined) {
    const packed = await readFromPack(
      fromPack,
      version,
      values['source-commit'],
      values['pack-tool'],
    )
    source = packed.source
    const given = artifacts.node
    if (given === undefined) {
      artifacts.node = packed.pin
      await pinChunkIndex(artifacts, 'node', fromPack)
    } else if (given.sha256 !== packed.pin.sha256 || given.length !== packed.pin.length)
      throw new CliError(
        `--artifact node=... is not the --from-pack file ${fromPack}: the source recorded from its PACK.json would describe another artifact`,
        2,
      )
  } else if (values['source-commit'] !== undefined) {
    source = { commit: values['source-commit'], packTool: values['pack-tool'] ?? 'unknown' }
  }

  const rollout: Partial<RolloutPolicy> = {}
  if (values.window !== undefined) rollout.windowSeconds = parseDuration(values.window, '--window')
  if (values.canary !== undefined)
    rollout.canaryFraction = parseNumber(values.canary, '--canary', 0, 1)
  if (values.shadow !== undefined) rollout.shadowSeconds = parseDuration(values.shadow, '--shadow')
  if (values.probation !== undefined)
    rollout.probationSeconds = parseDuration(values.probation, '--probation')
  if (values['min-pass'] !== undefined)
    rollout.minPassReports = parseNumber(values['min-pass'], '--min-pass', 0, 1_000_000, true)
  if (values['min-probation-passes'] !== undefined)
    rollout.minProbationPasses = parseNumber(
      values['min-probation-passes'],
      '--min-probation-passes',
      1,
      1_000_000,
      true,
    )
  if (values.watch !== undefined) rollout.watchSeconds = parseDuration(values.watch, '--watch')
  if (values['max-downtime'] !== undefined)
    rollout.maxDowntimeSeconds = parseDuration(values['max-downtime'], '--max-downtime')
  if (values['max-failure-share'] !== undefined)
    rollout.maxFailureShare = parseNumber(values['max-failure-share'], '--max-failure-share', 0, 1)
  if (values['halt-share'] !== undefined)
    rollout.haltFailureShare = parseNumber(values['halt-share'], '--halt-share', 0, 1)
  if (values['halt-min'] !== undefined)
    rollout.haltMinFailures = parseNumber(values['halt-min'], '--halt-min', 1, 1_000_000, true)

  const adds = values.adds ?? []
  // A convoy release is a build of convoy: by default it lists what this build's nodes serve.
  const capabilities = [
    ...(values.capability ?? previous?.capabilities ?? BASE_CAPABILITIES),
    ...adds,
  ]
  const expiresIn = parseDuration(values.expires ?? '30d', '--expires')
  let env: ReturnType<typeof draftRelease>
  try {
    env = draftRelease({
      network: root.signed.network,
      channel,
      version,
      sequence,
      expires: ctx.now() + expiresIn * 1000,
      ...(values['min-version'] !== undefined
        ? { minVersion: values['min-version'] }
        : previous
          ? { minVersion: previous.version }
          : {}),
      capabilities,
      addsCapabilities: adds,
      artifacts,
      rollout,
      ...(values.notes !== undefined ? { notes: values.notes } : {}),
      ...(source !== undefined ? { source } : {}),
    })
  } catch (e) {
    if (e instanceof SchemaError) throw new CliError(`invalid release: ${e.message}`, 2)
    throw e
  }
  await writeFileAtomic(out, encodeEnvelope(env))
  const s = env.signed
  return {
    text: [
      `wrote ${out}: ${s.network}/${s.channel} ${s.version} (sequence ${s.sequence}), expires ${s.expires}`,
      ...Object.entries(s.artifacts).map(
        ([p, a]) => `  ${p}: sha256 ${a.sha256}, ${a.length} bytes`,
      ),
      `next: ${root.signed.threshold} of ${root.signed.keys.length} maintainers run \`convoy release sign ${out} --key THEIR_KEY --root ${rootPath}\``,
    ].join('\n'),
    json: { file: out, release: s, digest: documentDigest(s) },
  }
}

/**
 * Reads a `release pack` artifact for `release draft --from-pack`: its pin (sha256, length) and
 * the source its PACK.json records, so a maintainer never types the commit or the pack tool.
 * `--source-commit` fills in a commit only where PACK.json says `unknown` (packed outside git);
 * either flag contradicting PACK.json is refused, as is an artifact packed as another version.
 */
async function readFromPack(
  path: string,
  version: string,
  commitFlag: string | undefined,
  packToolFlag: string | undefined,
): Promise<{ pin: ArtifactPin; source: ReleaseSource }> {
  const bytes = await readCapped(path, MAX_UNPACKED_BYTES)
  if (bytes.length === 0) throw new CliError(`--from-pack ${path}: the file is empty`)
  let info: PackInfo
  try {
    info = readPackInfo(bytes)
  } catch (e) {
    if (e instanceof PackError) throw new CliError(`--from-pack ${path}: ${e.message}`)
    throw e
  }
  if (info.version !== version)
    throw new CliError(
      `--from-pack ${path} was packed as version ${info.version}, not ${version}: pack it again with --version ${version}`,
    )
  let commit = info.commit
  if (commit === 'unknown') {
    if (commitFlag === undefined)
      throw new CliError(
        `--from-pack ${path} was packed outside a git checkout (its PACK.json says commit "unknown"): pack it from a checkout, or give --source-commit`,
      )
    commit = commitFlag
  } else if (commitFlag !== undefined && commitFlag !== commit) {
    throw new CliError(
      `--source-commit ${commitFlag} contradicts ${info.path} in ${path}, which says ${commit}`,
      2,
    )
  }
  if (packToolFlag !== undefined && packToolFlag !== info.packTool)
    throw new CliError(
      `--pack-tool ${packToolFlag} contradicts ${info.path} in ${path}, which says "${info.packTool}"`,
      2,
    )
  return {
    pin: { sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length },
    source: { commit, packTool: info.packTool },
  }
}

/** `release sign`: adds one signature from a key of the root; a no-op the second time. */
export async function releaseSign(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(
    argv,
    {
      key: { type: 'string' },
      root: { type: 'string', multiple: true },
      out: { type: 'string' },
      'passphrase-env': { type: 'string' },
      'no-rebuild-check': { type: 'boolean' },
    },
    SIGN_USAGE,
  )
  const file = required(positionals[0], 'FILE', SIGN_USAGE)
  const keyPath = required(values.key, '--key', SIGN_USAGE)
  const out = values.out ?? file
  const rootPaths = values.root ?? [join(dirname(file), 'root.json')]
  if (await isRevocationPath(file))
    return revocationSign(file, out, keyPath, rootPaths, ctx, values['passphrase-env'])
  const { env } = await readReleaseFile(file)
  let root: RootSigned
  try {
    root = await resolveRoot(rootPaths, ctx.now())
  } catch (e) {
    if (values.root === undefined && e instanceof CliError) {
      throw new CliError(
        `cannot check the key against the key set: pass --root ROOT.json (${e.message})`,
      )
    }
    throw e
  }
  if (env.signed.network !== root.network) {
    throw new CliError(
      `${file} is for network "${env.signed.network}" but the root signs for "${root.network}"`,
    )
  }
  // Membership is checked on the public part first, so nobody types a passphrase for nothing.
  const pub = await readKeyFilePublic(keyPath)
  if (!root.keys.some((k) => k.keyid === pub.keyid)) {
    throw new CliError(
      `key ${pub.keyid.slice(0, 12)} is not in root v${root.version} of "${root.network}": refusing to add a signature that cannot count`,
    )
  }
  // Also before the passphrase: a signer who has not rebuilt the artifact learns it for free.
  const skipCheck = values['no-rebuild-check'] === true
  if (!skipCheck) await assertReproduced(env.signed, file, ctx)
  const key = await loadSigningKey(keyPath, ctx, values['passphrase-env'])
  const already = env.signatures.some((s) => s.keyid === key.keyid)
  const signed = signDocument(env, key.secretKey, { reproduced: !skipCheck })
  const changed = !bytesEqual(encodeEnvelope(env), encodeEnvelope(signed))
  await writeFileAtomic(out, encodeEnvelope(signed))
  const tally = tallyRelease(signed, root, opensslVerify)
  const digest = documentDigest(signed.signed)
  const attested =
    reproducedSigners(root.keys, [key.keyid], signed.signatures, root.network, digest).length > 0
  if (skipCheck)
    ctx.warn?.(
      attested
        ? `--no-rebuild-check: nothing was rebuilt now; the reproduced-build attestation this key made earlier stays`
        : `--no-rebuild-check: signed without rebuilding the artifact; your signature does not declare a reproduced build`,
    )
  const who = keyLabel(key.keyid, key.name)
  const what = !already
    ? `signed by ${who}${attested ? ', declaring a reproduced build' : ', without declaring a reproduced build'}`
    : !changed
      ? `already signed by ${who}`
      : attested
        ? `added a reproduced-build attestation to the signature of ${who}`
        : `signed by ${who}`
  return {
    text: `${what}; ${tally.signed.length} valid signature(s), ${root.threshold} needed; wrote ${out}`,
    json: {
      file: out,
      keyid: key.keyid,
      alreadySigned: already,
      reproduced: attested,
      signed: tally.signed.length,
      threshold: root.threshold,
      complete: tally.met,
    },
  }
}

/**
 * Refuses to sign a release whose `node` artifact this machine has not rebuilt byte for byte
 * from the source the release records (a `release rebuild-check` record in CONVOY_HOME).
 */
async function assertReproduced(s: ReleaseSigned, file: string, ctx: CliContext): Promise<void> {
  const skip = 'or pass --no-rebuild-check to sign without it'
  const pin = s.artifacts.node
  if (pin === undefined)
    throw new CliError(
      `refusing to sign: ${file} pins no \`node\` artifact, the one \`convoy release rebuild-check\` reproduces; ${skip}`,
    )
  const record = await readReproduced(convoyHome(ctx.env), pin.sha256)
  if (record === undefined)
    throw new CliError(
      `refusing to sign: you have not reproduced artifact ${short(pin.sha256)} on this machine; run \`convoy release rebuild-check ${file}\` first, ${skip}`,
    )
  if (s.source === undefined || !sameCommit(record.commit, s.source.commit))
    throw new CliError(
      `refusing to sign: you reproduced artifact ${short(pin.sha256)} from commit ${record.commit}, but ${file} ${s.source ? `says it was built from ${s.source.commit}` : 'records no source'}; run \`convoy release rebuild-check ${file}\` first, ${skip}`,
    )
}

/** Two spellings of one commit: equal, or one an abbreviation of the other. */
export function sameCommit(a: string, b: string): boolean {
  return a.length <= b.length ? b.startsWith(a) : a.startsWith(b)
}

/** `release merge`: joins signatures made on different machines. */
export async function releaseMerge(argv: string[]): Promise<CommandOutput> {
  const { values, positionals } = parse(argv, { out: { type: 'string' } }, MERGE_USAGE)
  const out = required(values.out, '--out', MERGE_USAGE)
  if (positionals.length < 2)
    throw new CliError(`give at least two files to merge\nusage: ${MERGE_USAGE}`, 2)
  if (await isRevocationPath(positionals[0]!)) return revocationMerge(positionals, out)
  const docs = await Promise.all(
    positionals.map(async (p) => ({ p, env: (await readReleaseFile(p)).env })),
  )
  const merged = mergeDocs(docs)
  await writeFileAtomic(out, encodeEnvelope(merged))
  return {
    text: `merged ${docs.length} copies of ${merged.signed.version}: ${merged.signatures.length} signature(s); wrote ${out}`,
    json: {
      file: out,
      signatures: merged.signatures.length,
      digest: documentDigest(merged.signed),
    },
  }
}

/** `release verify`: exit 0 only for a manifest a node would accept now. */
export async function releaseVerify(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(
    argv,
    {
      root: { type: 'string', multiple: true },
      channel: { type: 'string' },
      'trusted-sequence': { type: 'string' },
    },
    VERIFY_USAGE,
  )
  const file = required(positionals[0], 'FILE', VERIFY_USAGE)
  const rootPaths = required(values.root, '--root', VERIFY_USAGE)
  if (await isRevocationPath(file)) return revocationVerify(file, rootPaths)
  const now = ctx.now()
  const root = await resolveRoot(rootPaths, now)
  const { env } = await readReleaseFile(file)
  const trustedSeq = values['trusted-sequence']
  const result = verifyDecodedRelease(env, {
    root,
    now,
    verify: opensslVerify,
    ...(values.channel !== undefined ? { channel: values.channel } : {}),
    // Only the number is known from the command line; a different digest cannot be checked here.
    ...(trustedSeq !== undefined
      ? {
          trusted: {
            sequence: parseNumber(
              trustedSeq,
              '--trusted-sequence',
              0,
              Number.MAX_SAFE_INTEGER,
              true,
            ),
            digest: documentDigest(env.signed),
          },
        }
      : {}),
  })
  const r = unwrap(result, file)
  return {
    text: `${file}: valid ${r.signed.network}/${r.signed.channel} ${r.signed.version} (sequence ${r.signed.sequence}), ${r.tally.signed.length} of ${root.keys.length} keys signed (threshold ${root.threshold}), expires ${r.signed.expires}`,
    json: {
      valid: true,
      file,
      version: r.signed.version,
      sequence: r.signed.sequence,
      channel: r.signed.channel,
      digest: r.digest,
      signers: r.tally.signed,
    },
  }
}

/** `release inspect`: who signed, who has not, what it changes, when it expires. Never fails on signatures. */
export async function releaseInspect(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(
    argv,
    { root: { type: 'string', multiple: true } },
    INSPECT_USAGE,
  )
  const file = required(positionals[0], 'FILE', INSPECT_USAGE)
  const rootPaths = values.root ?? [join(dirname(file), 'root.json')]
  const { env } = await readReleaseFile(file)
  const s = env.signed
  const now = ctx.now()
  let root: RootSigned | undefined
  let rootNote: string | undefined
  try {
    root = await resolveRoot(rootPaths, now)
  } catch (e) {
    if (!(e instanceof CliError)) throw e
    rootNote =
      values.root === undefined
        ? `no root given (looked for ${rootPaths[0]}): signers cannot be named`
        : e.message
  }
  const expiresAt = Date.parse(s.expires)
  const left = expiresAt - now
  const expiry =
    left <= 0 ? `EXPIRED at ${s.expires}` : `${s.expires} (in ${humanDuration(left / 1000)})`
  const lines = [
    `release ${s.version} on ${s.network}/${s.channel}, sequence ${s.sequence}  [${basename(file)}]`,
    `expires:      ${expiry}`,
    `upgrades from: ${s.minVersion} or newer`,
    `capabilities: ${s.capabilities.join(', ') || '(none)'}`,
    `adds:         ${s.addsCapabilities.join(', ') || '(nothing new)'}`,
    'artifacts:',
    ...Object.entries(s.artifacts).map(([p, a]) => `  ${p}: ${a.length} bytes, sha256 ${a.sha256}`),
    `rollout:      window ${humanDuration(s.rollout.windowSeconds)}, canaries ${(s.rollout.canaryFraction * 100).toFixed(1)}%, shadow ${humanDuration(s.rollout.shadowSeconds)}, probation ${humanDuration(s.rollout.probationSeconds)}`,
    `evidence:     non-canaries wait for ${probationPassesNeeded(s.rollout)} probation pass(es) and >= ${s.rollout.minPassReports} passing reports, proceed while failures <= ${pct(s.rollout.maxFailureShare)}, halt above ${pct(s.rollout.haltFailureShare)} with >= ${s.rollout.haltMinFailures} failures`,
  ]
  if (s.source) lines.push(`source:       ${s.source.commit} packed by ${s.source.packTool}`)
  if (s.notes) lines.push(`notes:        ${s.notes}`)
  const json: Record<string, unknown> = {
    file,
    release: s,
    digest: documentDigest(s),
    expired: left <= 0,
  }
  if (root !== undefined) {
    const tally = tallyRelease(env, root, opensslVerify)
    const name = (id: string) => root.keys.find((k) => k.keyid === id)?.name
    const reproduced = reproducedSigners(
      root.keys,
      tally.signed,
      env.signatures,
      s.network,
      documentDigest(s),
      opensslVerify,
    )
    const rebuilt = (id: string) =>
      reproduced.includes(id) ? 'reproduced' : 'did not declare a reproduced build'
    lines.push(
      `signatures:   ${tally.signed.length} valid, ${root.threshold} needed (root v${root.version}, ${root.keys.length} keys) - ${tally.met ? 'COMPLETE' : 'INCOMPLETE'}; ${reproduced.length} reproduced the build`,
      ...tally.signed.map((id) => `  signed:     ${keyLabel(id, name(id))} - ${rebuilt(id)}`),
      ...tally.missing.map((id) => `  not yet:    ${keyLabel(id, name(id))}`),
      ...tally.invalid.map((id) => `  BAD SIG:    ${keyLabel(id, name(id))}`),
      ...tally.unknown.map((id) => `  unknown key (ignored): ${id.slice(0, 12)}`),
    )
    json.signatures = { threshold: root.threshold, ...tally }
    json.reproduced = reproduced
  } else {
    lines.push(`signatures:   ${env.signatures.length} present; ${rootNote}`)
  }
  return { text: lines.join('\n'), json }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`
}

/** "3d 4h", "10m", "0s". */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  if (s === 0) return '0s'
  const parts: string[] = []
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (d) parts.push(`${d}d`)
  if (h) parts.push(`${h}h`)
  if (m && !d) parts.push(`${m}m`)
  if (sec && !d && !h) parts.push(`${sec}s`)
  return parts.join(' ')
}
