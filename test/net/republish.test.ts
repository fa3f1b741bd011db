/**
 * DHT records across restarts. A node keeps what it stores for others in its data dir
 * (`dht-store.bin`, adapters/libp2p/bounded-datastore.ts) and serves it again as soon as it is
 * back. And after every node of a network restarted without its file (a new disk, a wiped dir),
 * each puts what it trusts again a minute or so after start (`firstRepublishMs`), so a
 * newcomer's DHT lookup finds the latest manifest without waiting for the 6-hourly republish.
 */
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { DHT_STORE_FILE } from '../../src/adapters/libp2p/bounded-datastore.ts'
import type { ConvoyNode } from '../../src/adapters/libp2p/node.ts'
import { latestKey } from '../../src/adapters/libp2p/records.ts'
import { MAINTAINERS, NETWORK, networkConfig, release, TestNet, waitFor } from './harness.ts'

/** True when `node`'s DHT returns a record under the channel's latest key. */
async function dhtHasLatest(node: ConvoyNode): Promise<boolean> {
  try {
    for await (const ev of node.libp2p.services.dht.get(latestKey(NETWORK, 'stable'), {
      signal: AbortSignal.timeout(3000),
    })) {
      if (ev.name === 'VALUE') return true
    }
  } catch {}
  return false
}

/**
 * Two nodes of `net` that republish nothing for ten minutes; `a` publishes a release and `b`
 * verifies it.
 */
async function publishedOnTwo(net: TestNet): Promise<[ConvoyNode, ConvoyNode]> {
  const a = await net.add({ firstRepublishMs: 600_000 })
  const b = await net.add({ firstRepublishMs: 600_000 })
  await waitFor('b knows a', () => b.libp2p.getConnections().length > 0)
  await a.publish(release('1.3.0', 1, MAINTAINERS.slice(0, 2)))
  await waitFor('b verified it', async () => (await b.status()).latest?.sequence === 1)
  return [a, b]
}

describe('republish after start', { timeout: 120_000 }, () => {
  const net = new TestNet()
  after(() => net.stop())

  it('a network whose nodes all restarted puts its latest manifest again soon after', async () => {
    const [a, b] = await publishedOnTwo(net)
    const dirs = [a, b].map((n) => (n as unknown as { store: { dir: string } }).store.dir)
    // Every node restarts without its DHT store file: their DHT stores start empty.
    await net.remove(a)
    await net.remove(b)
    for (const d of dirs) await rm(join(d, DHT_STORE_FILE))
    net.bootstrap = []
    const late = await net.add({ dataDir: dirs[0]!, firstRepublishMs: 600_000 })
    const soon = await net.add({ dataDir: dirs[1]!, firstRepublishMs: 500 })
    const newcomer = await net.add({ network: networkConfig(net.bootstrap), fetchArtifacts: false })
    await waitFor('the newcomer joined', () => newcomer.libp2p.getConnections().length >= 1)
    // The node with the short first republish puts it again; the newcomer's DHT finds it.
    const ms = await waitFor(
      'the latest manifest back in the DHT',
      () => dhtHasLatest(newcomer),
      30_000,
      250,
    )
    assert.ok(ms < 30_000)
    assert.ok(late !== undefined && soon !== undefined)
  })
})

describe('the DHT store across a restart', { timeout: 120_000 }, () => {
  const net = new TestNet()
  after(() => net.stop())

  it('a node that restarts serves the records it held from its file, before anyone puts them', async () => {
    const [a, b] = await publishedOnTwo(net)
    await waitFor(
      'b holds the record for the DHT',
      async () => ((await b.status()).counters?.dht_store_records ?? 0) >= 1,
    )
    const dir = (b as unknown as { store: { dir: string } }).store.dir
    // a, the publisher, goes for good; b restarts on its data dir. Nobody puts anything again
    // for ten minutes, so what b serves it read back from its file.
    await net.remove(a)
    await net.remove(b)
    net.bootstrap = []
    const back = await net.add({ dataDir: dir, firstRepublishMs: 600_000 })
    const held = (await back.status()).counters?.dht_store_records ?? 0
    assert.ok(held >= 1, `read back ${held} records`)
    const newcomer = await net.add({ network: networkConfig(net.bootstrap), fetchArtifacts: false })
    await waitFor('the newcomer joined', () => newcomer.libp2p.getConnections().length >= 1)
    await waitFor(
      'the newcomer finds the latest manifest',
      () => dhtHasLatest(newcomer),
      20_000,
      250,
    )
  })
})
