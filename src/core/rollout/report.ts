/**
 * Signed shadow and probation reports: the wire form of one node's verdict on a release.
 *
 *   { "body": { "type": "convoy-report", network, reporter, release, version, stage, verdict,
 *               at, reason },
 *     "signature": "<128 lower-case hex: ed25519 by the reporter's peer key>" }
 *
 * The signature covers `convoy-report-v1 NUL network NUL` followed by the RFC 8785 bytes of the
 * body ({@link reportPayload}), so a report signed for network A never verifies on network B, and
 * whitespace, member order or number spelling in transit never change what was signed. The
 * reporter is a libp2p peer id; the core cannot turn one into a public key, so the adapter
 * passes the key in (an Ed25519 peer id embeds it) and must check the id's spelling is
 * canonical. Counting is done by evidence.ts on the {@link Report} a verified envelope yields.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { concatBytes, fromHex, fromUtf8, isHexOfLength, toHex, utf8 } from '../bytes.ts'
import { SchemaError } from '../errors.ts'
import { canonicalBytes } from '../manifest/canonical.ts'
import { schemaFailure } from '../manifest/envelope.ts'
import * as s from '../manifest/schema.ts'
import type { VerifyFn } from '../manifest/signing.ts'
import { parseStrictJson } from '../manifest/strict-json.ts'
import { fail, ok, type Result } from '../result.ts'
import type { Report } from './evidence.ts'

/** Version tag of the report payload layout; bump it if the layout ever changes. */
export const REPORT_CONTEXT = 'convoy-report-v1'
/** The `type` member of every report body. */
export const REPORT_TYPE = 'convoy-report'
/** Largest encoded report accepted by default, in bytes (checked before decoding). */
export const MAX_REPORT_BYTES = 2048
/** Longest `reason`, in characters. */
export const MAX_REPORT_REASON = 200
/** How far in the future a report's `at` may lie, ms: clock skew tolerated. @default 10 min */
export const DEFAULT_MAX_FUTURE_MS: number = 10 * 60_000
/**
 * A peer id as libp2p prints it: base58btc, 1 to 128 characters. Only the alphabet is checked
 * here; the adapter checks that it parses and prints back unchanged.
 */
export const PEER_ID_RE: RegExp = /^[1-9A-HJ-NP-Za-km-z]{1,128}$/
const DIGEST_RE = /^[0-9a-f]{64}$/
/** One line: no control characters. */
const REASON_RE = /^\P{Cc}*$/u

/** What a reporter signs. */
export interface ReportBody {
  type: typeof REPORT_TYPE
  /** Network name: the report counts only there. */
  network: string
  /** Peer id (string form) of the reporter; its key signs the report. */
  reporter: string
  /** Digest of the release manifest judged: 64 lower-case hex. */
  release: string
  /** Version the release carries (semver), for people reading status. */
  version: string
  stage: 'shadow' | 'probation'
  verdict: 'pass' | 'fail'
  /** Reporter's time, ms since the epoch, an integer; orders one reporter's reports. */
  at: number
  /** One line of at most {@link MAX_REPORT_REASON} characters; may be empty. */
  reason: string
}

/** A report body and the reporter's signature over {@link reportPayload}. */
export interface SignedReport {
  body: ReportBody
  /** Lower-case hex of the 64-byte ed25519 signature. */
  signature: string
}

/** Options of {@link decodeReport}. */
export interface DecodeReportOptions {
  /** The receiver's network; a report for any other is refused with `wrong-network`. */
  network: string
  /** Size cap, bytes, checked before anything is parsed. @default 2048 */
  maxBytes?: number
}

/** Options of {@link verifyReport}. */
export interface VerifyReportOptions {
  /** The verifier's time, ms since the epoch. */
  now: number
  /** A report dated more than this after `now` is refused, ms. @default 600000 (10 min) */
  maxFutureMs?: number
}

/** The exact bytes a reporter signs: `convoy-report-v1 NUL network NUL` then JCS(body). */
export function reportPayload(body: ReportBody): Uint8Array {
  return concatBytes(utf8(`${REPORT_CONTEXT}\0${body.network}\0`), canonicalBytes(body))
}

/** Checks the shape of a body; throws a SchemaError naming the field. */
function parseBody(v: unknown): ReportBody {
  const b = s.object(v, 'body', [
    'type',
    'network',
    'reporter',
    'release',
    'version',
    'stage',
    'verdict',
    'at',
    'reason',
  ])
  if (b.type !== REPORT_TYPE) throw new SchemaError(`body.type must be "${REPORT_TYPE}"`)
  if (b.stage !== 'shadow' && b.stage !== 'probation')
    throw new SchemaError('body.stage must be shadow or probation')
  if (b.verdict !== 'pass' && b.verdict !== 'fail')
    throw new SchemaError('body.verdict must be pass or fail')
  return {
    type: REPORT_TYPE,
    network: s.string(b.network, 'body.network', s.NAME_RE),
    reporter: s.string(b.reporter, 'body.reporter', PEER_ID_RE, 128),
    release: s.string(b.release, 'body.release', DIGEST_RE, 64),
    version: s.version(b.version, 'body.version'),
    stage: b.stage,
    verdict: b.verdict,
    at: s.integer(b.at, 'body.at', 0),
    reason: reasonOf(b.reason),
  }
}

function reasonOf(v: unknown): string {
  const r = s.string(v, 'body.reason', REASON_RE, MAX_REPORT_REASON)
  if (!r.isWellFormed()) throw new SchemaError('body.reason has a lone surrogate')
  return r
}

function parseEnvelope(v: unknown): SignedReport {
  const env = s.object(v, 'report', ['body', 'signature'])
  if (!isHexOfLength(env.signature, 64))
    throw new SchemaError('report.signature must be 128 lower-case hex digits')
  return { body: parseBody(env.body), signature: env.signature }
}

/**
 * Checks a body a caller built (the adapter's signing path); returns it or a `malformed:`
 * reason naming the field. Never throws.
 */
export function checkReportBody(body: unknown): Result<ReportBody> {
  try {
    return ok(parseBody(body))
  } catch (e) {
    return schemaFailure(e)
  }
}

/**
 * Decodes untrusted bytes into a signed report: size cap first, strict UTF-8, strict JSON (no
 * duplicate members), exact shape, then the network. It checks no signature: see
 * {@link verifyReport}. Never throws.
 */
export function decodeReport(
  bytes: Uint8Array,
  options: DecodeReportOptions,
): Result<SignedReport> {
  const maxBytes = options.maxBytes ?? MAX_REPORT_BYTES
  if (bytes.length > maxBytes)
    return fail('too-large', `too large: ${bytes.length} bytes, the limit is ${maxBytes}`)
  const text = fromUtf8(bytes)
  if (text === undefined) return fail('malformed', 'malformed: not valid UTF-8')
  const parsed = parseStrictJson(text, { maxDepth: 3 })
  if (!parsed.ok) return parsed
  let env: SignedReport
  try {
    const outer = s.object(parsed.value, 'report', ['body', 'signature'])
    const body = s.object(outer.body, 'body', [], Object.keys((outer.body as object) ?? {}))
    if (body.type !== REPORT_TYPE)
      return fail('wrong-type', `wrong type: ${JSON.stringify(body.type)} is not a report`)
    env = parseEnvelope(parsed.value)
  } catch (e) {
    return schemaFailure(e)
  }
  if (env.body.network !== options.network)
    return fail(
      'wrong-network',
      `wrong network: the report is for "${env.body.network}", this node is on "${options.network}"`,
    )
  return ok(env)
}

/**
 * Verifies the reporter's signature with `publicKey` (the raw 32-byte ed25519 key of
 * `envelope.body.reporter`, which the caller derives from the peer id) and refuses a report
 * dated implausibly far ahead of `now`. Returns the {@link Report} that evidence.ts counts.
 * A bad signature is refused with `threshold` (one valid signature of one was required); a
 * report from the future with `expired` (outside the time it may be used). Never throws.
 */
export function verifyReport(
  envelope: SignedReport,
  publicKey: Uint8Array,
  verify: VerifyFn,
  options: VerifyReportOptions,
): Result<Report> {
  let env: SignedReport
  try {
    env = parseEnvelope(envelope)
  } catch (e) {
    return schemaFailure(e)
  }
  const sig = fromHex(env.signature)!
  let good = false
  try {
    good = publicKey instanceof Uint8Array && verify(reportPayload(env.body), sig, publicKey)
  } catch {
    good = false
  }
  if (!good)
    return fail(
      'threshold',
      `bad signature: the report does not verify against the key of reporter ${env.body.reporter}`,
    )
  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS
  if (env.body.at > options.now + maxFutureMs)
    return fail(
      'expired',
      `from the future: the report is dated ${env.body.at - options.now} ms after this node's clock (at most ${maxFutureMs} ms of skew is allowed)`,
    )
  const b = env.body
  return ok({
    reporter: b.reporter,
    release: b.release,
    stage: b.stage,
    verdict: b.verdict,
    at: b.at,
    ...(b.reason !== '' ? { reason: b.reason } : {}),
  })
}

/**
 * Signs a body with a 32-byte ed25519 secret key (deterministic, RFC 8032). Throws a TypeError
 * naming the field when the body is not a valid report: that is the caller's mistake.
 */
export function signReportBody(body: ReportBody, secretKey: Uint8Array): SignedReport {
  const checked = checkReportBody(body)
  if (!checked.ok) throw new TypeError(`cannot sign the report: ${checked.reason}`)
  return {
    body: checked.value,
    signature: toHex(ed25519.sign(reportPayload(checked.value), secretKey)),
  }
}

/** The bytes sent for a report: the RFC 8785 form of the envelope, so every node sends the same. */
export function encodeReport(envelope: SignedReport): Uint8Array {
  return canonicalBytes(envelope)
}
