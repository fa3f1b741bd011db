/**
 * `convoy release revoke`: the maintainers' way to take a committed release off every node.
 * Drafted from the signed manifest it revokes, co-signed offline t-of-n with `release sign`,
 * joined with `release merge`, checked with `release verify`, published with `release publish`
 * (pushed to every peer and put into the DHT). Those commands hand a revocation to the functions
 * here; they tell the two document types apart by the `type` of the signed part.
 */
import { dirname, join } from 'node:path'
import { opensslVerify } from '../../adapters/crypto/ed25519.ts'
import { writeFileAtomic } from '../../adapters/fs/atomic.ts'
import { draftRevocation, signDocument } from '../../core/manifest/draft.ts'
import { type Envelope, encodeEnvelope } from '../../core/manifest/envelope.ts'
import { MAX_RELEASE_BYTES, tallyRelease } from '../../core/manifest/release.ts'
import {
  decodeRevocation,
  MAX_REVOCATION_BYTES,
  REVOCATION_TYPE,
  type RevocationSigned,
  tallyRevocation,
  verifyDecodedRevocation,
} from '../../core/manifest/revocation.ts'
import { type RootSigned, verifyAnchorRoot, verifyRootChain } from '../../core/manifest/root.ts'
import { documentDigest } from '../../core/manifest/signing.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  keyLabel,
  parse,
  readCapped,
  readReleaseFile,
  readRootFile,
  required,
  unwrap,
} from '../io.ts'
import { loadSigningKey, readKeyFilePublic } from '../keyref.ts'
import { mergeDocs } from './root.ts'

const REVOKE_USAGE =
  'convoy release revoke VERSION --manifest release.json --reason TEXT [--root root.json ...] --out revoke.json'

/**
 * True when the file at `path` (read up to a release's cap) says in its signed part that it is a
 * revocation: a cheap peek that lets the release commands take both kinds; decoding checks it.
 */
export async function isRevocationPath(path: string): Promise<boolean> {
  const bytes = await readCapped(path, MAX_RELEASE_BYTES)
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as { signed?: { type?: unknown } }
    return v?.signed?.type === REVOCATION_TYPE
  } catch {
    return false
  }
}

/** Reads and shape-checks a revocation file (signatures not checked). */
export async function readRevocationFile(
  path: string,
): Promise<{ env: Envelope<RevocationSigned>; bytes: Uint8Array }> {
  const bytes = await readCapped(path, MAX_REVOCATION_BYTES)
  return { env: unwrap(decodeRevocation(bytes), path), bytes }
}

/**
 * The key set a revocation is checked against: the first root is the anchor, later ones its
 * rotations. An expired key set still revokes (a revocation only makes nodes more careful).
 */
async function keySet(paths: string[]): Promise<RootSigned> {
  const first = paths[0]!
  const anchor = unwrap(verifyAnchorRoot((await readRootFile(first)).bytes), first)
  const chain = await Promise.all(paths.slice(1).map(async (p) => (await readRootFile(p)).bytes))
  const r = verifyRootChain(anchor.signed, chain, { verify: opensslVerify })
  if (!r.ok) throw new CliError(`root chain from ${first}: ${r.reason}`)
  return r.value.root
}

/** `release revoke VERSION`: the unsigned revocation of the release `--manifest` holds. */
export async function releaseRevoke(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(
    argv,
    {
      manifest: { type: 'string' },
      reason: { type: 'string' },
      root: { type: 'string', multiple: true },
      out: { type: 'string' },
    },
    REVOKE_USAGE,
  )
  const version = required(positionals[0], 'VERSION', REVOKE_USAGE)
  const manifestPath = required(values.manifest, '--manifest', REVOKE_USAGE)
  const reason = required(values.reason, '--reason', REVOKE_USAGE)
  const out = required(values.out, '--out', REVOKE_USAGE)
  const { env } = await readReleaseFile(manifestPath)
  if (env.signed.version !== version)
    throw new CliError(
      `${manifestPath} is the manifest of ${env.signed.version}, not ${version}: pass the manifest of the release to revoke`,
    )
  // Revoking a manifest nobody could have trusted would only confuse: it must carry the threshold.
  const root = await keySet(values.root ?? [join(dirname(manifestPath), 'root.json')])
  const tally = tallyRelease(env, root, opensslVerify)
  if (!tally.met)
    throw new CliError(
      `${manifestPath} does not carry ${root.threshold} valid signatures of root v${root.version}: no node trusts it, so there is nothing to revoke`,
    )
  let draft: Envelope<RevocationSigned>
  try {
    draft = draftRevocation({ release: env.signed, reason, issued: ctx.now() })
  } catch (e) {
    throw new CliError(`--reason: ${(e as Error).message.replace(/^signed\.reason /, '')}`)
  }
  await writeFileAtomic(out, encodeEnvelope(draft))
  return {
    text: `drafted the revocation of ${version} (${env.signed.channel}, sequence ${env.signed.sequence}); ${root.threshold} of ${root.keys.length} maintainers sign it with \`convoy release sign ${out} --key KEY\`; wrote ${out}`,
    json: {
      file: out,
      version,
      channel: env.signed.channel,
      sequence: env.signed.sequence,
      release: draft.signed.release,
      threshold: root.threshold,
    },
  }
}

/** `release sign` of a revocation: adds one signature from a key of the root. */
export async function revocationSign(
  file: string,
  out: string,
  keyPath: string,
  rootPaths: string[],
  ctx: CliContext,
  passphraseEnv: string | undefined,
): Promise<CommandOutput> {
  const { env } = await readRevocationFile(file)
  const root = await keySet(rootPaths)
  if (env.signed.network !== root.network)
    throw new CliError(
      `${file} is for network "${env.signed.network}" but the root signs for "${root.network}"`,
    )
  const pub = await readKeyFilePublic(keyPath)
  if (!root.keys.some((k) => k.keyid === pub.keyid))
    throw new CliError(
      `key ${pub.keyid.slice(0, 12)} is not in root v${root.version} of "${root.network}": refusing to add a signature that cannot count`,
    )
  const key = await loadSigningKey(keyPath, ctx, passphraseEnv)
  const already = env.signatures.some((s) => s.keyid === key.keyid)
  const signed = signDocument(env, key.secretKey)
  await writeFileAtomic(out, encodeEnvelope(signed))
  const tally = tallyRevocation(signed, root, opensslVerify)
  const who = keyLabel(key.keyid, key.name)
  return {
    text: `${already ? 'already signed' : 'signed'} the revocation of ${env.signed.version} by ${who}; ${tally.signed.length} valid signature(s), ${root.threshold} needed; wrote ${out}`,
    json: {
      file: out,
      keyid: key.keyid,
      alreadySigned: already,
      signed: tally.signed.length,
      threshold: root.threshold,
      complete: tally.met,
    },
  }
}

/** `release merge` of revocations: joins signatures made on different machines. */
export async function revocationMerge(paths: string[], out: string): Promise<CommandOutput> {
  const docs = await Promise.all(
    paths.map(async (p) => ({ p, env: (await readRevocationFile(p)).env })),
  )
  const merged = mergeDocs(docs)
  await writeFileAtomic(out, encodeEnvelope(merged))
  return {
    text: `merged ${docs.length} copies of the revocation of ${merged.signed.version}: ${merged.signatures.length} signature(s); wrote ${out}`,
    json: {
      file: out,
      signatures: merged.signatures.length,
      digest: documentDigest(merged.signed),
    },
  }
}

/** `release verify` of a revocation: exit 0 only for one every node would obey. */
export async function revocationVerify(file: string, rootPaths: string[]): Promise<CommandOutput> {
  const { env } = await readRevocationFile(file)
  const root = await keySet(rootPaths)
  const v = unwrap(verifyDecodedRevocation(env, root, opensslVerify), file)
  const s = v.signed
  return {
    text: `OK: revocation of ${s.version} (${s.channel}, sequence ${s.sequence}, manifest ${s.release.slice(0, 12)}) by ${v.tally.signed.length} of ${root.threshold} needed keys of root v${root.version}: ${s.reason}`,
    json: {
      ok: true,
      type: REVOCATION_TYPE,
      version: s.version,
      channel: s.channel,
      sequence: s.sequence,
      release: s.release,
      reason: s.reason,
      digest: documentDigest(s),
      signed: v.tally.signed,
    },
  }
}
