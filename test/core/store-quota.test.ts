/** Quotas on what peers can make a node store through the DHT (core/net/store-quota.ts). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { classifyStoreKey, StoreQuota } from '../../src/core/net/store-quota.ts'

const provider = (cid: string, peer: string) => `/dht/provider/${cid}/${peer}`
const record = (k: string) => `/dht/record/${k}`

describe('DHT store quotas', () => {
  it('reads kad-dht keys', () => {
    assert.deepEqual(classifyStoreKey(record('abc')), { kind: 'record' })
    assert.deepEqual(classifyStoreKey(provider('cid', 'peerA')), {
      kind: 'provider',
      peer: 'peerA',
    })
    assert.deepEqual(classifyStoreKey('/peers/abc'), { kind: 'other' })
    assert.deepEqual(classifyStoreKey('/dht/provider/cid'), { kind: 'other' })
  })

  it('caps providers per peer and in all; updates always pass; deletes free room', () => {
    const q = new StoreQuota({ records: 2, providers: 3, providersPerPeer: 2 })
    const put = (k: string, exists = false) => {
      const why = q.refusal(k, exists)
      if (why === undefined && !exists) q.added(k)
      return why
    }
    assert.equal(put(provider('c1', 'a')), undefined)
    assert.equal(put(provider('c2', 'a')), undefined)
    assert.equal(put(provider('c3', 'a')), 'providers-per-peer')
    assert.equal(put(provider('c2', 'a'), true), undefined, 'an update of a held key')
    assert.equal(put(provider('c1', 'b')), undefined)
    assert.equal(put(provider('c2', 'b')), 'providers')
    q.removed(provider('c1', 'a'))
    assert.equal(put(provider('c2', 'b')), undefined)
    assert.equal(put(record('x')), undefined)
    assert.equal(put(record('y')), undefined)
    assert.equal(put(record('z')), 'records')
    assert.equal(put('/peers/anything'), undefined, 'other keys are not counted')
  })

  it('never holds more than the quotas, for any sequence of puts and deletes', () => {
    const limits = { records: 5, providers: 8, providersPerPeer: 3 }
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            del: fc.boolean(),
            kind: fc.constantFrom('record', 'provider'),
            id: fc.integer({ min: 0, max: 12 }),
            peer: fc.integer({ min: 0, max: 4 }),
          }),
          { maxLength: 200 },
        ),
        (ops) => {
          const q = new StoreQuota(limits)
          const held = new Set<string>()
          for (const op of ops) {
            const k =
              op.kind === 'record' ? record(`r${op.id}`) : provider(`c${op.id}`, `p${op.peer}`)
            if (op.del) {
              if (held.delete(k)) q.removed(k)
              continue
            }
            if (q.refusal(k, held.has(k)) === undefined && !held.has(k)) {
              held.add(k)
              q.added(k)
            }
            const keys = [...held]
            const providers = keys.filter((x) => x.startsWith('/dht/provider/'))
            assert.ok(keys.length - providers.length <= limits.records)
            assert.ok(providers.length <= limits.providers)
            for (let p = 0; p < 5; p++)
              assert.ok(
                providers.filter((x) => x.endsWith(`/p${p}`)).length <= limits.providersPerPeer,
              )
            assert.deepEqual(q.counts.records, keys.length - providers.length)
            assert.deepEqual(q.counts.providers, providers.length)
          }
        },
      ),
    )
  })
})
