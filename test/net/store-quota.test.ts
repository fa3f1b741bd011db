/**
 * The DHT store's quotas on a real node: a hostile peer that provides 200 made-up CIDs as fast
 * as it can gets at most `providersPerPeer` of them stored; the rest are refused and counted,
 * and an honest provider record still gets in.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create } from 'multiformats/hashes/digest'
import { routingTableSize } from '../../src/adapters/libp2p/records.ts'
import { DEFAULT_STORE_QUOTA } from '../../src/core/net/store-quota.ts'
import { TestNet, waitFor } from './harness.ts'

const cidOf = (s: string) =>
  CID.createV1(raw.code, create(0x12, createHash('sha256').update(s).digest()))

describe('DHT store quotas', { timeout: 120_000 }, () => {
  const net = new TestNet()
  after(() => net.stop())

  it('a peer providing 200 made-up CIDs gets at most its quota stored', async () => {
    const node = await net.add()
    const attacker = await net.rawNode()
    await attacker.dial(node.libp2p.getMultiaddrs()[0]!)
    await waitFor('the attacker knows the node', () => routingTableSize(attacker.services.dht) > 0)
    const tries = 200
    for (let i = 0; i < tries; i++) {
      for await (const _ of attacker.services.dht.provide(cidOf(`junk ${i}`), {
        signal: AbortSignal.timeout(5000),
      })) {
      }
    }
    const perPeer = DEFAULT_STORE_QUOTA.providersPerPeer
    await waitFor('the refusals are counted', async () => {
      const c = (await node.status()).counters
      return (c.dht_store_refused ?? 0) >= tries - perPeer
    })
    const c = (await node.status()).counters
    assert.ok((c.dht_store_providers ?? 0) <= perPeer + 8, JSON.stringify(c))
    // An honest provider record still fits.
    const honest = await net.add()
    await waitFor(
      'the honest node knows the node',
      () => routingTableSize(honest.libp2p.services.dht) > 0,
    )
    // ADD_PROVIDER has no reply: the node stores the record after the provide returns, so the
    // test looks in the node's own store until the record is there (re-providing now and then,
    // as a provider does), with a deadline that is generous, not a budget.
    const found = async () => {
      for await (const p of node.libp2p.services.dht.findProviders(cidOf('real artifact'), {
        signal: AbortSignal.timeout(5000),
      })) {
        if (p.name === 'PROVIDER' && p.providers.some((x) => x.id.equals(honest.libp2p.peerId)))
          return true
      }
      return false
    }
    let stored = false
    for (let round = 0; round < 6 && !stored; round++) {
      try {
        for await (const _ of honest.libp2p.services.dht.provide(cidOf('real artifact'), {
          signal: AbortSignal.timeout(10_000),
        })) {
        }
      } catch {} // a provide cut by its deadline is tried again
      const deadline = Date.now() + 3000
      while (!stored && Date.now() < deadline) {
        stored = await found()
        if (!stored) await new Promise((r) => setTimeout(r, 200))
      }
    }
    assert.ok(stored, 'the honest provider record was stored')
  })
})
