/**
 * An artifact swarm with hostile providers, on its own network so that it runs beside the
 * 10-node file: one trickles bytes, one serves wrong bytes, both announce the artifact before
 * any honest node holds it; every honest node still ends with the intact artifact.
 */
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { lpStream } from '@libp2p/utils'
import { artifactCid } from '../../src/adapters/libp2p/artifacts.ts'
import { helloProtocol, openHello } from '../../src/adapters/libp2p/hello.ts'
import { routingTableSize } from '../../src/adapters/libp2p/node.ts'
import { PROTOCOL_BUDGETS } from '../../src/core/net/budget.ts'
import type { Hello } from '../../src/core/net/hello.ts'
import {
  artifactFile,
  latestSeq,
  MAINTAINERS,
  NETWORK,
  release,
  sharedNetwork,
  waitFor,
} from './harness.ts'

describe('hostile artifact providers', { timeout: 600_000 }, () => {
  const { net, nodes, everyone } = sharedNetwork(6, { before, after })

  it('an artifact arrives intact although one provider trickles bytes and another serves wrong bytes', async () => {
    const dir = await net.tempDir()
    const art = await artifactFile(dir, 1024 * 1024)
    const rel = release('1.3.0', 1, MAINTAINERS.slice(0, 2), { artifacts: { node: art.pin } })
    // Two hostile providers announce the artifact before anyone else has it.
    const protocol = `/convoy/${NETWORK}/artifact/1.0.0`
    const trickler = await net.rawNode()
    const liar = await net.rawNode()
    await trickler.handle(protocol, async (stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(
        new TextEncoder().encode(JSON.stringify({ status: 'ok', length: art.pin.length })),
      )
      for (let i = 0; i < 200 && stream.status === 'open'; i++) {
        stream.send(art.data.subarray(i * 64, i * 64 + 64))
        await new Promise((r) => setTimeout(r, 100))
      }
      stream.abort(new Error('done'))
    })
    await liar.handle(protocol, async (stream) => {
      const lp = lpStream(stream)
      const req = JSON.parse(new TextDecoder().decode((await lp.read()).subarray())) as {
        offset: number
      }
      await lp.write(
        new TextEncoder().encode(JSON.stringify({ status: 'ok', length: art.pin.length })),
      )
      const junk = Buffer.alloc(art.pin.length - req.offset, 7)
      for (let at = 0; at < junk.length; at += 65536) {
        if (!stream.send(junk.subarray(at, at + 65536))) await stream.onDrain()
      }
      await stream.close()
    })
    for (const bad of [trickler, liar]) {
      await bad.dial(nodes[0]!.libp2p.getMultiaddrs()[0]!)
      await waitFor('hostile routing table', () => routingTableSize(bad.services.dht) > 0)
      for await (const _ of bad.services.dht.provide(artifactCid(art.pin.sha256), {
        signal: AbortSignal.timeout(15_000),
      })) {
      }
    }
    // Only the seed holds the real bytes; it publishes, then everyone fetches from whoever they find.
    const seed = nodes[1]!
    await seed.libp2p.services.artifacts.import(art.path, art.pin)
    await seed.publish(rel)
    await everyone('all verified sequence 1', (n) => latestSeq(n) === 1)
    await everyone(
      'all hold the artifact',
      (n) => n.libp2p.services.artifacts.has(art.pin.sha256),
      nodes,
      300_000,
    )
    for (const n of nodes) {
      const files = await readdir(n.store.artifactsDir)
      assert.deepEqual(
        files.filter((f) => f !== art.pin.sha256 && !/^[0-9a-f]{64}$/.test(f)),
        [],
        'no temp or partial files',
      )
    }
    const totals = (await Promise.all(nodes.map((n) => n.status()))).reduce(
      (acc, s) => ({
        slow: acc.slow + (s.counters.artifact_providers_dropped_slow ?? 0),
        wrong: acc.wrong + (s.counters.artifact_providers_dropped_wrong ?? 0),
      }),
      { slow: 0, wrong: 0 },
    )
    assert.ok(
      totals.slow + totals.wrong >= 1,
      `hostile providers were tried and dropped: ${JSON.stringify(totals)}`,
    )
  })

  it('a genuine manifest re-put under aliased keys is refused; its canonical key is not', async () => {
    const bytes = release('1.4.0', 2)
    await nodes[1]!.publish(bytes)
    await everyone('all verified sequence 2', (n) => latestSeq(n) === 2)
    const attacker = await net.rawNode()
    await attacker.dial(nodes[2]!.libp2p.getMultiaddrs()[0]!)
    await waitFor('attacker routing table', () => routingTableSize(attacker.services.dht) > 0)
    const put = async (key: string): Promise<number> => {
      let stored = 0
      try {
        for await (const ev of attacker.services.dht.put(new TextEncoder().encode(key), bytes, {
          signal: AbortSignal.timeout(15_000),
        })) {
          // Only honest nodes count: the hostile providers of the test above store anything.
          if (
            ev.name === 'PEER_RESPONSE' &&
            ev.messageName === 'PUT_VALUE' &&
            nodes.some((n) => n.libp2p.peerId.equals(ev.from))
          )
            stored++
        }
      } catch {}
      return stored
    }
    const rejected = async () =>
      (await Promise.all(nodes.map((n) => n.status()))).reduce(
        (a, st) => a + (st.counters.records_rejected ?? 0),
        0,
      )
    const before = await rejected()
    const aliases = ['02', '2.0', '0x2', '2e0', ' 2', '+2', '2 ', '００２']
    for (const seq of aliases) {
      assert.equal(await put(`/convoy-rel/${NETWORK}/stable/${seq}`), 0, `stored under "${seq}"`)
    }
    assert.ok((await rejected()) >= before + aliases.length, 'every alias was refused')
    // The control: the same bytes under the canonical key are stored, so the test can fail.
    assert.ok((await put(`/convoy-rel/${NETWORK}/stable/2`)) >= 1, 'the canonical key is stored')
    await attacker.stop()
  })

  it('2,000 hellos naming 16 new channels each: past the budget refused, /status small', async () => {
    const target = nodes[3]!
    const sybil = await net.add({ fetchArtifacts: false })
    const addr = target.libp2p.getMultiaddrs()[0]!
    let conn = await sybil.libp2p.dial(addr)
    const own = (sybil as unknown as { ownHello(): Hello }).ownHello()
    const sizeBefore = JSON.stringify(await target.status()).length
    let answered = 0
    const failures: Record<string, number> = {}
    const t0 = Date.now()
    for (let i = 0; i < 2000; i++) {
      const sequences: Record<string, number> = {}
      for (let c = 0; c < 16; c++) sequences[`junk-${i}-${c}`] = 1_000_000
      try {
        if (conn.status !== 'open') conn = await sybil.libp2p.dial(addr)
        const stream = await conn.newStream(helloProtocol(NETWORK))
        await openHello(stream, {
          ownHello: () => ({ ...own, sequences }),
          judge: () => ({ status: 'ok', reasons: [] }),
          timeoutMs: 5000,
        })
        answered++
      } catch (e) {
        const name = (e as Error).name ?? 'Error'
        failures[name] = (failures[name] ?? 0) + 1
      }
    }
    // The hello budget answers the burst and the rate; the rest are reset unread and counted.
    const { burst, perSecond } = PROTOCOL_BUDGETS.hello
    const allowed = burst + (perSecond * (Date.now() - t0)) / 1000 + 2
    assert.ok(answered >= burst && answered <= allowed, `answered ${answered}, allowed ${allowed}`)
    const status = await target.status()
    // Most refusals are the budget's and counted; under load libp2p's own stream limit refuses
    // some before the handler sees them, and those are not the budget's to count.
    const refused = status.counters.budget_refused ?? 0
    assert.ok(
      refused >= 0.8 * (2000 - answered),
      `budget_refused ${refused}, unanswered ${2000 - answered}, ${JSON.stringify(failures)}`,
    )
    const size = JSON.stringify(status).length
    assert.ok(size < sizeBefore + 20_000, `status grew from ${sizeBefore} to ${size} bytes`)
    assert.ok(!status.freeze.some((f) => f.channel.startsWith('junk-')), 'no junk channel kept')
    await net.remove(sybil)
  })
})
