/**
 * The egress rules of a shadow run (core/shadow/egress.ts): what the allow-list covers, which
 * destinations the live node is asked about, and what ends up as phone home.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  type EgressAttempt,
  MAX_CONFIRMATIONS,
  type PeerAnswer,
  phoneHomeOf,
  toConfirm,
  unconfirmedOf,
  unexplained,
} from '../../src/core/shadow/egress.ts'

const allow = { tcp: new Set(['127.0.0.1:4001', '[::1]:4002']), resolvers: new Set(['10.0.0.53']) }

describe('egress rules', () => {
  it('a TCP connect to a known peer is fine; an unknown one is asked about', () => {
    const found = unexplained(
      [
        { proto: 'tcp', dest: '127.0.0.1:4001' },
        { proto: 'tcp', dest: '[::1]:4002' },
        { proto: 'tcp', dest: '127.0.0.9:443' },
        { proto: 'tcp', dest: '127.0.0.9:443' },
      ],
      allow,
    )
    assert.deepEqual(found, { confirm: ['127.0.0.9:443'], outside: [] })
  })

  it('UDP is never a peer: only DNS to a host resolver passes', () => {
    const found = unexplained(
      [
        { proto: 'udp', dest: '10.0.0.53:53' },
        { proto: 'udp', dest: '10.0.0.54:53' },
        { proto: 'udp', dest: '127.0.0.1:4001' },
      ],
      allow,
    )
    assert.deepEqual(found.outside, ['udp 10.0.0.54:53', 'udp 127.0.0.1:4001'])
    assert.deepEqual(found.confirm, [])
  })

  it('a local socket is always phone home', () => {
    const found = unexplained([{ proto: 'unix', dest: '"/run/docker.sock"' }], allow)
    assert.deepEqual(found.outside, ['unix "/run/docker.sock"'])
  })

  it('only a confirmation excuses an unknown address; once over, pending is phone home', () => {
    const found = { confirm: ['a:1', 'b:2', 'c:3'], outside: [] }
    const answers = new Map<string, PeerAnswer>([
      ['a:1', 'peer'],
      ['b:2', 'not-peer'],
      ['c:3', 'pending'],
    ])
    assert.deepEqual(phoneHomeOf(found, answers, false), ['tcp b:2'])
    assert.deepEqual(phoneHomeOf(found, answers, true), ['tcp b:2', 'tcp c:3'])
  })

  it('one the live node could not be asked about is asked again, and is neither excused nor phone home', () => {
    const found = { confirm: ['a:1', 'b:2'], outside: [] }
    const answers = new Map<string, PeerAnswer>([
      ['a:1', 'unanswered'],
      ['b:2', 'not-peer'],
    ])
    assert.deepEqual(toConfirm(found, answers), ['a:1'])
    assert.deepEqual(phoneHomeOf(found, answers, true), ['tcp b:2'])
    assert.deepEqual(unconfirmedOf(found, answers), ['tcp a:1'])
    answers.set('a:1', 'not-peer')
    assert.deepEqual(phoneHomeOf(found, answers, true), ['tcp a:1', 'tcp b:2'])
    assert.deepEqual(unconfirmedOf(found, answers), [])
  })

  it(`at most ${MAX_CONFIRMATIONS} addresses are asked about; the rest are phone home`, () => {
    const dests = Array.from({ length: MAX_CONFIRMATIONS + 3 }, (_, i) => `127.0.1.${i}:9`)
    const found = { confirm: dests, outside: [] }
    const answers = new Map<string, PeerAnswer>()
    for (const d of toConfirm(found, answers)) answers.set(d, 'peer')
    assert.equal(answers.size, MAX_CONFIRMATIONS)
    assert.deepEqual(toConfirm(found, answers), [])
    assert.equal(phoneHomeOf(found, answers, false).length, 3)
  })

  it('property: nothing outside the allow-list passes unless the live node said it is a peer', () => {
    const dest = fc.oneof(
      fc.constantFrom('127.0.0.1:4001', '[::1]:4002', '10.0.0.53:53'),
      fc
        .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 65535 }))
        .map(([a, p]) => `127.0.0.${a}:${p}`),
    )
    const attempt: fc.Arbitrary<EgressAttempt> = fc.record({
      proto: fc.constantFrom('tcp' as const, 'udp' as const, 'unix' as const),
      dest,
    })
    fc.assert(
      fc.property(
        fc.array(attempt, { maxLength: 40 }),
        fc.func(fc.constantFrom<PeerAnswer>('pending', 'peer', 'not-peer', 'unanswered')),
        (attempts, answer) => {
          const found = unexplained(attempts, allow)
          const answers = new Map<string, PeerAnswer>()
          for (const d of toConfirm(found, answers)) answers.set(d, answer(d))
          const home = new Set(phoneHomeOf(found, answers, true))
          const unconfirmed = new Set(unconfirmedOf(found, answers))
          for (const a of attempts) {
            const key = `${a.proto} ${a.dest}`
            const allowed =
              (a.proto === 'tcp' && (allow.tcp.has(a.dest) || answers.get(a.dest) === 'peer')) ||
              (a.proto === 'udp' && a.dest === '10.0.0.53:53')
            // Every destination is exactly one of: allowed, phone home, or unconfirmed.
            assert.equal(home.has(key) || unconfirmed.has(key), !allowed, key)
            assert.ok(!(home.has(key) && unconfirmed.has(key)), key)
          }
        },
      ),
      { numRuns: 1000 },
    )
  })
})
