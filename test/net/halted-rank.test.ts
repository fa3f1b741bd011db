/**
 * A release the network halted does not count toward the distance a node deranks by: a peer that
 * stayed on the release before it is one behind the fix, not two. Real nodes over TCP, real
 * signed manifests, real signed reports.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { startApi } from '../../src/adapters/http/api.ts'
import type { ConvoyNode } from '../../src/adapters/libp2p/node.ts'
import { readIdentityKey, signReport } from '../../src/adapters/libp2p/reports.ts'
import { decodeRelease } from '../../src/core/manifest/release.ts'
import { documentDigest } from '../../src/core/manifest/signing.ts'
import { JOIN_GRACE_MS } from '../../src/core/rollout/admission.ts'
import { buildHistory, releasesBehind, withoutReleases } from '../../src/core/version/history.ts'
import { NETWORK, peerIn, release, TestNet, waitFor } from './harness.ts'

describe('halted releases and deranking', { timeout: 120_000 }, () => {
  const net = new TestNet()
  after(() => net.stop())

  it('withoutReleases leaves out exactly the named digests', () => {
    const h = buildHistory([
      { version: '1.0.0', sequence: 1, digest: 'a' },
      { version: '1.1.0', sequence: 2, digest: 'b' },
      { version: '1.2.0', sequence: 3, digest: 'c' },
    ])
    assert.equal(releasesBehind(h, '1.0.0'), 2)
    const w = withoutReleases(h, new Set(['b']))
    assert.equal(releasesBehind(w, '1.0.0'), 1)
    assert.equal(releasesBehind(w, '1.1.0'), undefined)
    assert.equal(withoutReleases(h, new Set()), h)
  })

  it('a peer that stayed off a halted release is not deranked for it', async () => {
    // The judge's clock jumps once it met its network: admission's first-sight rule applies only
    // to releases a node sees JOIN_GRACE_MS or more after it joined.
    let skew = 0
    const judge = await net.add({ now: () => Date.now() + skew })
    const laggard = await net.add({ version: '1.0.0' })
    // Two reporters the judge meets before the releases exist: only known reporters count.
    const reporters = [await net.add(), await net.add()]
    for (const r of reporters) await r.dial(judge.libp2p.getMultiaddrs()[0]!.toString())
    await waitFor(
      'the judge knows both reporters',
      async () => (await Promise.all(reporters.map((r) => saidHello(judge, r)))).every(Boolean),
      30_000,
    )
    skew = JOIN_GRACE_MS + 1000
    await judge.publish(release('1.0.0', 1))
    const halted = release('1.1.0', 2)
    await judge.publish(halted)
    await judge.publish(release('1.2.0', 3))
    await waitFor(
      'the laggard two releases behind is deranked',
      async () => (await peerIn(judge, laggard))?.rank === 'deranked',
      30_000,
    )
    // Two failed shadow runs from two known peers halt 1.1.0 under its (default) policy.
    const d = decodeRelease(halted)
    assert.ok(d.ok)
    for (const node of reporters) {
      const key = await readIdentityKey(node.store.dir)
      const r = judge.submitReport(
        signReport(key, {
          network: NETWORK,
          release: documentDigest(d.value.signed),
          version: '1.1.0',
          stage: 'shadow',
          verdict: 'fail',
          at: Date.now(),
          reason: 'crashed under load',
        }),
      )
      assert.ok(r.ok, JSON.stringify(r))
    }
    // Keys nobody knew before the release, posted to the node's API as a local process would:
    // held (they verify), counted for nothing, whatever they claim.
    const digest = documentDigest(d.value.signed)
    const api = await startApi({ host: '127.0.0.1', port: 0 }, () => judge.status(), {
      reports: {
        submit: (bytes) => judge.submitReport(bytes),
        reportsFor: (x) => judge.reportsFor(x),
        notCounted: (x) => judge.countedReports(x),
      },
    })
    try {
      const base = `http://127.0.0.1:${api.address.port}`
      for (const verdict of ['pass', 'pass', 'pass', 'fail'] as const) {
        const stranger = await generateKeyPair('Ed25519')
        const post = await fetch(`${base}/reports`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: signReport(stranger, {
            network: NETWORK,
            release: digest,
            version: '1.1.0',
            stage: 'probation',
            verdict,
            at: Date.now(),
            reason: 'forged',
          }),
        })
        assert.equal(post.status, 202)
      }
      const got = (await (await fetch(`${base}/reports?release=${digest}`)).json()) as {
        reports: unknown[]
        held: number
        electorate: number
        notCounted: Record<string, number>
      }
      assert.equal(got.held, 6)
      assert.equal(got.reports.length, 2, 'only the two known reporters count')
      assert.deepEqual(got.notCounted, { newcomer: 4 })
      assert.equal(got.electorate, 4, 'the judge, the laggard and the two reporters')
    } finally {
      await api.close()
    }
    await judge.refreshHalted()
    const p = await peerIn(judge, laggard)
    assert.equal(p?.rank, 'normal', JSON.stringify(p))
    assert.equal(p?.behind, 1)
  })
})

/** True once `peer` completed its hello with `node` (the node then knows it as a reporter). */
async function saidHello(node: ConvoyNode, peer: ConvoyNode): Promise<boolean> {
  const s = await node.status()
  return s.peers.some((p) => p.peerId === peer.libp2p.peerId.toString() && p.role === 'node')
}
