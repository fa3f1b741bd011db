/**
 * Release manifests: what a version is, where its bytes are pinned, and how it may roll out.
 *
 * Verification order (each step runs only if the previous passed, cheapest and least trusting
 * first): size cap, UTF-8, strict JSON, shape, document type, network, channel, t-of-n
 * signatures, expiry, sequence against the trusted one. docs/manifest-format.md mirrors this.
 */

import { SchemaError } from '../errors.ts'
import { fail, ok, type Result } from '../result.ts'
import { decodeTyped, type Envelope, schemaFailure } from './envelope.ts'
import { checkExpiry, type RootSigned } from './root.ts'
import * as s from './schema.ts'
import {
  documentDigest,
  type SignatureTally,
  signingPayload,
  tallyDocument,
  thresholdRefusal,
  type VerifyFn,
} from './signing.ts'

/** Document type of a release manifest. */
export const RELEASE_TYPE = 'convoy/release'
/** Largest manifest accepted, in bytes: also the cap on a DHT record. @default 65536 */
export const MAX_RELEASE_BYTES: number = 64 * 1024
/** Most platforms one manifest may pin. */
export const MAX_PLATFORMS = 32
/** Most capabilities one release may list. */
export const MAX_CAPABILITIES = 128
/** Largest artifact a manifest may pin: 4 GiB. */
export const MAX_ARTIFACT_BYTES: number = 4 * 1024 ** 3

/** Platform names: lower case, e.g. "node", "linux-x64". */
export const PLATFORM_RE: RegExp = /^[a-z0-9][a-z0-9_.-]{0,31}$/
/** Capability names, e.g. "hello/1", "shadow-report/1". */
export const CAPABILITY_RE: RegExp = /^[a-z0-9][a-z0-9_./-]{0,63}$/

/** One pinned artifact: its exact bytes, by hash and length. */
export interface ArtifactPin {
  /** Hex sha256 of the artifact bytes. */
  sha256: string
  /** Exact length in bytes; fetches stop at this length (endless-data protection). */
  length: number
}

/**
 * How the release may roll out. Later parts (the rollout state machine) read these; they are
 * signed so that no single node or mirror can loosen them.
 */
export interface RolloutPolicy {
  /** Length of the rollout window in seconds; each node's slot is a hash inside it. */
  windowSeconds: number
  /** Share of nodes (0..1) whose slot puts them in the canary cohort. */
  canaryFraction: number
  /** Seconds a candidate is shadow-run before its verdict. */
  shadowSeconds: number
  /** Seconds a switched node stays on probation before it commits. */
  probationSeconds: number
  /** Distinct passing reporters a non-canary needs before it switches. */
  minPassReports: number
  /** Non-canaries switch only while failures / reports stays at or below this share. */
  maxFailureShare: number
  /** Every node halts the release once failures / reports exceeds this share... */
  haltFailureShare: number
  /** ...and at least this many distinct reporters said "fail". */
  haltMinFailures: number
  /**
   * Probation passes (nodes that ran the release live to the end of their probation) the
   * evidence must hold before any non-canary may switch: the start of the non-canaries' wave.
   * Optional, and omitted by drafts unless set, because 0.1.x nodes refuse unknown policy
   * members: a release that sets it is readable only by nodes of 0.2.0 or later. Absent, it is
   * {@link DEFAULT_MIN_PROBATION_PASSES}.
   */
  minProbationPasses?: number
  /**
   * The switch's downtime budget, seconds: a release whose migration took longer than this in
   * its rehearsal (on the shadow's copy of the data) fails the shadow run, before any node goes
   * down. Optional and omitted by drafts unless set (older nodes refuse unknown policy members:
   * give a release that sets it a `minVersion` of 0.9.0 or later). Absent, only the supervisor's
   * migration deadline (2 min) applies.
   */
  maxDowntimeSeconds?: number
  /**
   * The watch after commit, seconds: within it, a crash loop or a node that stops answering is
   * a late failure (rolled back, reported as a failed probation). Optional, omitted by drafts
   * unless set (older nodes refuse it: `minVersion` 0.9.0 or later); absent, 600.
   */
  watchSeconds?: number
}

/** Probation passes needed before the non-canaries' wave starts, when the policy names none. */
export const DEFAULT_MIN_PROBATION_PASSES = 1

/** Probation passes the policy needs before non-canaries may switch. */
export function probationPassesNeeded(policy: RolloutPolicy): number {
  return policy.minProbationPasses ?? DEFAULT_MIN_PROBATION_PASSES
}

/** Where the artifact was built from; signed, so each co-signer can rebuild and compare. */
export interface ReleaseSource {
  /** Source revision the artifact was packed from (e.g. a git commit). */
  commit: string
  /** Name and version of the tool that packed it. */
  packTool: string
}

/** The signed part of a release manifest. */
export interface ReleaseSigned {
  type: typeof RELEASE_TYPE
  specVersion: 1
  network: string
  channel: string
  /** Semver of the release. */
  version: string
  /** Per-channel counter; a node never accepts a lower one than it has trusted. */
  sequence: number
  /** RFC 3339 UTC; after it the manifest only stops new upgrades from starting. */
  expires: string
  /** Oldest running version that may upgrade straight to this one. */
  minVersion: string
  /** Full capability set of this release (what peers running it may claim). */
  capabilities: string[]
  /** The capabilities this release adds over the previous one (a subset of `capabilities`). */
  addsCapabilities: string[]
  /** Artifact per platform. */
  artifacts: Record<string, ArtifactPin>
  rollout: RolloutPolicy
  /** Release notes for people; at most 4096 characters. */
  notes: string
  source?: ReleaseSource
}

/** A manifest whose signatures, freshness and context have all been checked. */
export interface VerifiedRelease {
  signed: ReleaseSigned
  signatures: Envelope['signatures']
  /** Hex sha256 of the canonical signed part: the manifest's identity. */
  digest: string
  tally: SignatureTally
}

/** Defaults for a drafted rollout policy; documented in docs/manifest-format.md. */
export const DEFAULT_ROLLOUT: Readonly<RolloutPolicy> = Object.freeze({
  windowSeconds: 24 * 3600,
  canaryFraction: 0.02,
  shadowSeconds: 600,
  probationSeconds: 600,
  minPassReports: 3,
  maxFailureShare: 0.1,
  haltFailureShare: 0.25,
  haltMinFailures: 2,
})

function parseRollout(v: unknown): RolloutPolicy {
  const p = 'signed.rollout'
  const r = s.object(v, p, Object.keys(DEFAULT_ROLLOUT), [
    'minProbationPasses',
    'maxDowntimeSeconds',
    'watchSeconds',
  ])
  const policy: RolloutPolicy = {
    windowSeconds: s.integer(r.windowSeconds, `${p}.windowSeconds`, 0, 365 * 86400),
    canaryFraction: s.fraction(r.canaryFraction, `${p}.canaryFraction`),
    shadowSeconds: s.integer(r.shadowSeconds, `${p}.shadowSeconds`, 0, 7 * 86400),
    probationSeconds: s.integer(r.probationSeconds, `${p}.probationSeconds`, 0, 7 * 86400),
    minPassReports: s.integer(r.minPassReports, `${p}.minPassReports`, 0, 1_000_000),
    maxFailureShare: s.fraction(r.maxFailureShare, `${p}.maxFailureShare`),
    haltFailureShare: s.fraction(r.haltFailureShare, `${p}.haltFailureShare`),
    haltMinFailures: s.integer(r.haltMinFailures, `${p}.haltMinFailures`, 1, 1_000_000),
  }
  if (r.minProbationPasses !== undefined)
    policy.minProbationPasses = s.integer(
      r.minProbationPasses,
      `${p}.minProbationPasses`,
      1,
      1_000_000,
    )
  if (r.maxDowntimeSeconds !== undefined)
    policy.maxDowntimeSeconds = s.integer(
      r.maxDowntimeSeconds,
      `${p}.maxDowntimeSeconds`,
      1,
      86_400,
    )
  if (r.watchSeconds !== undefined)
    policy.watchSeconds = s.integer(r.watchSeconds, `${p}.watchSeconds`, 0, 30 * 86_400)
  if (policy.maxFailureShare > policy.haltFailureShare) {
    throw new SchemaError(`${p}.maxFailureShare must not exceed haltFailureShare`)
  }
  return policy
}

/** Checks the shape of a release's signed part; throws {@link SchemaError}. */
export function parseReleaseSigned(v: unknown): ReleaseSigned {
  const required = [
    'type',
    'specVersion',
    'network',
    'channel',
    'version',
    'sequence',
    'expires',
    'minVersion',
    'capabilities',
    'addsCapabilities',
    'artifacts',
    'rollout',
    'notes',
  ]
  const r = s.object(v, 'signed', required, ['source'])
  if (r.type !== RELEASE_TYPE) throw new SchemaError(`signed.type must be "${RELEASE_TYPE}"`)
  if (r.specVersion !== 1) throw new SchemaError('signed.specVersion must be 1')
  const capability = (x: unknown, p: string): string => s.string(x, p, CAPABILITY_RE, 64)
  const capabilities = s.array(r.capabilities, 'signed.capabilities', MAX_CAPABILITIES, capability)
  const adds = s.array(r.addsCapabilities, 'signed.addsCapabilities', MAX_CAPABILITIES, capability)
  if (new Set(capabilities).size !== capabilities.length)
    throw new SchemaError('signed.capabilities lists a capability twice')
  for (const c of adds) {
    if (!capabilities.includes(c))
      throw new SchemaError(
        `signed.addsCapabilities names "${c}", which is not in signed.capabilities`,
      )
  }
  const arts = s.object(r.artifacts, 'signed.artifacts', [], Object.keys(r.artifacts ?? {}))
  const platforms = Object.keys(arts)
  if (platforms.length === 0)
    throw new SchemaError('signed.artifacts must pin at least one platform')
  if (platforms.length > MAX_PLATFORMS)
    throw new SchemaError(`signed.artifacts pins more than ${MAX_PLATFORMS} platforms`)
  const artifacts: Record<string, ArtifactPin> = {}
  for (const platform of platforms) {
    const p = `signed.artifacts.${platform}`
    s.string(platform, 'signed.artifacts platform name', PLATFORM_RE, 32)
    const a = s.object(arts[platform], p, ['sha256', 'length'])
    const sha256 = s.string(a.sha256, `${p}.sha256`, /^[0-9a-f]{64}$/, 64)
    Object.defineProperty(artifacts, platform, {
      value: { sha256, length: s.integer(a.length, `${p}.length`, 1, MAX_ARTIFACT_BYTES) },
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  const signed: ReleaseSigned = {
    type: RELEASE_TYPE,
    specVersion: 1,
    network: s.string(r.network, 'signed.network', s.NAME_RE),
    channel: s.string(r.channel, 'signed.channel', s.NAME_RE),
    version: s.version(r.version, 'signed.version'),
    sequence: s.integer(r.sequence, 'signed.sequence', 1),
    expires: s.time(r.expires, 'signed.expires'),
    minVersion: s.version(r.minVersion, 'signed.minVersion'),
    capabilities,
    addsCapabilities: adds,
    artifacts,
    rollout: parseRollout(r.rollout),
    notes: s.string(r.notes, 'signed.notes', undefined, 4096),
  }
  if (r.source !== undefined) {
    const src = s.object(r.source, 'signed.source', ['commit', 'packTool'])
    signed.source = {
      commit: s.string(src.commit, 'signed.source.commit', /^[0-9a-f]{7,64}$/, 64),
      packTool: s.string(src.packTool, 'signed.source.packTool', /^[\x21-\x7e]{1,64}$/, 64),
    }
  }
  return signed
}

/** Decodes a release document (size cap first) and checks its shape. Signatures are not checked. */
export function decodeRelease(
  bytes: Uint8Array,
  maxBytes: number = MAX_RELEASE_BYTES,
): Result<Envelope<ReleaseSigned>> {
  const env = decodeTyped(bytes, maxBytes, RELEASE_TYPE, 'a release manifest')
  if (!env.ok) return env
  try {
    return ok({ signed: parseReleaseSigned(env.value.signed), signatures: env.value.signatures })
  } catch (e) {
    return schemaFailure(e)
  }
}

/** The bytes each maintainer signs for this release. */
export function releasePayload(signed: ReleaseSigned): Uint8Array {
  return signingPayload(RELEASE_TYPE, signed.network, signed)
}

/** Tallies a release's signatures against a root's keys. */
export function tallyRelease(
  env: Envelope<ReleaseSigned>,
  root: RootSigned,
  verify?: VerifyFn,
): SignatureTally {
  return tallyDocument(RELEASE_TYPE, env.signed, env.signatures, root, verify)
}

/** The newest manifest a node already trusts on a channel (rollback protection). */
export interface TrustedSequence {
  sequence: number
  /** Digest of the trusted manifest at that sequence. */
  digest: string
}

/** Context for {@link verifyRelease}. */
export interface ReleaseCheckOptions {
  /** The verified current key set. */
  root: RootSigned
  /** Current time, ms since the epoch (passed in: the core reads no clock). */
  now: number
  /** Channel the caller follows; refused when the manifest names another. */
  channel?: string
  /** Highest manifest already trusted on this channel; older ones are refused. */
  trusted?: TrustedSequence
  /** Largest document accepted. @default MAX_RELEASE_BYTES */
  maxBytes?: number
  /**
   * Accept an expired manifest. For knowing what a running version is, never for starting an
   * upgrade: expiry must stop new upgrades but never strand a node. @default false
   */
  allowExpired?: boolean
  /** Signature check to use. @default nobleVerify */
  verify?: VerifyFn
}

/** Verifies a release manifest; never throws on untrusted bytes. */
export function verifyRelease(
  bytes: Uint8Array,
  options: ReleaseCheckOptions,
): Result<VerifiedRelease> {
  const env = decodeRelease(bytes, options.maxBytes)
  if (!env.ok) return env
  return verifyDecodedRelease(env.value, options)
}

/** {@link verifyRelease} for an already decoded envelope. */
export function verifyDecodedRelease(
  env: Envelope<ReleaseSigned>,
  options: ReleaseCheckOptions,
): Result<VerifiedRelease> {
  const { signed } = env
  const { root } = options
  if (signed.network !== root.network) {
    return fail(
      'wrong-network',
      `wrong network: manifest is for "${signed.network}", this root signs for "${root.network}"`,
    )
  }
  if (options.channel !== undefined && signed.channel !== options.channel) {
    return fail(
      'wrong-channel',
      `wrong channel: manifest is for "${signed.channel}", expected "${options.channel}"`,
    )
  }
  const tally = tallyRelease(env, root, options.verify)
  const short = thresholdRefusal(tally, root)
  if (short) return short
  if (options.allowExpired !== true) {
    const expired = checkExpiry(
      signed.expires,
      options.now,
      `release ${signed.version} (sequence ${signed.sequence})`,
    )
    if (expired) return expired
    // No new upgrade under an expired key set: a root past its expiry may have lost keys the
    // maintainers meant to rotate out. History (allowExpired) still verifies.
    const rootExpired = checkExpiry(root.expires, options.now, `root v${root.version}, the key set`)
    if (rootExpired) return rootExpired
  }
  const digest = documentDigest(signed)
  const trusted = options.trusted
  if (trusted !== undefined) {
    if (signed.sequence < trusted.sequence) {
      return fail(
        'stale-sequence',
        `sequence ${signed.sequence} is older than trusted ${trusted.sequence}: a replayed or outdated manifest`,
      )
    }
    if (signed.sequence === trusted.sequence && digest !== trusted.digest) {
      return fail(
        'conflict',
        `conflict: sequence ${signed.sequence} is already trusted with a different manifest (${trusted.digest.slice(0, 12)}); two signed manifests for one sequence mean a maintainer key is misused`,
      )
    }
  }
  return ok({ signed, signatures: env.signatures, digest, tally })
}
