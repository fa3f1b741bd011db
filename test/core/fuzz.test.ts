/**
 * Fuzzing every wire decoder a peer can reach: hello, manifest exchange, reports, artifact
 * control messages, DHT records (release, root and revocation envelopes) and DHT keys. For each, random
 * bytes, random JSON and byte-level mutations of a valid message: nothing throws out of the
 * core, and whatever is accepted is strict JSON (no duplicate keys, no lone surrogates) that
 * decodes to the same value again once re-encoded.
 *
 * `npm test` runs 2,000 inputs per decoder and input kind; `npm run test:fuzz` (run by .ci/run)
 * runs 100,000 (CONVOY_FUZZ_RUNS). A failure prints fast-check's seed and shrunk input; replay
 * it with CONVOY_FUZZ_SEED and CONVOY_FUZZ_PATH.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { fromUtf8, utf8 } from '../../src/core/bytes.ts'
import { draftRevocation } from '../../src/core/manifest/draft.ts'
import { decodeEnvelope, encodeEnvelope } from '../../src/core/manifest/envelope.ts'
import { decodeRelease, MAX_RELEASE_BYTES } from '../../src/core/manifest/release.ts'
import { decodeRevocation, MAX_REVOCATION_BYTES } from '../../src/core/manifest/revocation.ts'
import { decodeRoot } from '../../src/core/manifest/root.ts'
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts'
import {
  decodeChunkIndex,
  encodeChunkIndex,
  MAX_INDEX_BYTES,
  MIN_CHUNK_BYTES,
} from '../../src/core/net/chunks.ts'
import { formatDhtKey, parseDhtKey } from '../../src/core/net/dht-keys.ts'
import { decodeHelloMessage, encodeHelloMessage } from '../../src/core/net/hello.ts'
import {
  decodeArtifactReplyHead,
  decodeArtifactRequest,
  decodeManifestReplyHead,
  decodeManifestRequest,
  encodeArtifactReplyHead,
  encodeArtifactRequest,
  encodeManifestReplyHead,
  encodeManifestRequest,
  MAX_ARTIFACT_REPLY_BYTES,
} from '../../src/core/net/wire.ts'
import type { Result } from '../../src/core/result.ts'
import { decodeReport, encodeReport } from '../../src/core/rollout/report.ts'
import { keys, makeRelease, makeRoot, NOW, signWith } from './fixtures.ts'

const RUNS = Number(process.env.CONVOY_FUZZ_RUNS ?? 2000)
const params = {
  numRuns: RUNS,
  ...(process.env.CONVOY_FUZZ_SEED ? { seed: Number(process.env.CONVOY_FUZZ_SEED) } : {}),
  ...(process.env.CONVOY_FUZZ_PATH ? { path: process.env.CONVOY_FUZZ_PATH } : {}),
}

interface Decoder<T> {
  name: string
  decode(bytes: Uint8Array): Result<T>
  encode(value: T): Uint8Array
  /** Valid encodings to mutate. */
  samples: Uint8Array[]
  maxBytes: number
}

const K = keys('fuzz-', 3)
/** The artifact the fuzzed chunk indexes claim to describe: three chunks of the smallest size. */
const CHUNKED = { sha256: 'cd'.repeat(32), length: 2 * MIN_CHUNK_BYTES + 7 }
const release = encodeEnvelope(makeRelease(K.slice(0, 2)))
const root = encodeEnvelope(makeRoot(K, 2))
const revocation = encodeEnvelope(
  signWith(
    draftRevocation({ release: makeRelease(K.slice(0, 2)).signed, reason: 'fuzz', issued: NOW }),
    K.slice(0, 2),
  ),
)
const reportBytes = utf8(
  JSON.stringify({
    body: {
      type: 'convoy-report',
      network: 'testnet',
      reporter: '12D3KooWLJtG8fd2hkQzTn96MrLvThmnNQjTUFZwGEsLRz5EmSzc',
      release: 'ab'.repeat(32),
      version: '1.2.0',
      stage: 'probation',
      verdict: 'fail',
      at: 1_800_000_000_000,
      reason: 'exited with code 1',
    },
    signature: 'cd'.repeat(64),
  }),
)
const hello = {
  type: 'hello-reply' as const,
  hello: {
    network: 'testnet',
    version: '1.2.0',
    channel: 'stable',
    capabilities: ['hello/1', 'manifest/1'],
    sequences: { stable: 7 },
    rootVersion: 1,
    role: 'node' as const,
  },
  verdict: { status: 'ok' as const, current: { version: '1.2.0', sequence: 7 }, reasons: [] },
}

const decoders: Decoder<unknown>[] = [
  {
    name: 'hello',
    decode: decodeHelloMessage,
    encode: (v) => encodeHelloMessage(v as never),
    samples: [encodeHelloMessage(hello)],
    maxBytes: 4096,
  },
  {
    name: 'report',
    decode: (b) => decodeReport(b, { network: 'testnet' }),
    encode: (v) => encodeReport(v as never),
    samples: [reportBytes],
    maxBytes: 2048,
  },
  {
    name: 'release record',
    decode: (b) => decodeRelease(b),
    encode: (v) => encodeEnvelope(v as never),
    samples: [release],
    maxBytes: MAX_RELEASE_BYTES,
  },
  {
    name: 'root record',
    decode: (b) => decodeRoot(b),
    encode: (v) => encodeEnvelope(v as never),
    samples: [root],
    maxBytes: 64 * 1024,
  },
  {
    name: 'revocation record',
    decode: (b) => decodeRevocation(b),
    encode: (v) => encodeEnvelope(v as never),
    samples: [revocation],
    maxBytes: MAX_REVOCATION_BYTES,
  },
  {
    name: 'envelope',
    decode: (b) => decodeEnvelope(b, 64 * 1024),
    encode: (v) => encodeEnvelope(v as never),
    samples: [release, root],
    maxBytes: 64 * 1024,
  },
  {
    name: 'manifest request',
    decode: decodeManifestRequest,
    encode: (v) => encodeManifestRequest(v as never),
    samples: [encodeManifestRequest({ channel: 'stable', rootVersion: 2 })],
    maxBytes: 256,
  },
  {
    name: 'manifest reply head',
    decode: decodeManifestReplyHead,
    encode: (v) => encodeManifestReplyHead(v as never),
    samples: [encodeManifestReplyHead({ roots: 2, manifest: true })],
    maxBytes: 256,
  },
  {
    name: 'artifact request',
    decode: decodeArtifactRequest,
    encode: (v) => encodeArtifactRequest(v as never),
    samples: [
      encodeArtifactRequest({ sha256: 'ef'.repeat(32), offset: 65536, confirm: true }),
      encodeArtifactRequest({
        sha256: 'ef'.repeat(32),
        offset: 65536,
        confirm: true,
        end: 2 ** 20,
      }),
    ],
    maxBytes: 256,
  },
  {
    name: 'artifact reply head',
    decode: decodeArtifactReplyHead,
    encode: (v) => encodeArtifactReplyHead(v as never),
    samples: [
      encodeArtifactReplyHead({ status: 'ok', length: 20_000_000 }),
      encodeArtifactReplyHead({ status: 'busy', reason: 'budget' }),
      encodeArtifactReplyHead({ status: 'ok', length: 20_000_000, end: 2 ** 20 }),
      encodeArtifactReplyHead({ status: 'not-found', have: 'gAAB' }),
    ],
    maxBytes: MAX_ARTIFACT_REPLY_BYTES,
  },
  {
    name: 'chunk index',
    decode: (b) => decodeChunkIndex(b, CHUNKED),
    encode: (v) => encodeChunkIndex(v as never),
    samples: [
      encodeChunkIndex({
        artifact: CHUNKED,
        chunkSize: MIN_CHUNK_BYTES,
        chunks: ['0a'.repeat(32), '0b'.repeat(32), '0c'.repeat(32)],
      }),
    ],
    maxBytes: MAX_INDEX_BYTES,
  },
]

/** A valid message with bytes flipped, inserted, deleted or a span replaced by JSON. */
function mutated(samples: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.string({ maxLength: 8, unit: 'binary' }),
    }),
    fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 16 }),
    }),
    fc.record({
      kind: fc.constant('splice' as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 24 }),
      json: fc.json({ maxDepth: 2 }),
    }),
  )
  return fc
    .tuple(fc.constantFrom(...samples), fc.array(edit, { minLength: 1, maxLength: 4 }))
    .map(([sample, edits]) => {
      let b = Array.from(sample)
      for (const e of edits) {
        const at = b.length === 0 ? 0 : e.at % b.length
        if (e.kind === 'flip') b[at] = e.byte
        else if (e.kind === 'delete') b.splice(at, e.n)
        else if (e.kind === 'insert') b.splice(at, 0, ...utf8(e.text))
        else b.splice(at, e.n, ...utf8(e.json))
      }
      if (b.length > 70_000) b = b.slice(0, 70_000)
      return Uint8Array.from(b)
    })
}

/** Checks one input: no throw; an acceptance is strict JSON and a fixed point of re-encoding. */
function check(d: Decoder<unknown>, bytes: Uint8Array): void {
  let r: Result<unknown>
  try {
    r = d.decode(bytes)
  } catch (e) {
    assert.fail(`${d.name} threw ${(e as Error).stack}`)
  }
  assert.equal(typeof r.ok, 'boolean')
  if (!r.ok) {
    assert.equal(typeof r.reason, 'string')
    assert.ok(
      r.reason.length > 0 && r.reason.length < 2000,
      `${d.name}: a reason of sensible length`,
    )
    return
  }
  assert.ok(bytes.length <= d.maxBytes, `${d.name} accepted ${bytes.length} bytes over its cap`)
  const text = fromUtf8(bytes)
  assert.ok(text !== undefined, `${d.name} accepted bytes that are not UTF-8`)
  assert.ok(
    parseStrictJson(text).ok,
    `${d.name} accepted what strict JSON refuses: ${text.slice(0, 200)}`,
  )
  const again = d.decode(d.encode(r.value))
  assert.ok(again.ok, `${d.name}: the re-encoded value is refused: ${again.ok ? '' : again.reason}`)
  assert.deepEqual(again.value, r.value, `${d.name}: re-encoding changed the value`)
}

describe(`wire decoders under fuzzing (${RUNS} inputs per decoder and kind)`, () => {
  for (const d of decoders) {
    it(`${d.name}: the samples decode (so the mutations start from valid messages)`, () => {
      for (const s of d.samples) {
        const r = d.decode(s)
        assert.ok(r.ok, `${d.name}: ${r.ok ? '' : r.reason}`)
      }
    })

    it(`${d.name}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: Math.min(d.maxBytes + 64, 4096) }), (b) =>
          check(d, b),
        ),
        params,
      )
    })

    it(`${d.name}: random JSON`, () => {
      fc.assert(
        fc.property(fc.json({ maxDepth: 4 }), (t) => check(d, utf8(t))),
        params,
      )
    })

    it(`${d.name}: mutations of a valid message`, () => {
      fc.assert(
        fc.property(mutated(d.samples), (b) => check(d, b)),
        params,
      )
    })
  }

  it('DHT keys: only the canonical spelling parses, and it formats back to itself', () => {
    const part = fc.oneof(
      fc.constantFrom(
        'convoy-rel',
        'convoy-root',
        'testnet',
        'stable',
        '0',
        '1',
        '01',
        '1e0',
        ' 1',
        '0x1',
        '',
      ),
      fc.string({ maxLength: 12 }),
      fc.nat().map(String),
    )
    fc.assert(
      fc.property(fc.array(part, { maxLength: 6 }), (parts) => {
        const text = `/${parts.join('/')}`
        let k: ReturnType<typeof parseDhtKey>
        try {
          k = parseDhtKey(text)
        } catch (e) {
          assert.fail(`parseDhtKey threw ${(e as Error).message}`)
        }
        if (k !== undefined) assert.equal(formatDhtKey(k), text)
      }),
      params,
    )
  })
})
