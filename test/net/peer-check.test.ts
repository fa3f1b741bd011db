/**
 * POST /peer-check on real nodes over TCP: a convoy peer of this network is confirmed; a plain
 * TCP server, a libp2p node that does not speak convoy's hello, and an address nobody listens on
 * are not. The supervisor asks this about destinations its shadow candidate reached.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { startApi } from '../../src/adapters/http/api.ts'
import type { ConvoyNode } from '../../src/adapters/libp2p/node.ts'
import { postPeerCheck } from '../../src/adapters/process/node-api.ts'
import { multiaddrHostPort } from '../../src/adapters/process/probe.ts'
import { networkConfig, TestNet } from './harness.ts'

const net = new TestNet()
let a: ConvoyNode
let b: ConvoyNode
let plain: Server
let silent: Server
let api: Awaited<ReturnType<typeof startApi>>
const TOKEN = 't'.repeat(43)

before(async () => {
  a = await net.add()
  // Not bootstrapped from a: the check makes the first connection between them.
  b = await net.add({ network: networkConfig([]) })
  plain = createServer((s) => s.destroy())
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r))
  // Accepts and never says a word: a dial to it lasts until the check's deadline.
  silent = createServer(() => {})
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  api = await startApi({ host: '127.0.0.1', port: 0 }, () => a.status(), {
    token: TOKEN,
    peerCheck: (hp) => a.isPeerAt(hp),
  })
})
after(async () => {
  await api.close()
  plain.close()
  silent.close()
  await net.stop()
})

const where = () => `${api.address.host}:${api.address.port}`
const hostPort = (n: ConvoyNode) => multiaddrHostPort(n.libp2p.getMultiaddrs()[0]!.toString())!

describe('peer check', { timeout: 60_000 }, () => {
  it('confirms a convoy peer of this network', async () => {
    const r = await postPeerCheck(where(), hostPort(b), TOKEN)
    assert.equal(r.peer, true, r.reason)
    assert.match(r.reason, /answered hello/)
  })

  it('refuses a plain TCP server, a libp2p node without convoy, and a closed port', async () => {
    const raw = await net.rawNode()
    const rawHp = multiaddrHostPort(raw.getMultiaddrs()[0]!.toString())!
    const port = (plain.address() as { port: number }).port
    for (const hp of [`127.0.0.1:${port}`, rawHp, '127.0.0.1:1']) {
      const r = await postPeerCheck(where(), hp, TOKEN, 15_000)
      assert.equal(r.peer, false, `${hp}: ${r.reason}`)
    }
  })

  it('needs the token, a small JSON body naming host:port, and takes one check at a time', async () => {
    const no = await postPeerCheck(where(), hostPort(b), undefined)
    assert.equal(no.peer, false)
    assert.match(no.reason, /HTTP 401/)
    const bad = await postPeerCheck(where(), '/ip4/127.0.0.1/tcp/1', TOKEN)
    assert.match(bad.reason, /not a TCP host:port/)
    const big = await fetch(`http://${where()}/peer-check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ addr: 'x'.repeat(300) }),
    })
    assert.equal(big.status, 413)
    // A check of a server that never answers lasts until its deadline; a second one meanwhile
    // is refused as busy.
    const port = (silent.address() as { port: number }).port
    const first = postPeerCheck(where(), `127.0.0.1:${port}`, TOKEN, 20_000)
    await new Promise((r) => setTimeout(r, 300))
    const second = await postPeerCheck(where(), hostPort(b), TOKEN)
    assert.match(second.reason, /HTTP 429/)
    assert.equal((await first).peer, false)
  })
})
