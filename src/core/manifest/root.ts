/**
 * The key set ("root"): which maintainer keys sign for a network, and how many must agree.
 *
 * Root v1 is the trust anchor a community hands its node runners; it must carry the threshold of
 * its own keys. Root N+1 is valid only with the threshold of root N *and* of root N+1 (TUF's
 * rule), so neither the old holders alone nor the new ones alone can rotate the set.
 */
import { fromHex, isHexOfLength } from '../bytes.ts'
import { SchemaError } from '../errors.ts'
import { fail, ok, type Result } from '../result.ts'
import { attestationRefused, decodeTyped, type Envelope, schemaFailure } from './envelope.ts'
import * as s from './schema.ts'
import {
  describeShortfall,
  documentDigest,
  keyIdOf,
  type RootKey,
  type SignatureTally,
  tallyDocument,
  type VerifyFn,
} from './signing.ts'

/** Document type of a root. */
export const ROOT_TYPE = 'convoy/root'
/** Largest root document accepted, in bytes. @default 65536 */
export const MAX_ROOT_BYTES: number = 64 * 1024
/** Most keys one root may list. */
export const MAX_ROOT_KEYS = 64
/** Most rotation steps verified in one call; longer chains are refused. @default 64 */
export const MAX_ROOT_CHAIN = 64

/** The signed part of a root. */
export interface RootSigned {
  type: typeof ROOT_TYPE
  specVersion: 1
  /** Network this key set signs for; domain-separates every signature. */
  network: string
  /** 1 for the anchor, then exactly +1 per rotation. */
  version: number
  /** RFC 3339 UTC. An expired root still verifies chains; it only stops new upgrades. */
  expires: string
  /** Distinct keys that must sign (t of n). */
  threshold: number
  keys: RootKey[]
}

/** A root whose signatures have been checked. */
export interface VerifiedRoot {
  signed: RootSigned
  /** Hex sha256 of the canonical signed part. */
  digest: string
  /** Tally against this root's own keys. */
  tally: SignatureTally
}

/** Checks the shape of a root's signed part; throws {@link SchemaError}. */
export function parseRootSigned(v: unknown): RootSigned {
  const r = s.object(v, 'signed', [
    'type',
    'specVersion',
    'network',
    'version',
    'expires',
    'threshold',
    'keys',
  ])
  if (r.type !== ROOT_TYPE) throw new SchemaError(`signed.type must be "${ROOT_TYPE}"`)
  if (r.specVersion !== 1) throw new SchemaError('signed.specVersion must be 1')
  const keys = s.array(r.keys, 'signed.keys', MAX_ROOT_KEYS, (x, p) => {
    const k = s.object(x, p, ['keyid', 'publicKey'], ['name'])
    if (!isHexOfLength(k.publicKey, 32))
      throw new SchemaError(`${p}.publicKey must be 64 lower-case hex digits`)
    if (k.keyid !== keyIdOf(fromHex(k.publicKey)!))
      throw new SchemaError(`${p}.keyid is not the sha256 of its publicKey`)
    const key: RootKey = { keyid: k.keyid, publicKey: k.publicKey }
    if (k.name !== undefined) key.name = s.string(k.name, `${p}.name`, /^[^\p{Cc}]*$/u, 128)
    return key
  })
  const ids = new Set<string>()
  for (const k of keys) {
    if (ids.has(k.keyid))
      throw new SchemaError(`signed.keys lists key ${k.keyid.slice(0, 12)} twice`)
    ids.add(k.keyid)
  }
  if (keys.length === 0) throw new SchemaError('signed.keys must list at least one key')
  const threshold = s.integer(r.threshold, 'signed.threshold', 1, keys.length)
  return {
    type: ROOT_TYPE,
    specVersion: 1,
    network: s.string(r.network, 'signed.network', s.NAME_RE),
    version: s.integer(r.version, 'signed.version', 1),
    expires: s.time(r.expires, 'signed.expires'),
    threshold,
    keys,
  }
}

/** Decodes a root document (size cap first) and checks its shape. Signatures are not checked. */
export function decodeRoot(
  bytes: Uint8Array,
  maxBytes: number = MAX_ROOT_BYTES,
): Result<Envelope<RootSigned>> {
  const env = decodeTyped(bytes, maxBytes, ROOT_TYPE, 'a root')
  if (!env.ok) return env
  // A reproduced-build attestation is a claim about a release's artifact; a root has none.
  const attested = attestationRefused(env.value)
  if (attested) return attested
  try {
    return ok({ signed: parseRootSigned(env.value.signed), signatures: env.value.signatures })
  } catch (e) {
    return schemaFailure(e)
  }
}

/** Tallies a root's signatures against a key set (its own, or the previous root's). */
export function tallyRoot(
  env: Envelope<RootSigned>,
  by: RootSigned,
  verify?: VerifyFn,
): SignatureTally {
  return tallyDocument(ROOT_TYPE, env.signed, env.signatures, by, verify)
}

/** Options shared by root checks. */
export interface RootCheckOptions {
  /** Current time, ms since the epoch. When given, an expired final root is refused. */
  now?: number
  /** Expected network; refused when the root names another. */
  network?: string
  /** Largest document accepted. @default MAX_ROOT_BYTES */
  maxBytes?: number
  /** Signature check to use. @default nobleVerify */
  verify?: VerifyFn
}

/**
 * Verifies a trust anchor: any version, signed by the threshold of its own keys. Use it for the
 * root a network file ships; it is trusted because the operator chose it, not because of a chain.
 */
export function verifyAnchorRoot(
  bytes: Uint8Array,
  options: RootCheckOptions = {},
): Result<VerifiedRoot> {
  const env = decodeRoot(bytes, options.maxBytes)
  if (!env.ok) return env
  const { signed } = env.value
  if (options.network !== undefined && signed.network !== options.network) {
    return fail(
      'wrong-network',
      `wrong network: root is for "${signed.network}", expected "${options.network}"`,
    )
  }
  const tally = tallyRoot(env.value, signed, options.verify)
  if (!tally.met) {
    return fail(
      'threshold',
      describeShortfall(tally, signed.threshold, signed.keys, `root v${signed.version}`),
    )
  }
  if (options.now !== undefined) {
    const expired = checkExpiry(signed.expires, options.now, `root v${signed.version}`)
    if (expired) return expired
  }
  return ok({ signed, digest: documentDigest(signed), tally })
}

/**
 * Verifies that `bytes` is the next root after `trusted`: same network, version exactly +1, and
 * the threshold of both the trusted key set and the new one. Expiry is not checked here (a chain
 * may pass through expired roots); {@link verifyRootChain} checks it on the last one.
 */
export function verifyRootUpdate(
  trusted: RootSigned,
  bytes: Uint8Array,
  options: Pick<RootCheckOptions, 'maxBytes' | 'verify'> = {},
): Result<VerifiedRoot> {
  const env = decodeRoot(bytes, options.maxBytes)
  if (!env.ok) return env
  const next = env.value.signed
  if (next.network !== trusted.network) {
    return fail(
      'wrong-network',
      `wrong network: root v${next.version} is for "${next.network}", trusted root is for "${trusted.network}"`,
    )
  }
  if (next.version !== trusted.version + 1) {
    return fail(
      'root-version',
      `root version ${next.version} cannot follow trusted root v${trusted.version}: expected v${trusted.version + 1}`,
    )
  }
  const byOld = tallyRoot(env.value, trusted, options.verify)
  if (!byOld.met) {
    return fail(
      'threshold',
      `${describeShortfall(byOld, trusted.threshold, trusted.keys, `previous root v${trusted.version}`)} (a rotation needs the old key set's threshold too)`,
    )
  }
  const byNew = tallyRoot(env.value, next, options.verify)
  if (!byNew.met) {
    return fail(
      'threshold',
      describeShortfall(byNew, next.threshold, next.keys, `new root v${next.version}`),
    )
  }
  return ok({ signed: next, digest: documentDigest(next), tally: byNew })
}

/**
 * Walks `trusted` forward through `chain` (roots v+1, v+2, ... in any order), one verified step at
 * a time, and returns the last root. Refuses gaps, forks, chains longer than `maxSteps`, and an
 * expired final root when `now` is given.
 */
export function verifyRootChain(
  trusted: RootSigned,
  chain: readonly Uint8Array[],
  options: RootCheckOptions & { maxSteps?: number } = {},
): Result<{ root: RootSigned; steps: number }> {
  const maxSteps = options.maxSteps ?? MAX_ROOT_CHAIN
  if (chain.length > maxSteps) {
    return fail(
      'chain-too-long',
      `root chain too long: ${chain.length} steps, the limit is ${maxSteps}`,
    )
  }
  // Order by claimed version so callers can pass files in any order; each step is still verified.
  const decoded: Array<{ version: number; bytes: Uint8Array; signed: RootSigned }> = []
  for (const bytes of chain) {
    const env = decodeRoot(bytes, options.maxBytes)
    if (!env.ok) return env
    decoded.push({ version: env.value.signed.version, bytes, signed: env.value.signed })
  }
  decoded.sort((a, b) => a.version - b.version)
  // Two different roots claiming one version are a fork: refuse rather than let file order decide.
  for (let i = 1; i < decoded.length; i++) {
    const a = decoded[i - 1]!
    const b = decoded[i]!
    if (a.version === b.version && documentDigest(a.signed) !== documentDigest(b.signed)) {
      return fail('conflict', `conflict: two different roots claim version ${a.version}`)
    }
  }
  let current = trusted
  let steps = 0
  for (const { version, bytes } of decoded) {
    if (version <= current.version) continue // already trusted or older: nothing to learn
    const next = verifyRootUpdate(current, bytes, options)
    if (!next.ok) return next
    current = next.value.signed
    steps++
  }
  if (options.network !== undefined && current.network !== options.network) {
    return fail(
      'wrong-network',
      `wrong network: root is for "${current.network}", expected "${options.network}"`,
    )
  }
  if (options.now !== undefined) {
    const expired = checkExpiry(current.expires, options.now, `root v${current.version}`)
    if (expired) return expired
  }
  return ok({ root: current, steps })
}

/** A refusal if `expires` is at or before `now`. */
export function checkExpiry(expires: string, now: number, what: string): Result<never> | undefined {
  const at = Date.parse(expires)
  if (now >= at)
    return fail(
      'expired',
      `expired at ${expires}: ${what} is no longer valid; ask the maintainers for a fresh one`,
    )
  return undefined
}
