/**
 * Writes test/vectors/convoy-v1.json: golden vectors for convoy's own formats (root and release
 * envelopes, their signing payloads and digests, an attestation, a rotation, rollout slots, a
 * report, a hello, DHT keys). Keys come from fixed labels, signatures are deterministic
 * (RFC 8032), so the output is the same on every machine.
 *
 * Run it only when a format changes on purpose, and then bump the format's context string or
 * specVersion: test/core/vectors.test.ts fails on any other change, because a node of the
 * previous release verifies exactly these bytes.
 * `node test/vectors/generate.ts && npx biome format --write test/vectors`
 */
import { writeFileSync } from 'node:fs'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import { toHex, utf8 } from '../../src/core/bytes.ts'
import {
  draftRelease,
  draftRoot,
  rootKey,
  rotateRoot,
  signDocument,
} from '../../src/core/manifest/draft.ts'
import { encodeEnvelope } from '../../src/core/manifest/envelope.ts'
import { releasePayload } from '../../src/core/manifest/release.ts'
import { ROOT_TYPE } from '../../src/core/manifest/root.ts'
import {
  attestationPayload,
  documentDigest,
  publicKeyOf,
  signingPayload,
} from '../../src/core/manifest/signing.ts'
import { formatDhtKey } from '../../src/core/net/dht-keys.ts'
import { encodeHelloMessage } from '../../src/core/net/hello.ts'
import { encodeReport, reportPayload, signReportBody } from '../../src/core/rollout/report.ts'
import { rolloutSlot } from '../../src/core/rollout/slot.ts'

/** The "now" the vectors are valid at (every expiry is after it). */
export const VECTOR_NOW: number = Date.parse('2026-12-01T00:00:00Z')
const EXPIRES = Date.parse('2027-12-01T00:00:00Z')

const secret = (label: string) => sha256(utf8(`convoy-vector-key:${label}`))
const maintainers = ['alice', 'bob', 'carol'].map((name) => {
  const secretKey = secret(name)
  return { name, secretKey, key: rootKey(toHex(publicKeyOf(secretKey)), name) }
})
const dave = { secretKey: secret('dave'), key: rootKey(toHex(publicKeyOf(secret('dave'))), 'dave') }

let root = draftRoot({
  network: 'vectornet',
  threshold: 2,
  keys: maintainers.map((m) => m.key),
  expires: EXPIRES,
})
for (const m of maintainers) root = signDocument(root, m.secretKey)

// Root v2: dave joins, carol leaves, threshold stays 2; signed by 2 of v1 and 2 of v2.
let root2 = rotateRoot(root.signed, {
  add: [dave.key],
  remove: [maintainers[2]!.key.keyid],
  expires: EXPIRES,
})
for (const sk of [maintainers[0]!.secretKey, maintainers[1]!.secretKey, dave.secretKey])
  root2 = signDocument(root2, sk)

let release = draftRelease({
  network: 'vectornet',
  channel: 'stable',
  version: '1.4.0-rc.10',
  sequence: 12,
  expires: EXPIRES,
  minVersion: '1.3.0',
  capabilities: ['hello/1', 'manifest/1', 'shadow/1'],
  addsCapabilities: ['shadow/1'],
  artifacts: { node: { sha256: toHex(sha256(utf8('vector artifact'))), length: 15 } },
  rollout: { canaryFraction: 0.05, minProbationPasses: 2 },
  notes: 'golden vector: ünïcödé and "quotes"',
})
release = signDocument(release, maintainers[0]!.secretKey, { reproduced: true })
release = signDocument(release, maintainers[1]!.secretKey)
const releaseDigest = documentDigest(release.signed)

// The reporter is a libp2p ed25519 identity; its peer id is what reports and slots name.
const reporterSecret = secret('reporter')
const reporterKey = privateKeyFromRaw(
  new Uint8Array([...reporterSecret, ...publicKeyOf(reporterSecret)]),
)
const reporter = peerIdFromPrivateKey(reporterKey).toString()
const report = signReportBody(
  {
    type: 'convoy-report',
    network: 'vectornet',
    reporter,
    release: releaseDigest,
    version: release.signed.version,
    stage: 'probation',
    verdict: 'fail',
    at: VECTOR_NOW,
    reason: 'exited with code 1 after 3.0 s live',
  },
  reporterSecret,
)
const hello = {
  type: 'hello' as const,
  hello: {
    network: 'vectornet',
    version: '1.3.2',
    channel: 'stable',
    capabilities: ['hello/1', 'manifest/1'],
    sequences: { stable: 11 },
    rootVersion: 2,
    role: 'node' as const,
  },
}

const vectors = {
  description:
    'Golden vectors for convoy formats. Do not edit by hand; see test/vectors/generate.ts. A change here is a format change: the installed base verifies these bytes.',
  now: new Date(VECTOR_NOW).toISOString(),
  keys: [...maintainers, { name: 'dave', ...dave }].map((m) => ({
    name: m.key.name,
    secretKey: toHex(m.secretKey),
    publicKey: m.key.publicKey,
    keyid: m.key.keyid,
  })),
  root: {
    bytes: new TextDecoder().decode(encodeEnvelope(root)),
    payload: toHex(signingPayload(ROOT_TYPE, root.signed.network, root.signed)),
    digest: documentDigest(root.signed),
  },
  rotation: {
    bytes: new TextDecoder().decode(encodeEnvelope(root2)),
    payload: toHex(signingPayload(ROOT_TYPE, root2.signed.network, root2.signed)),
    digest: documentDigest(root2.signed),
  },
  release: {
    bytes: new TextDecoder().decode(encodeEnvelope(release)),
    payload: toHex(releasePayload(release.signed)),
    digest: releaseDigest,
    attestationPayload: toHex(attestationPayload('vectornet', releaseDigest)),
  },
  slots: ['alice', 'bob', reporter].map((peer) => ({
    peer,
    release: releaseDigest,
    slot: rolloutSlot(peer, releaseDigest),
  })),
  report: {
    reporter,
    secretKey: toHex(reporterSecret),
    publicKey: toHex(publicKeyOf(reporterSecret)),
    bytes: new TextDecoder().decode(encodeReport(report)),
    payload: toHex(reportPayload(report.body)),
  },
  hello: { message: hello, bytes: new TextDecoder().decode(encodeHelloMessage(hello)) },
  dhtKeys: [
    { key: { kind: 'latest', network: 'vectornet', channel: 'stable' } },
    { key: { kind: 'sequence', network: 'vectornet', channel: 'stable', sequence: 12 } },
    { key: { kind: 'root', network: 'vectornet', version: 2 } },
  ].map(({ key }) => ({ key, text: formatDhtKey(key as Parameters<typeof formatDhtKey>[0]) })),
}

const out = new URL('./convoy-v1.json', import.meta.url)
writeFileSync(out, `${JSON.stringify(vectors, null, 2)}\n`)
console.log(`wrote ${out.pathname}`)
