/**
 * The handover of a release switch at the node: with reusePort two convoy nodes bind one TCP port
 * (so @libp2p/tcp really passes the option to `listen()`), without it the second is refused, and
 * a released node has let go of its data dir but still accepts connections.
 */
import assert from 'node:assert/strict'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ConvoyNode } from '../../src/adapters/libp2p/node.ts'
import { reusePortAvailable } from '../../src/core/net/reuse-port.ts'
import { freePort, networkConfig, release, TestNet, waitFor } from './harness.ts'

const available = reusePortAvailable({
  platform: process.platform,
  nodeVersion: process.versions.node,
})

describe('reusePort', { skip: !available && 'no reusePort here', timeout: 120_000 }, () => {
  const net = new TestNet()
  after(() => net.stop())

  it('lets two nodes that both opt in bind one port; refuses one that does not', async () => {
    const port = await freePort()
    const listen = [`/ip4/127.0.0.1/tcp/${port}`]
    const a = await net.add({ listen, reusePort: true })
    const b = await net.add({ listen, reusePort: true })
    for (const n of [a, b])
      assert.ok(n.libp2p.getMultiaddrs().some((m) => m.toString().includes(`/tcp/${port}/`)))
    const c = await ConvoyNode.create({
      network: networkConfig(),
      dataDir: await net.tempDir(),
      listen,
    })
    await assert.rejects(c.start(), /EADDRINUSE|address already in use|could not listen/i)
    await c.stop().catch(() => {})
  })

  it('a released node lets go of its data dir, writes nothing, and still accepts peers', async () => {
    const port = await freePort()
    const dir = await net.tempDir()
    const old = await net.add({
      listen: [`/ip4/127.0.0.1/tcp/${port}`],
      reusePort: true,
      dataDir: dir,
    })
    await access(join(dir, 'lock'))
    await old.release()
    await assert.rejects(access(join(dir, 'lock')), 'the lock is gone')
    await assert.rejects(old.store.saveManifest('stable', 1, release('1.0.0', 1)), /released/)
    const peer = await net.add()
    await peer.dial(`/ip4/127.0.0.1/tcp/${port}/p2p/${old.libp2p.peerId.toString()}`)
    await waitFor('hello with the released node', async () => {
      const s = await peer.status()
      return (s.counters.hello_ok ?? 0) >= 1
    })
  })
})
