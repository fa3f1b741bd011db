import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { buildHistory } from '../../src/core/version/history.ts'
import { RANK_TAG_VALUE, rankHello, rankPeer } from '../../src/core/version/rank.ts'

const history = buildHistory([
  { version: '1.0.0', sequence: 1 },
  { version: '1.1.0', sequence: 2 },
  { version: '1.2.0', sequence: 3 },
])
const caps = ['artifact/1', 'hello/1']
const ctx = {
  history,
  capabilitiesOf: (v: string) => (['1.0.0', '1.1.0', '1.2.0'].includes(v) ? caps : undefined),
}

describe('peer ranking', () => {
  it('0 or 1 release behind is normal; more than 1 is deranked and excluded as a provider', () => {
    assert.equal(rankPeer({ version: '1.2.0', capabilities: caps }, ctx).rank, 'normal')
    assert.equal(rankPeer({ version: '1.1.0', capabilities: caps }, ctx).rank, 'normal')
    const far = rankPeer({ version: '1.0.0', capabilities: caps }, ctx)
    assert.equal(far.rank, 'deranked')
    assert.equal(far.behind, 2)
    assert.equal(far.excludeAsProvider, true)
    assert.equal(far.tagValue, RANK_TAG_VALUE.deranked)
    assert.deepEqual(far.reasons, ['outdated: 1.0.0 is 2 releases behind 1.2.0'])
  })

  it('a version newer than any signed release is unverified, not a fault', () => {
    const r = rankPeer({ version: '1.3.0', capabilities: caps }, ctx)
    assert.equal(r.rank, 'unverified')
    assert.equal(r.excludeAsProvider, false)
  })

  it('a version without a signed release, or capabilities nobody backs, is suspicious', () => {
    assert.equal(rankPeer({ version: '1.1.5', capabilities: caps }, ctx).rank, 'suspicious')
    assert.equal(
      rankPeer({ version: '1.2.0', capabilities: [...caps, 'teleport/1'] }, ctx).rank,
      'suspicious',
    )
    const unbacked = rankPeer(
      { version: '1.2.0', capabilities: caps },
      { ...ctx, backedCapabilities: ['hello/1'] },
    )
    assert.equal(unbacked.rank, 'suspicious')
    assert.match(unbacked.reasons.join(), /protocol list does not back: artifact\/1/)
  })

  it('a normal peer always outranks a deranked one, whatever DHT tags libp2p adds (at most 51)', () => {
    assert.ok(RANK_TAG_VALUE.normal > RANK_TAG_VALUE.deranked + 51)
    assert.ok(RANK_TAG_VALUE.unverified > RANK_TAG_VALUE.suspicious + 51)
  })

  it("a peer's rank depends only on its own claim and verified releases (no third party can lower it)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom('1.0.0', '1.1.0', '1.2.0', '1.3.0', '9.9.9'),
        fc.array(fc.constantFrom('x/1', 'y/2')),
        (version, noise) => {
          const honest = rankPeer({ version: '1.2.0', capabilities: caps }, ctx)
          // Whatever others claim (here: arbitrary other claims ranked in between), the honest rank is unchanged.
          rankPeer({ version, capabilities: noise }, ctx)
          assert.deepEqual(rankPeer({ version: '1.2.0', capabilities: caps }, ctx), honest)
          assert.equal(honest.rank, 'normal')
        },
      ),
    )
  })

  it("a hello is ranked against this node's channel; a claimed role or channel exempts nothing", () => {
    const hello = (over: Partial<Parameters<typeof rankHello>[0]>) => ({
      version: '1.0.0',
      capabilities: caps,
      channel: 'stable',
      role: 'node' as const,
      ...over,
    })
    for (const role of ['node', 'publisher', 'shadow'] as const) {
      for (const channel of ['stable', 'nobody-follows-this']) {
        const r = rankHello(hello({ role, channel }), 'stable', ctx)
        assert.equal(r.rank, 'deranked', `${role} on ${channel}`)
        assert.equal(r.excludeAsProvider, role !== 'publisher', 'a publisher still seeds')
      }
    }
    const other = rankHello(hello({ version: '1.2.0', channel: 'beta' }), 'stable', ctx)
    assert.equal(other.rank, 'normal')
    assert.match(other.reasons.join(), /follows channel beta, not stable/)
    const shadow = rankHello(hello({ version: '1.2.0', role: 'shadow' }), 'stable', ctx)
    assert.equal(shadow.rank, 'normal')
    assert.equal(shadow.excludeAsProvider, true, 'a build under test never serves artifacts')
    assert.deepEqual(
      rankHello(hello({ version: '1.2.0' }), 'stable', ctx),
      rankPeer(hello({ version: '1.2.0' }), ctx),
    )
  })
})
