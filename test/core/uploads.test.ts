/** The upload ledger: slots, one per peer, and a budget counted in copies. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { FIRST_COPY_BLOCK } from '../../src/core/net/first-copy.ts'
import { UNCHARGED_BYTES, UploadLedger } from '../../src/core/net/uploads.ts'

const LEN = 1000
const ledger = (budgetCopies: number, maxUploads = 2) =>
  new UploadLedger({
    maxUploads,
    budgetBytes: budgetCopies * LEN,
    ticketIdleMs: 30_000,
    maxTickets: 64,
    unchargedBytes: 0,
  })

describe('upload ledger', () => {
  it('charges a copy once however many transfers it takes', () => {
    const l = ledger(2)
    for (let offset = 0; offset < LEN; offset += 250) {
      const d = l.admit('a', 'x', LEN, offset, offset)
      assert.equal(d.admit, true)
      if (d.admit) l.finish(d.ticket, offset + 250 >= LEN, offset + 1)
    }
    assert.equal(l.chargedBytes, LEN)
  })

  it('refunds a peer that left, once: leavers cannot spend the budget', () => {
    const l = ledger(2)
    for (const peer of ['leaver1', 'leaver2']) {
      const d = l.admit(peer, 'x', LEN, 0, 0)
      assert.ok(d.admit)
      l.finish(d.ticket, false, 0)
    }
    assert.deepEqual(l.admit('c', 'x', LEN, 0, 1), { admit: false, reason: 'budget' })
    // 30 s later the leavers' tickets end and are refunded: two copies can still be delivered.
    for (const peer of ['c', 'd']) {
      const d = l.admit(peer, 'x', LEN, 0, 30_000)
      assert.ok(d.admit, peer)
      l.finish(d.ticket, true, 30_001)
    }
    assert.equal(l.chargedBytes, 2 * LEN)
    assert.deepEqual(l.admit('e', 'x', LEN, 0, 90_000), { admit: false, reason: 'budget' })
  })

  it('a peer that leaves twice is charged the second time', () => {
    const l = ledger(3)
    for (let i = 0; i < 2; i++) {
      const d = l.admit('a', 'x', LEN, 0, i * 60_000)
      assert.ok(d.admit)
      l.finish(d.ticket, false, i * 60_000)
    }
    l.expire(200_000)
    assert.equal(l.chargedBytes, LEN)
  })

  it('one slot per peer, and no more than maxUploads', () => {
    const l = ledger(10, 2)
    assert.ok(l.admit('a', 'x', LEN, 0, 0).admit)
    assert.deepEqual(l.admit('a', 'y', LEN, 0, 0), { admit: false, reason: 'slots' })
    assert.ok(l.admit('b', 'x', LEN, 0, 0).admit)
    assert.deepEqual(l.admit('c', 'x', LEN, 0, 0), { admit: false, reason: 'slots' })
  })

  it('a resumer is charged only what it lacks', () => {
    const l = ledger(1)
    const d = l.admit('a', 'x', LEN, 600, 0)
    assert.ok(d.admit)
    assert.equal(l.chargedBytes, 400)
  })

  it('for every order and timing: charge within budget, slots within limits', () => {
    const op = fc.record({
      peer: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      offset: fc.integer({ min: 0, max: LEN }),
      finish: fc.boolean(),
      complete: fc.boolean(),
      advance: fc.integer({ min: 0, max: 40_000 }),
    })
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.integer({ min: 1, max: 4 }),
        (ops, copies) => {
          const l = ledger(copies, 2)
          const open: Array<{ ticket: string; peer: string }> = []
          let now = 0
          for (const o of ops) {
            now += o.advance
            if (o.finish && open.length > 0) {
              const t = open.shift()!
              l.finish(t.ticket, o.complete, now)
            } else {
              const d = l.admit(o.peer, 'x', LEN, o.offset, now)
              if (d.admit) {
                assert.ok(!open.some((t) => t.peer === o.peer), 'two slots for one peer')
                open.push({ ticket: d.ticket, peer: o.peer })
              }
            }
            assert.ok(l.chargedBytes <= copies * LEN, 'budget overrun')
            assert.ok(l.chargedBytes >= 0)
            assert.ok(l.activeUploads <= 2 && l.activeUploads === open.length)
          }
          // Liveness: once everything ended and went idle, a peer with no ticket gets one unless
          // delivered copies have used the budget.
          for (const t of open) l.finish(t.ticket, false, now)
          l.expire(now + 30_000)
          const d = l.admit('fresh', 'x', LEN, 0, now + 30_000)
          if (!d.admit) assert.ok(l.chargedBytes + LEN > copies * LEN)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('ranged uploads: the charge is what was delivered plus what is in flight, never past the budget', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            peer: fc.constantFrom('a', 'b', 'c', 'd'),
            chunk: fc.integer({ min: 0, max: 9 }),
            delivered: fc.boolean(),
            finishNow: fc.boolean(),
          }),
          { maxLength: 80 },
        ),
        fc.integer({ min: 1, max: 30 }),
        (steps, budgetTenths) => {
          const l = ledger(budgetTenths / 10, 3)
          const open = new Map<string, { ticket: string; bytes: number; delivered: boolean }>()
          let delivered = 0
          let now = 0
          for (const s of steps) {
            now += 7
            const d = l.admit(s.peer, 'x', LEN, s.chunk * 100, now, s.chunk * 100 + 100)
            if (d.admit) {
              assert.equal(d.charged, 100)
              open.set(d.ticket, {
                ticket: d.ticket,
                bytes: 100,
                delivered: s.delivered,
              })
            }
            if (s.finishNow) {
              for (const t of open.values()) {
                l.finish(t.ticket, t.delivered, now)
                if (t.delivered) delivered += t.bytes
              }
              open.clear()
            }
            const inflight = [...open.values()].reduce((n, t) => n + t.bytes, 0)
            assert.equal(l.chargedBytes, delivered + inflight)
            assert.ok(l.chargedBytes <= (budgetTenths / 10) * LEN + 1e-9)
          }
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('a file no bigger than a chunk index is served free: a one-copy seeder still hands it out', () => {
    const l = new UploadLedger({
      maxUploads: 2,
      budgetBytes: LEN,
      ticketIdleMs: 30_000,
      maxTickets: 64,
    })
    for (const peer of ['a', 'b', 'c']) {
      const d = l.admit(peer, 'index', 2000, 0, 0)
      assert.equal(d.admit, true)
      if (d.admit) l.finish(d.ticket, true, 1)
    }
    assert.equal(l.chargedBytes, 0)
    assert.equal(l.admit('a', 'art', 10 * UNCHARGED_BYTES, 0, 2).admit, false)
  })

  it('a seeder with a budget of 1.25 copies never strands a chunk: every fetcher completes, for any order and cuts', () => {
    const CH = FIRST_COPY_BLOCK
    const N = 16
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            fetcher: fc.integer({ min: 0, max: 3 }),
            pick: fc.nat(),
            run: fc.integer({ min: 1, max: 4 }),
            cutAfter: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
            share: fc.boolean(),
          }),
          { minLength: 200, maxLength: 400 },
        ),
        (steps) => {
          const l = new UploadLedger({
            maxUploads: 4,
            budgetBytes: 1.25 * N * CH,
            ticketIdleMs: 30_000,
            maxTickets: 64,
          })
          const holds = [0, 1, 2, 3].map(() => new Set<number>())
          let now = 0
          const ask = (f: number, first: number, run: number, cutAfter?: number) => {
            now++
            const d = l.admit(`f${f}`, 'x', N * CH, first * CH, now, (first + run) * CH)
            if (!d.admit) return
            const got = cutAfter === undefined ? run : Math.min(run, cutAfter)
            for (let k = 0; k < got; k++) holds[f]!.add(first + k)
            l.finish(d.ticket, got === run, now)
          }
          for (const s of steps) {
            // Fetchers pass chunks among themselves now and then (so some ask the seeder for
            // what another already has); only the seeder is budgeted.
            if (s.share) for (const h of holds) for (const o of holds) for (const c of o) h.add(c)
            const missing = [...Array(N).keys()].filter((c) => !holds[s.fetcher]!.has(c))
            if (missing.length === 0) continue
            const first = missing[s.pick % missing.length]!
            let run = 1
            while (run < s.run && missing.includes(first + run)) run++
            ask(s.fetcher, first, run, s.cutAfter)
          }
          // Then, in any case, each fetcher asks for what it lacks, one chunk at a time.
          for (let round = 0; round < 2 * N; round++)
            for (let f = 0; f < 4; f++) {
              for (const h of holds) for (const o of holds) for (const c of o) h.add(c)
              const missing = [...Array(N).keys()].filter((c) => !holds[f]!.has(c))
              if (missing.length > 0) ask(f, missing[0]!, 1)
            }
          for (const h of holds) assert.equal(h.size, N, `a fetcher holds ${h.size} of ${N}`)
          assert.ok(l.chargedBytes <= 1.25 * N * CH)
        },
      ),
      { numRuns: 300 },
    )
  })
})
