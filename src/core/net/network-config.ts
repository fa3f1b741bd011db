/**
 * The network file a community hands its node runners: the network's name, its trust anchor
 * (a root signed by its own threshold) and bootstrap peers. Decoding never throws.
 */
import { fromUtf8, utf8 } from '../bytes.ts'
import { SchemaError } from '../errors.ts'
import { prettyJson } from '../manifest/canonical.ts'
import { encodeEnvelope, schemaFailure } from '../manifest/envelope.ts'
import { type RootSigned, verifyAnchorRoot } from '../manifest/root.ts'
import * as s from '../manifest/schema.ts'
import type { VerifyFn } from '../manifest/signing.ts'
import { parseStrictJson } from '../manifest/strict-json.ts'
import { fail, ok, type Result } from '../result.ts'
import { PEER_ID_RE } from '../rollout/report.ts'

/** Document type of a network file. */
export const NETWORK_TYPE = 'convoy/network'
/** Largest network file accepted. */
export const MAX_NETWORK_BYTES: number = 128 * 1024

/** A decoded, anchor-verified network file. */
export interface NetworkConfig {
  network: string
  /** The trust anchor, verified against its own threshold. */
  anchor: RootSigned
  /** The anchor as signed bytes, for publishing and re-verification. */
  anchorBytes: Uint8Array
  /** Multiaddrs with /p2p/<peer id>; syntax is checked by the adapter that dials them. */
  bootstrap: string[]
  /**
   * A permissioned network's reporters: the peer ids whose reports count, and no others
   * (core/rollout/admission.ts, rule 1). Absent on an open network.
   */
  reporters?: string[]
}

/** Most reporters a network file may name. */
export const MAX_NETWORK_REPORTERS = 1000

/** Builds the file's bytes. */
export function encodeNetworkConfig(
  anchorBytes: Uint8Array,
  network: string,
  bootstrap: readonly string[],
): Uint8Array {
  const root = JSON.parse(fromUtf8(anchorBytes) ?? 'null') as unknown
  return utf8(prettyJson({ type: NETWORK_TYPE, network, root, bootstrap: [...bootstrap] }))
}

/** Decodes and checks a network file: shape, then the anchor root's own signatures. */
export function decodeNetworkConfig(
  bytes: Uint8Array,
  options: { verify?: VerifyFn } = {},
): Result<NetworkConfig> {
  if (bytes.length > MAX_NETWORK_BYTES)
    return fail('too-large', `too large: ${bytes.length} bytes, the limit is ${MAX_NETWORK_BYTES}`)
  const text = fromUtf8(bytes)
  if (text === undefined) return fail('malformed', 'malformed: not valid UTF-8')
  const parsed = parseStrictJson(text)
  if (!parsed.ok) return parsed
  let network: string
  let bootstrap: string[]
  let root: unknown
  let reporters: string[] | undefined
  try {
    const doc = s.object(
      parsed.value,
      'network file',
      ['type', 'network', 'root', 'bootstrap'],
      ['reporters'],
    )
    if (doc.type !== NETWORK_TYPE)
      throw new SchemaError(`network file type must be "${NETWORK_TYPE}"`)
    network = s.string(doc.network, 'network', s.NAME_RE)
    bootstrap = s.array(doc.bootstrap, 'bootstrap', 64, (x, p) =>
      s.string(x, p, /^\/[\x21-\x7e]+$/, 512),
    )
    if (doc.reporters !== undefined)
      reporters = s.array(doc.reporters, 'reporters', MAX_NETWORK_REPORTERS, (x, p) =>
        s.string(x, p, PEER_ID_RE, 128),
      )
    root = doc.root
  } catch (e) {
    return schemaFailure(e)
  }
  const anchorBytes = encodeEnvelope(root as never)
  const anchor = verifyAnchorRoot(anchorBytes, {
    network,
    ...(options.verify ? { verify: options.verify } : {}),
  })
  if (!anchor.ok) return fail(anchor.code, `trust anchor: ${anchor.reason}`)
  return ok({
    network,
    anchor: anchor.value.signed,
    anchorBytes,
    bootstrap,
    ...(reporters !== undefined ? { reporters } : {}),
  })
}
