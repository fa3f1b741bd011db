/**
 * Encryption negotiation: convoy offers noise first and TLS 1.3 second. Two convoy nodes agree
 * on noise; a peer that offers TLS first gets TLS; a vanilla js-libp2p peer that speaks noise
 * only connects (dialing in and dialed) and completes convoy's hello, so a node of an older
 * release, or anyone else's, is not cut off.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Connection, Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { createLibp2p } from 'libp2p'
import {
  answerHello,
  type HelloSide,
  helloProtocol,
  openHello,
} from '../../src/adapters/libp2p/hello.ts'
import type { ConvoyNode } from '../../src/adapters/libp2p/node.ts'
import { NETWORK, TestNet, waitFor } from './harness.ts'

/** A plain libp2p node: TCP, noise only, yamux, identify under convoy's prefix. */
async function noiseOnlyPeer(): Promise<Libp2p> {
  return (await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify({ protocolPrefix: `convoy/${NETWORK}` }) },
  })) as unknown as Libp2p
}

/** The vanilla peer's side of hello: it says what the convoy node says and judges everyone ok. */
function side(node: ConvoyNode): HelloSide {
  return {
    ownHello: () => ({ ...node.ownHello() }),
    judge: () => ({ status: 'ok', reasons: [] }),
    timeoutMs: 5000,
  }
}

const helloOk = async (n: ConvoyNode) => (await n.status()).counters.hello_ok ?? 0

describe('encryption', { timeout: 120_000 }, () => {
  const net = new TestNet()
  const extra: Libp2p[] = []
  after(async () => {
    await Promise.allSettled(extra.map((p) => p.stop()))
    await net.stop()
  })

  it('two convoy nodes agree on noise; a peer offering TLS first gets TLS', async () => {
    const a = await net.add()
    const b = await net.add()
    await b.dial(a.libp2p.getMultiaddrs()[0]!.toString())
    const conn = b.libp2p.getConnections(a.libp2p.peerId)[0]
    assert.equal(conn?.encryption, '/noise')
    const tlsFirst = (await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [tls(), noise()],
      streamMuxers: [yamux()],
    })) as unknown as Libp2p
    extra.push(tlsFirst)
    const c = await tlsFirst.dial(a.libp2p.getMultiaddrs()[0]!)
    assert.equal(c.encryption, '/tls/1.0.0')
  })

  it('a noise-only peer dials a convoy node, and completes hello', async () => {
    const node = await net.add()
    const peer = await noiseOnlyPeer()
    extra.push(peer)
    const before = await helloOk(node)
    const conn: Connection = await peer.dial(node.libp2p.getMultiaddrs()[0]!)
    assert.equal(conn.encryption, '/noise')
    const outcome = await openHello(await conn.newStream(helloProtocol(NETWORK)), side(node))
    assert.equal(outcome.peerHello.network, NETWORK)
    assert.equal(outcome.peerHello.version, node.version)
    await waitFor('the node counted the hello', async () => (await helloOk(node)) > before)
  })

  it('a convoy node dials a noise-only peer, and completes hello', async () => {
    const node = await net.add()
    const peer = await noiseOnlyPeer()
    extra.push(peer)
    let answered: Promise<unknown> | undefined
    await peer.handle(helloProtocol(NETWORK), (stream) => {
      answered = answerHello(stream, side(node))
    })
    const before = await helloOk(node)
    await node.dial(peer.getMultiaddrs()[0]!.toString())
    const conn = node.libp2p.getConnections(peer.peerId)[0]
    assert.equal(conn?.encryption, '/noise')
    await waitFor('the node counted the hello', async () => (await helloOk(node)) > before)
    await answered
  })
})
