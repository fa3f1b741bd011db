/**
 * `npm run bench`: median time to verify a 3-of-5 release manifest from its bytes, and a 10-step
 * root chain. Target (issue 2): a 3-of-5 manifest in under 5 ms on the project machine.
 */
import { cpus, totalmem } from 'node:os'
import { sha256 } from '@noble/hashes/sha2.js'
import { opensslVerify } from '../src/adapters/crypto/ed25519.ts'
import { toHex, utf8 } from '../src/core/bytes.ts'
import {
  draftRelease,
  draftRoot,
  rootKey,
  rotateRoot,
  signDocument,
} from '../src/core/manifest/draft.ts'
import { type Envelope, encodeEnvelope } from '../src/core/manifest/envelope.ts'
import { verifyRelease } from '../src/core/manifest/release.ts'
import { type RootSigned, verifyRootChain } from '../src/core/manifest/root.ts'
import { nobleVerify, publicKeyOf, type VerifyFn } from '../src/core/manifest/signing.ts'

const now = Date.parse('2026-11-28T00:00:00Z')
const year = 365 * 86_400_000
const secret = (i: number) => sha256(utf8(`bench-key-${i}`))
const pub = (i: number) => toHex(publicKeyOf(secret(i)))

function signAll<T extends RootSigned>(env: Envelope<T>, ids: number[]): Envelope<T> {
  let out = env
  for (const i of ids) out = signDocument(out, secret(i))
  return out
}

function median(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

function time(fn: () => void, runs: number): { median: number; p90: number } {
  for (let i = 0; i < Math.min(50, runs); i++) fn() // warm-up
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint()
    fn()
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  samples.sort((a, b) => a - b)
  return { median: median(samples), p90: samples[Math.floor(samples.length * 0.9)]! }
}

// 3-of-5 manifest.
const root = signAll(
  draftRoot({
    network: 'bench',
    threshold: 3,
    keys: [0, 1, 2, 3, 4].map((i) => rootKey(pub(i))),
    expires: now + year,
  }),
  [0, 1, 2],
)
let release = draftRelease({
  network: 'bench',
  channel: 'stable',
  version: '1.0.0',
  sequence: 1,
  expires: now + year,
  artifacts: {
    node: { sha256: 'ab'.repeat(32), length: 12345 },
    'linux-x64': { sha256: 'cd'.repeat(32), length: 67890 },
  },
  capabilities: ['hello/1'],
})
for (const i of [0, 1, 2]) release = signDocument(release, secret(i))
const releaseBytes = encodeEnvelope(release)
const check = verifyRelease(releaseBytes, { root: root.signed, now })
if (!check.ok) throw new Error(`bench setup: ${check.reason}`)
const benchManifest = (verify: VerifyFn) =>
  time(() => {
    const r = verifyRelease(releaseBytes, { root: root.signed, now, verify })
    if (!r.ok) throw new Error(r.reason)
  }, 500)
const manifest = { noble: benchManifest(nobleVerify), openssl: benchManifest(opensslVerify) }

// 10-step root chain: each step rotates one key and is signed by 3 old + 3 new keys.
const chain: Uint8Array[] = []
let current = root.signed
for (let step = 1; step <= 10; step++) {
  const drop = current.keys[0]!.keyid
  const next = rotateRoot(current, {
    remove: [drop],
    add: [rootKey(pub(4 + step))],
    threshold: 3,
    expires: now + year,
  })
  const ids = [
    ...new Set([...current.keys.slice(0, 3), ...next.signed.keys.slice(-3)].map((k) => k.keyid)),
  ]
  const byId = new Map(Array.from({ length: 20 }, (_, i) => [rootKey(pub(i)).keyid, i]))
  const signed = signAll(
    next,
    ids.map((id) => byId.get(id)!),
  )
  chain.push(encodeEnvelope(signed))
  current = signed.signed
}
const chainCheck = verifyRootChain(root.signed, chain, { now })
if (!chainCheck.ok || chainCheck.value.steps !== 10)
  throw new Error(`bench setup: ${chainCheck.ok ? 'steps' : chainCheck.reason}`)
const benchChain = (verify: VerifyFn) =>
  time(() => {
    const r = verifyRootChain(root.signed, chain, { now, verify })
    if (!r.ok) throw new Error(r.reason)
  }, 50)
const rootChain = { noble: benchChain(nobleVerify), openssl: benchChain(opensslVerify) }

const cpu = cpus()[0]?.model ?? 'unknown cpu'
console.log(
  `machine: ${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
)
for (const v of ['openssl', 'noble'] as const) {
  const m = manifest[v]
  const c = rootChain[v]
  const label =
    v === 'openssl'
      ? 'node:crypto (what the CLI and node use)'
      : '@noble/curves (pure core default)'
  console.log(`verifier: ${label}`)
  console.log(
    `  verify 3-of-5 manifest (${releaseBytes.length} bytes): median ${m.median.toFixed(3)} ms, p90 ${m.p90.toFixed(3)} ms (target < 5 ms: ${m.median < 5 ? 'met' : 'MISSED'})`,
  )
  console.log(
    `  verify 10-step root chain: median ${c.median.toFixed(2)} ms, p90 ${c.p90.toFixed(2)} ms`,
  )
}
