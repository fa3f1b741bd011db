/**
 * Per-peer protocol budgets on a real node: an attacker that opens manifest-exchange and hello
 * streams as fast as it can is cut off past its burst, counted, and the node still serves an
 * honest peer at once.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { manifestProtocol, requestManifest } from '../../src/adapters/libp2p/manifest-exchange.ts'
import { PROTOCOL_BUDGETS } from '../../src/core/net/budget.ts'
import { MAINTAINERS, NETWORK, release, TestNet, waitFor } from './harness.ts'

describe('per-peer protocol budgets', { timeout: 120_000 }, () => {
  const net = new TestNet()
  after(() => net.stop())

  it('a manifest-exchange flood from one peer is refused past its burst; others are served', async () => {
    const node = await net.add()
    const honest = await net.add()
    const rel = release('1.3.0', 1, MAINTAINERS.slice(0, 2))
    await node.publish(rel)
    const attacker = await net.rawNode()
    const addr = node.libp2p.getMultiaddrs()[0]!
    const tries = 60
    let served = 0
    let refused = 0
    // As fast as one connection allows: each request is one stream, opened one after another.
    for (let i = 0; i < tries; i++) {
      try {
        const stream = await attacker.dialProtocol(addr, manifestProtocol(NETWORK))
        const offer = await requestManifest(stream, 'stable', 1, 2000)
        if (offer.manifest !== undefined) served++
        else refused++
      } catch {
        refused++
      }
    }
    const { burst, perSecond } = PROTOCOL_BUDGETS.manifest
    // Served: the burst plus what the rate refilled while the flood ran (well under the tries).
    assert.ok(served >= burst, `served ${served}, at least the burst of ${burst}`)
    assert.ok(served < tries / 2, `served ${served} of ${tries}: the budget (${perSecond}/s) bit`)
    assert.ok(refused > 0)
    const status = await node.status()
    assert.ok((status.counters.budget_refused ?? 0) >= refused - 2, JSON.stringify(status.counters))
    // An honest peer has its own budget: served at once, during the same flood.
    await waitFor(
      'the honest peer connected',
      () => honest.libp2p.getConnections(node.libp2p.peerId).length > 0,
    )
    const stream = await honest.libp2p.dialProtocol(node.libp2p.peerId, manifestProtocol(NETWORK))
    const offer = await requestManifest(stream, 'stable', 1, 5000)
    assert.ok(offer.manifest !== undefined, 'the honest peer got the manifest')
  })
})
