/** Per-peer budgets: a rate with a burst, a concurrency cap, bounded state. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { PeerBudgets, PROTOCOL_BUDGETS } from '../../src/core/net/budget.ts'

describe('per-peer budgets', () => {
  it('admits a burst, then the sustained rate, per peer', () => {
    const b = new PeerBudgets({ perSecond: 2, burst: 3, concurrent: 100 })
    const at = (t: number) => b.begin('p', t).ok
    assert.deepEqual([at(0), at(0), at(0), at(0)], [true, true, true, false])
    assert.equal(at(499), false)
    assert.equal(at(500), true, 'one token after half a second')
    assert.equal(b.begin('q', 500).ok, true, 'another peer has its own bucket')
    assert.equal(b.refused.rate, 2)
  })

  it('caps the requests a peer has open at once', () => {
    const b = new PeerBudgets({ perSecond: 100, burst: 100, concurrent: 2 })
    assert.ok(b.begin('p', 0).ok && b.begin('p', 0).ok)
    assert.deepEqual(b.begin('p', 0), { ok: false, reason: 'concurrency' })
    b.end('p')
    assert.ok(b.begin('p', 0).ok)
  })

  it('for any begins and ends, no peer has more open than allowed and state stays bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.boolean(), fc.nat(300)), {
          maxLength: 400,
        }),
        (ops) => {
          const b = new PeerBudgets({ perSecond: 5, burst: 4, concurrent: 3 }, 5)
          const open = new Map<string, number>()
          let now = 0
          for (const [p, start, dt] of ops) {
            now += dt
            const peer = `p${p}`
            if (start) {
              if (b.begin(peer, now).ok) open.set(peer, (open.get(peer) ?? 0) + 1)
            } else if ((open.get(peer) ?? 0) > 0) {
              b.end(peer)
              open.set(peer, open.get(peer)! - 1)
            }
            assert.ok(b.size <= 5)
          }
          // Counted from outside: a peer never had more than `concurrent` open, unless its state
          // was evicted while it had some open (only when more than maxPeers peers were busy).
          const busy = [...open.values()].filter((n) => n > 0).length
          if (busy <= 5) for (const n of open.values()) assert.ok(n <= 3)
        },
      ),
    )
  })

  it('without eviction the bound is exact: n admitted in a window <= burst + rate x window', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1500 }), { maxLength: 300 }), (gaps) => {
        const budget = { perSecond: 2, burst: 5, concurrent: 1 }
        const b = new PeerBudgets(budget)
        let now = 0
        const times: number[] = []
        for (const dt of gaps) {
          now += dt
          if (b.begin('p', now).ok) {
            times.push(now)
            b.end('p')
          }
        }
        for (let i = 0; i < times.length; i++)
          for (let j = i; j < times.length; j++)
            assert.ok(
              j - i + 1 <=
                budget.burst + (budget.perSecond * (times[j]! - times[i]!)) / 1000 + 1e-9,
            )
      }),
    )
  })

  it('forgets a disconnected peer, and refuses a budget that admits nothing', () => {
    const b = new PeerBudgets(PROTOCOL_BUDGETS.hello)
    b.begin('p', 0)
    b.end('p')
    b.forget('p')
    assert.equal(b.size, 0)
    assert.throws(() => new PeerBudgets({ perSecond: 0, burst: 1, concurrent: 1 }), /perSecond/)
  })
})
