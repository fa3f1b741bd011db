/** Who a node pushes a new sequence to (core/net/announce.ts). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  ANNOUNCE_FANOUT,
  type AnnounceCandidate,
  announceTargets,
} from '../../src/core/net/announce.ts'
import type { Rank } from '../../src/core/version/rank.ts'

const RANKS: Array<Rank | undefined> = ['normal', 'unverified', 'suspicious', 'deranked', undefined]

describe('announce targets', () => {
  it('reaches the two ranked peers among 24 unranked ones, every time', () => {
    const peers: AnnounceCandidate[] = [
      ...Array.from({ length: 24 }, (_, i) => ({
        peer: `sybil${i}`,
        claimed: 0,
        rank: 'unverified' as const,
      })),
      { peer: 'honestA', claimed: 1, rank: 'normal' },
      { peer: 'honestB', claimed: 1, rank: 'normal' },
    ]
    for (let i = 0; i < 100; i++) {
      const t = announceTargets(peers, 2, Math.random)
      assert.equal(t.length, ANNOUNCE_FANOUT)
      assert.deepEqual(t.slice(0, 2).sort(), ['honestA', 'honestB'])
    }
  })

  it('never pushes to a peer that claims the sequence, never more than the fanout, ranked first', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            peer: fc.string(),
            claimed: fc.integer({ min: 0, max: 5 }),
            rank: fc.constantFrom(...RANKS),
          }),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 12 }),
        fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
        (raw, ours, fanout, rs) => {
          const peers = raw.map((p, i) => ({
            peer: `${i}:${p.peer}`,
            claimed: p.claimed,
            ...(p.rank ? { rank: p.rank } : {}),
          }))
          const t = announceTargets(peers, ours, () => rs.next().value as number, fanout)
          const eligible = peers.filter((p) => p.claimed < ours)
          assert.equal(t.length, Math.min(fanout, eligible.length))
          assert.equal(new Set(t).size, t.length)
          const byId = new Map(peers.map((p) => [p.peer, p]))
          for (const id of t) assert.ok(byId.get(id)!.claimed < ours)
          // Every normal peer left out means the fanout is full of normal peers.
          const normals = eligible.filter((p) => p.rank === 'normal')
          const chosenNormals = t.filter((id) => byId.get(id)!.rank === 'normal').length
          assert.equal(chosenNormals, Math.min(normals.length, fanout))
        },
      ),
    )
  })
})
