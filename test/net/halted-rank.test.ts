/**
 * A release the network halted does not count toward the distance a node deranks by: a peer that
 * stayed on the release before it is one behind the fix, not two. Real nodes over TCP, real
 * signed manifests, real signed reports.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { signReport } from '../../src/adapters/libp2p/reports.ts'
import { decodeRelease } from '../../src/core/manifest/release.ts'
import { documentDigest } from '../../src/core/manifest/signing.ts'
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
    const judge = await net.add()
    const laggard = await net.add({ version: '1.0.0' })
    await judge.publish(release('1.0.0', 1))
    const halted = release('1.1.0', 2)
    await judge.publish(halted)
    await judge.publish(release('1.2.0', 3))
    await waitFor(
      'the laggard two releases behind is deranked',
      async () => (await peerIn(judge, laggard))?.rank === 'deranked',
      30_000,
    )
    // Two failed probations from two peers halt 1.1.0 under its (default) policy.
    const d = decodeRelease(halted)
    assert.ok(d.ok)
    for (let i = 0; i < 2; i++) {
      const key = await generateKeyPair('Ed25519')
      const r = judge.submitReport(
        signReport(key, {
          network: NETWORK,
          release: documentDigest(d.value.signed),
          version: '1.1.0',
          stage: 'probation',
          verdict: 'fail',
          at: Date.now(),
          reason: 'crashed under load',
        }),
      )
      assert.ok(r.ok, JSON.stringify(r))
    }
    await judge.refreshHalted()
    const p = await peerIn(judge, laggard)
    assert.equal(p?.rank, 'normal', JSON.stringify(p))
    assert.equal(p?.behind, 1)
  })
})
