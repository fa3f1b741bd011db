/** Pruning over the connection limit: deranked peers first, then suspicious ones, no others. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { connectionsToPrune, PRUNE_ORDER } from '../../src/core/net/pruning.ts'
import type { Rank } from '../../src/core/version/rank.ts'

type C = { id: string; rank: Rank | undefined }
const rankOf = (c: C) => c.rank

describe('connection pruning', () => {
  const conns: C[] = [
    { id: 'a', rank: 'suspicious' },
    { id: 'b', rank: 'normal' },
    { id: 'c', rank: 'deranked' },
    { id: 'd', rank: undefined },
    { id: 'e', rank: 'deranked' },
    { id: 'f', rank: 'unverified' },
    { id: 'g', rank: 'suspicious' },
  ]
  const ids = (max: number) =>
    connectionsToPrune(conns, max, rankOf).map((x) => `${x.conn.id}:${x.rank}`)

  it('closes nothing at or under the limit', () => {
    assert.deepEqual(ids(7), [])
    assert.deepEqual(ids(100), [])
  })

  it('closes deranked peers first, then suspicious ones, in listed order', () => {
    assert.deepEqual(ids(6), ['c:deranked'])
    assert.deepEqual(ids(4), ['c:deranked', 'e:deranked', 'a:suspicious'])
  })

  it('never closes normal, unverified or pending peers, even far over the limit', () => {
    assert.deepEqual(ids(0), ['c:deranked', 'e:deranked', 'a:suspicious', 'g:suspicious'])
  })

  it('closes exactly the excess when enough peers are prunable', () => {
    const rank = fc.constantFrom<Rank | undefined>(
      'normal',
      'unverified',
      'suspicious',
      'deranked',
      undefined,
    )
    fc.assert(
      fc.property(fc.array(rank, { maxLength: 40 }), fc.nat(40), (ranks, max) => {
        const list = ranks.map((r, i) => ({ id: String(i), rank: r }))
        const out = connectionsToPrune(list, max, rankOf)
        const prunable = ranks.filter((r) => r !== undefined && PRUNE_ORDER.includes(r)).length
        assert.equal(out.length, Math.min(Math.max(0, ranks.length - max), prunable))
        const order = out.map((x) => PRUNE_ORDER.indexOf(x.rank))
        assert.deepEqual(order, [...order].sort())
      }),
    )
  })
})
