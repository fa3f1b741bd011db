/**
 * Signing a report with a node's libp2p identity, and reading that identity from a data dir
 * without taking its lock: what a supervisor needs to speak for its node.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  encodeReport,
  MAX_REPORT_REASON,
  type ReportBody,
  signReportBody,
} from '../../core/rollout/report.ts'
import { DataDirError } from '../fs/node-store.ts'

/** A report body to sign; `type` and `reporter` are filled in from the key when left out. */
export type ReportDraft = Omit<ReportBody, 'type' | 'reporter'> & {
  type?: ReportBody['type']
  reporter?: string
}

/**
 * Signs a report with a node's libp2p identity and returns the encoded envelope, ready for
 * `POST /reports` or {@link ReportService.submit}. The reason is made one line (control
 * characters become spaces) and cut to 200 characters. Throws a TypeError when the key is not
 * Ed25519, when `draft.reporter` is not the key's peer id, or when a field breaks the format.
 */
export function signReport(privateKey: PrivateKey, draft: ReportDraft): Uint8Array {
  if (privateKey?.type !== 'Ed25519')
    throw new TypeError(`signReport: the key must be Ed25519, got ${privateKey?.type}`)
  const reporter = peerIdFromPrivateKey(privateKey).toString()
  if (draft.reporter !== undefined && draft.reporter !== reporter)
    throw new TypeError(
      `signReport: reporter ${draft.reporter} is not the peer id of this key (${reporter})`,
    )
  const body: ReportBody = {
    type: 'convoy-report',
    network: draft.network,
    reporter,
    release: draft.release,
    version: draft.version,
    stage: draft.stage,
    verdict: draft.verdict,
    at: draft.at,
    reason: oneLine(draft.reason ?? ''),
  }
  // libp2p's Ed25519 private key is the 32-byte seed followed by the public key.
  return encodeReport(signReportBody(body, privateKey.raw.subarray(0, 32)))
}

function oneLine(text: string): string {
  const flat = String(text).replace(/\p{Cc}+/gu, ' ')
  return [...flat].slice(0, MAX_REPORT_REASON).join('').slice(0, MAX_REPORT_REASON).toWellFormed()
}

/** Largest identity file read, bytes (an Ed25519 key is 68; RSA keys are larger). */
const MAX_IDENTITY_BYTES = 16 * 1024

/**
 * Reads a node's libp2p identity from `<dataDir>/identity.key` without taking the data dir's
 * lock, so a supervisor can sign its node's reports while the node runs. Throws
 * {@link DataDirError} when the file is missing, too large or damaged.
 */
export async function readIdentityKey(
  dataDir: string,
  options: AbortOptions = {},
): Promise<PrivateKey> {
  const path = join(dataDir, 'identity.key')
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(path, { signal: options.signal }))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT')
      throw new DataDirError(`${path} does not exist: start the node once to create its identity`)
    throw new DataDirError(`${path} cannot be read (${code ?? (e as Error).message})`)
  }
  if (bytes.length > MAX_IDENTITY_BYTES)
    throw new DataDirError(`${path} is ${bytes.length} bytes: not an identity key`)
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (e) {
    throw new DataDirError(`${path} is damaged (${(e as Error).message})`)
  }
}
