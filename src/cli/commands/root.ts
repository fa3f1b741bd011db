/** `convoy root ...`: the maintainer key set and its rotations. */
import { opensslVerify } from '../../adapters/crypto/ed25519.ts'
import { writeFileAtomic } from '../../adapters/fs/atomic.ts'
import { SchemaError } from '../../core/errors.ts'
import { draftRoot, rotateRoot, signDocument } from '../../core/manifest/draft.ts'
import { type Envelope, encodeEnvelope, mergeSignatures } from '../../core/manifest/envelope.ts'
import {
  type RootSigned,
  tallyRoot,
  verifyAnchorRoot,
  verifyRootChain,
} from '../../core/manifest/root.ts'
import { documentDigest } from '../../core/manifest/signing.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  keyLabel,
  parse,
  parseDuration,
  parseNumber,
  readRootFile,
  required,
  unwrap,
} from '../io.ts'
import { findKeyId, loadSigningKey, readKeyFilePublic, resolvePublicKey } from '../keyref.ts'

const INIT_USAGE =
  'convoy root init --network NAME --threshold T --key PUBKEY_OR_KEYFILE ... [--expires 365d] --out root.json'
const ROTATE_USAGE =
  'convoy root rotate root.json [--add KEY] [--remove KEYID] [--threshold T] [--expires 365d] --out root-2.json'
const SIGN_USAGE =
  'convoy root sign FILE --key KEYFILE [--previous root-N.json] [--out FILE] [--passphrase-env VAR]'
const VERIFY_USAGE = 'convoy root verify FILE ... [--trusted root-1.json]'
const MERGE_USAGE = 'convoy root merge A.json B.json ... --out FILE'

function schema<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof SchemaError || e instanceof TypeError) throw new CliError(e.message, 2)
    throw e
  }
}

/** `root init`: root v1, unsigned. */
export async function rootInit(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(
    argv,
    {
      network: { type: 'string' },
      threshold: { type: 'string' },
      key: { type: 'string', multiple: true },
      expires: { type: 'string' },
      out: { type: 'string' },
    },
    INIT_USAGE,
  )
  const network = required(values.network, '--network', INIT_USAGE)
  const keyArgs = required(values.key, '--key', INIT_USAGE)
  const threshold = parseNumber(
    required(values.threshold, '--threshold', INIT_USAGE),
    '--threshold',
    1,
    keyArgs.length,
    true,
  )
  const out = required(values.out, '--out', INIT_USAGE)
  const keys = await Promise.all(keyArgs.map(resolvePublicKey))
  const ids = new Set(keys.map((k) => k.keyid))
  if (ids.size !== keys.length)
    throw new CliError('the same key is given twice: each --key must be a different maintainer', 2)
  const expiresIn = parseDuration(values.expires ?? '365d', '--expires')
  const env = schema(() =>
    draftRoot({ network, threshold, keys, expires: ctx.now() + expiresIn * 1000 }),
  )
  await writeFileAtomic(out, encodeEnvelope(env))
  return {
    text: [
      `wrote ${out}: root v1 for network "${network}", ${threshold} of ${keys.length} keys, expires ${env.signed.expires}`,
      ...keys.map((k) => `  key ${keyLabel(k.keyid, k.name)}`),
      `next: ${threshold} key holders run \`convoy root sign ${out} --key THEIR_KEY\``,
    ].join('\n'),
    json: { file: out, root: env.signed, digest: documentDigest(env.signed) },
  }
}

/** `root rotate`: root N+1 from root N, unsigned. */
export async function rootRotate(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(
    argv,
    {
      add: { type: 'string', multiple: true },
      remove: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      expires: { type: 'string' },
      out: { type: 'string' },
    },
    ROTATE_USAGE,
  )
  const file = required(positionals[0], 'root.json', ROTATE_USAGE)
  const out = required(values.out, '--out', ROTATE_USAGE)
  const { env: current } = await readRootFile(file)
  const add = await Promise.all((values.add ?? []).map(resolvePublicKey))
  const remove = (values.remove ?? []).map((r) => findKeyId(current.signed.keys, r, '--remove'))
  const threshold =
    values.threshold === undefined
      ? undefined
      : parseNumber(values.threshold, '--threshold', 1, 64, true)
  const expiresIn = parseDuration(values.expires ?? '365d', '--expires')
  const next = schema(() =>
    rotateRoot(current.signed, {
      add,
      remove,
      ...(threshold === undefined ? {} : { threshold }),
      expires: ctx.now() + expiresIn * 1000,
    }),
  )
  await writeFileAtomic(out, encodeEnvelope(next))
  const prev = current.signed
  return {
    text: [
      `wrote ${out}: root v${next.signed.version}, ${next.signed.threshold} of ${next.signed.keys.length} keys, expires ${next.signed.expires}`,
      ...add.map((k) => `  + ${keyLabel(k.keyid, k.name)}`),
      ...remove.map((id) => `  - ${keyLabel(id, prev.keys.find((k) => k.keyid === id)?.name)}`),
      `next: it needs ${prev.threshold} signatures from root v${prev.version}'s keys and ${next.signed.threshold} from its own; sign with \`convoy root sign ${out} --key KEY --previous ${file}\``,
    ].join('\n'),
    json: { file: out, root: next.signed, digest: documentDigest(next.signed) },
  }
}

/** `root sign`: adds one signature; a key outside the root (and the previous root) is refused. */
export async function rootSign(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(
    argv,
    {
      key: { type: 'string' },
      previous: { type: 'string' },
      out: { type: 'string' },
      'passphrase-env': { type: 'string' },
    },
    SIGN_USAGE,
  )
  const file = required(positionals[0], 'FILE', SIGN_USAGE)
  const keyPath = required(values.key, '--key', SIGN_USAGE)
  const out = values.out ?? file
  const { env } = await readRootFile(file)
  let previous: RootSigned | undefined
  if (values.previous !== undefined) {
    previous = (await readRootFile(values.previous)).env.signed
    if (previous.version + 1 !== env.signed.version || previous.network !== env.signed.network) {
      throw new CliError(
        `${values.previous} is root v${previous.version} of "${previous.network}", not the one before ${file} (v${env.signed.version} of "${env.signed.network}")`,
      )
    }
  }
  // Membership is checked on the public part first, so nobody types a passphrase for nothing.
  const pub = await readKeyFilePublic(keyPath)
  const inNew = env.signed.keys.some((k) => k.keyid === pub.keyid)
  const inOld = previous?.keys.some((k) => k.keyid === pub.keyid) ?? false
  if (!inNew && !inOld) {
    const hint =
      env.signed.version > 1 && previous === undefined
        ? `; if it is in root v${env.signed.version - 1}, pass --previous with that file`
        : ''
    throw new CliError(
      `key ${pub.keyid.slice(0, 12)} is not in root v${env.signed.version}: refusing to add a signature that cannot count${hint}`,
    )
  }
  const key = await loadSigningKey(keyPath, ctx, values['passphrase-env'])
  const already = env.signatures.some((s) => s.keyid === key.keyid)
  const signed = signDocument(env, key.secretKey)
  await writeFileAtomic(out, encodeEnvelope(signed))
  const own = tallyRoot(signed, signed.signed, opensslVerify)
  const lines = [
    `${already ? 'already signed by' : 'signed by'} ${keyLabel(key.keyid, key.name)}; wrote ${out}`,
    `root v${env.signed.version}: ${own.signed.length} valid signature(s) from its own keys, ${env.signed.threshold} needed`,
  ]
  const json: Record<string, unknown> = {
    file: out,
    keyid: key.keyid,
    alreadySigned: already,
    signed: own.signed.length,
    threshold: env.signed.threshold,
  }
  if (previous !== undefined) {
    const old = tallyRoot(signed, previous, opensslVerify)
    lines.push(
      `root v${previous.version} (previous): ${old.signed.length} valid signature(s) from its keys, ${previous.threshold} needed`,
    )
    json.previousSigned = old.signed.length
    json.previousThreshold = previous.threshold
  }
  return { text: lines.join('\n'), json }
}

/** `root verify`: a trust anchor on its own, or a chain of rotations from a trusted root. */
export async function rootVerify(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(argv, { trusted: { type: 'string' } }, VERIFY_USAGE)
  if (positionals.length === 0) throw new CliError(`missing FILE\nusage: ${VERIFY_USAGE}`, 2)
  const now = ctx.now()
  if (values.trusted === undefined) {
    if (positionals.length > 1)
      throw new CliError('several roots given: pass the one you already trust with --trusted', 2)
    const file = positionals[0]!
    const { bytes } = await readRootFile(file)
    const root = unwrap(verifyAnchorRoot(bytes, { now, verify: opensslVerify }), file)
    return {
      text: `${file}: valid root v${root.signed.version} for "${root.signed.network}": ${root.tally.signed.length} of ${root.signed.keys.length} keys signed (threshold ${root.signed.threshold}), expires ${root.signed.expires}`,
      json: {
        valid: true,
        file,
        version: root.signed.version,
        network: root.signed.network,
        digest: root.digest,
        signers: root.tally.signed,
      },
    }
  }
  const { bytes: anchorBytes } = await readRootFile(values.trusted)
  // The trusted root may be old and expired: that is exactly when a chain is needed.
  const anchor = unwrap(verifyAnchorRoot(anchorBytes, { verify: opensslVerify }), values.trusted)
  const chain = await Promise.all(positionals.map(async (p) => (await readRootFile(p)).bytes))
  const result = verifyRootChain(anchor.signed, chain, { now, verify: opensslVerify })
  if (!result.ok) throw new CliError(`root chain from ${values.trusted}: ${result.reason}`)
  const { root, steps } = result.value
  return {
    text: `valid: root v${anchor.signed.version} -> v${root.version} for "${root.network}" in ${steps} verified step(s); now ${root.threshold} of ${root.keys.length} keys, expires ${root.expires}`,
    json: {
      valid: true,
      from: anchor.signed.version,
      version: root.version,
      steps,
      network: root.network,
      digest: documentDigest(root),
    },
  }
}

/** `root merge`: joins signatures made on different machines on copies of one root. */
export async function rootMerge(argv: string[]): Promise<CommandOutput> {
  const { values, positionals } = parse(argv, { out: { type: 'string' } }, MERGE_USAGE)
  const out = required(values.out, '--out', MERGE_USAGE)
  if (positionals.length < 2)
    throw new CliError(`give at least two files to merge\nusage: ${MERGE_USAGE}`, 2)
  const docs = await Promise.all(
    positionals.map(async (p) => ({ p, env: (await readRootFile(p)).env })),
  )
  const merged = mergeDocs(docs)
  await writeFileAtomic(out, encodeEnvelope(merged))
  return {
    text: `merged ${docs.length} copies: ${merged.signatures.length} signature(s); wrote ${out}`,
    json: { file: out, signatures: merged.signatures.length },
  }
}

/** Merges copies of one document; refuses copies whose signed parts differ. */
export function mergeDocs<T>(docs: Array<{ p: string; env: Envelope<T> }>): Envelope<T> {
  const first = docs[0]!
  const digest = documentDigest(first.env.signed)
  for (const d of docs.slice(1)) {
    const other = documentDigest(d.env.signed)
    if (other !== digest) {
      throw new CliError(
        `${d.p} is a different document from ${first.p} (digest ${other.slice(0, 12)} vs ${digest.slice(0, 12)}): only copies of one draft can be merged`,
      )
    }
  }
  return {
    signed: first.env.signed,
    signatures: mergeSignatures(...docs.map((d) => d.env.signatures)),
  }
}
