/**
 * The DHT store file (core/net/store-file.ts): what is written reads back the same, and the
 * reader refuses every file that breaks a rule, whatever its bytes, without throwing.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import fc from 'fast-check'
import { utf8 } from '../../src/core/bytes.ts'
import {
  decodeStoreFile,
  encodeStoreFile,
  MAX_PROVIDER_VALUE_BYTES,
  MAX_STORE_KEY_BYTES,
  MAX_STORE_VALUE_BYTES,
  maxStoreFileBytes,
  type StoreEntry,
} from '../../src/core/net/store-file.ts'
import { classifyStoreKey } from '../../src/core/net/store-quota.ts'

const LIMITS = { records: 8, providers: 8, providersPerPeer: 4 }
const b32 = fc.stringMatching(/^[a-z2-7]{1,60}$/)
const entry: fc.Arbitrary<StoreEntry> = fc.oneof(
  fc.record({
    key: b32.map((k) => `/dht/record/${k}`),
    value: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({
    key: fc.tuple(b32, b32).map(([c, p]) => `/dht/provider/${c}/${p}`),
    value: fc.uint8Array({ maxLength: 10 }),
  }),
)
/** Entries with distinct keys, within LIMITS. */
const entries = fc
  .uniqueArray(entry, { selector: (e) => e.key, maxLength: 16 })
  .filter(
    (l) =>
      l.filter((e) => classifyStoreKey(e.key).kind === 'record').length <= LIMITS.records &&
      l.filter((e) => classifyStoreKey(e.key).kind === 'provider').length <= LIMITS.providers,
  )

it('what is written reads back the same', () => {
  fc.assert(
    fc.property(entries, (list) => {
      const d = decodeStoreFile(encodeStoreFile(list), LIMITS)
      assert.ok(d.ok, d.ok ? '' : d.reason)
      assert.deepEqual(
        d.value.map((e) => [e.key, [...e.value]]),
        list.map((e) => [e.key, [...e.value]]),
      )
    }),
    { numRuns: 500 },
  )
})

it('any bytes: never throws, and what it accepts keeps every rule', () => {
  // Files near valid ones (cut, a byte changed, junk appended) and plain junk.
  const damaged = fc.oneof(
    fc.tuple(entries, fc.nat(), fc.nat(255)).map(([l, at, b]) => {
      const f = encodeStoreFile(l)
      const i = at % f.byteLength
      const g = f.slice()
      g[i] = b
      return g
    }),
    fc.tuple(entries, fc.nat()).map(([l, n]) => {
      const f = encodeStoreFile(l)
      return f.subarray(0, n % (f.byteLength + 1))
    }),
    fc.tuple(entries, fc.uint8Array({ maxLength: 40 })).map(([l, junk]) => {
      const f = encodeStoreFile(l)
      const g = new Uint8Array(f.byteLength + junk.byteLength)
      g.set(f)
      g.set(junk, f.byteLength)
      return g
    }),
    fc.uint8Array({ maxLength: 200 }),
  )
  fc.assert(
    fc.property(damaged, (bytes) => {
      const d = decodeStoreFile(bytes, LIMITS)
      if (!d.ok) return
      const keys = new Set<string>()
      let records = 0
      let providers = 0
      for (const e of d.value) {
        const kind = classifyStoreKey(e.key).kind
        assert.notEqual(kind, 'other', e.key)
        assert.ok(!keys.has(e.key), `twice: ${e.key}`)
        keys.add(e.key)
        assert.ok(utf8(e.key).byteLength <= MAX_STORE_KEY_BYTES)
        if (kind === 'record') {
          records++
          assert.ok(e.value.byteLength <= MAX_STORE_VALUE_BYTES)
        } else {
          providers++
          assert.ok(e.value.byteLength <= MAX_PROVIDER_VALUE_BYTES)
        }
      }
      assert.ok(records <= LIMITS.records && providers <= LIMITS.providers)
      assert.ok(bytes.byteLength <= maxStoreFileBytes(LIMITS))
    }),
    { numRuns: 2000 },
  )
})

it('refuses, saying why: another format, a key the quotas do not count, a key twice, too many', () => {
  const rec = (k: string): StoreEntry => ({ key: `/dht/record/${k}`, value: utf8('v') })
  const reason = (bytes: Uint8Array): string => {
    const d = decodeStoreFile(bytes, LIMITS)
    assert.ok(!d.ok)
    return d.reason
  }
  assert.match(reason(utf8('{"records": []}')), /not a convoy DHT store/)
  assert.match(
    reason(encodeStoreFile([{ key: '/peers/abc', value: utf8('x') }])),
    /not a DHT record's/,
  )
  assert.match(reason(encodeStoreFile([rec('a'), rec('a')])), /there twice/)
  const many = Array.from({ length: LIMITS.records + 1 }, (_, i) => rec(`k${i}`))
  assert.match(reason(encodeStoreFile(many)), /more than 8 records/)
  const big = { key: '/dht/provider/c/p', value: new Uint8Array(MAX_PROVIDER_VALUE_BYTES + 1) }
  assert.match(reason(encodeStoreFile([big])), /a provider record of 65 bytes at byte \d+, over 64/)
  const file = encodeStoreFile([rec('a')])
  assert.match(reason(file.subarray(0, file.byteLength - 1)), /truncated at byte \d+/)
})
