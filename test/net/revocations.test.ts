/**
 * Revocations on real nodes over TCP: pushed to every peer at once, handed to a peer that
 * connects later, stored in the DHT; a forged one (short of the threshold) is refused and counted
 * against its sender, and a flood of pushes is cut off by the peer's budget.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { lpStream } from '@libp2p/utils'
import { RecordRejectedError } from '../../src/adapters/libp2p/errors.ts'
import { revocationKey, revokeProtocol } from '../../src/adapters/libp2p/revocations.ts'
import {
  everyone,
  MAINTAINERS,
  NETWORK,
  networkConfig,
  OUTSIDERS,
  release,
  revocation,
  TestNet,
  waitFor,
} from './harness.ts'

const revokedAt = async (n: { status: () => Promise<{ revoked?: Array<{ version: string }> }> }) =>
  ((await n.status()).revoked ?? []).some((r) => r.version === '1.2.0')

describe('revocations between real nodes', { timeout: 120_000 }, () => {
  const net = new TestNet()
  const alone = new TestNet()
  after(() => Promise.all([net.stop(), alone.stop()]))

  it('reach every node within seconds, and a node that connects later on connect', async () => {
    const nodes = [await net.add(), await net.add(), await net.add(), await net.add()]
    await everyone('connected', (n) => n.libp2p.getConnections().length >= 1, nodes)
    const rel = release('1.2.0', 1)
    await nodes[0]!.publish(rel)
    await everyone(
      'the release verified',
      (n) => n.trustState().channels.stable !== undefined,
      nodes,
    )
    const started = Date.now()
    const r = await nodes[1]!.publishRevocation(revocation(rel))
    assert.equal(r.revoked.version, '1.2.0')
    assert.ok(r.pushed >= 1, `pushed to ${r.pushed}`)
    await everyone('every node holds the revocation', revokedAt, nodes, 10_000)
    const spreadMs = Date.now() - started
    assert.ok(r.stored >= 1, `stored by ${r.stored} in the DHT`)
    // In the DHT under its canonical key, for a node none of whose peers holds it.
    const values: Uint8Array[] = []
    for await (const ev of nodes[3]!.libp2p.services.dht.get(revocationKey(NETWORK, 'stable', 1), {
      signal: AbortSignal.timeout(5000),
    }))
      if (ev.name === 'VALUE') values.push(ev.value)
    assert.ok(values.length >= 1, 'found in the DHT')
    const late = await net.add()
    const lateMs = await waitFor('the late node holds it', () => revokedAt(late), 10_000)
    // Kept across a restart, alone: persisted before it was shown, verified again at start.
    const dataDir = nodes[2]!.store.dir
    await net.remove(nodes[2]!)
    const again = await net.add({
      dataDir,
      network: networkConfig([]),
    })
    const st = await again.status()
    assert.equal(st.revoked?.[0]?.reason, 'it loses data on restart')
    console.log(
      `revocation spread to 4 nodes in ${spreadMs} ms; a late node held it ${lateMs} ms after joining`,
    )
  })

  it('a forged revocation is refused and counted against its sender; a push flood is cut off', async () => {
    // A network of its own: the first one's nodes would hand it the genuine revocation.
    const node = await alone.add()
    const rel = release('1.2.0', 1)
    await node.publish(rel).catch(() => {})
    const forged = revocation(rel, [MAINTAINERS[0]!, OUTSIDERS[0]!])
    await assert.rejects(node.publishRevocation(forged), RecordRejectedError)
    const attacker = await alone.rawNode()
    const addr = node.libp2p.getMultiaddrs()[0]!
    const before = (await node.status()).counters.misbehaviour ?? 0
    const stream = await attacker.dialProtocol(addr, revokeProtocol(NETWORK))
    const lp = lpStream(stream)
    await lp.write(forged)
    await stream.close().catch(() => {})
    await waitFor(
      'the forgery counted',
      async () => ((await node.status()).counters.misbehaviour ?? 0) > before,
      5000,
    )
    assert.equal((await node.status()).revoked?.length ?? 0, 0, 'nothing revoked')
    // As many push streams as one connection opens in a row: past the burst, refused.
    let refusedBefore = (await node.status()).counters.budget_refused ?? 0
    for (let i = 0; i < 40; i++) {
      try {
        const s = await attacker.dialProtocol(addr, revokeProtocol(NETWORK))
        await s.close()
      } catch {}
    }
    await waitFor(
      'the flood refused',
      async () => ((await node.status()).counters.budget_refused ?? 0) > refusedBefore,
      5000,
    )
    refusedBefore = (await node.status()).counters.budget_refused ?? 0
    assert.ok(refusedBefore > 0)
  })
})
