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
    for await (const _ of honest.libp2p.services.dht.provide(cidOf('real artifact'), {
      signal: AbortSignal.timeout(5000),
    })) {
    }
    let found = false
    for await (const p of node.libp2p.services.dht.findProviders(cidOf('real artifact'), {
      signal: AbortSignal.timeout(5000),
    })) {
      if (p.name === 'PROVIDER' && p.providers.some((x) => x.id.equals(honest.libp2p.peerId)))
        found = true
    }
    assert.ok(found, 'the honest provider record was stored')
  })
})
