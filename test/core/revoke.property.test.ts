/**
 * Revocation, as a property of the pure core: for any order and timing of inputs across two
 * releases (manual or automatic nodes, approvals, restarts, evidence, revocations of either
 * release at any moment), a node never switches to a version after it was told that version is
 * revoked, never rolls back onto a revoked version, and once its driver has answered what it
 * asked for, it no longer runs a revoked version unless it has nothing unrevoked to go back to.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DEFAULT_ROLLOUT, type RolloutPolicy } from '../../src/core/manifest/release.ts'
import { type Report, summarize } from '../../src/core/rollout/evidence.ts'
import {
  initialRollout,
  isRevoked,
  type RolloutInput,
  type RolloutState,
  step,
  type Target,
} from '../../src/core/rollout/machine.ts'

const T0 = Date.parse('2026-12-07T00:00:00Z')

type Action =
  | { kind: 'advance'; ms: number }
  | { kind: 'drive' }
  | { kind: 'evidence'; which: number; pass: boolean }
  | { kind: 'publish' }
  | { kind: 'revoke'; which: number }
  | { kind: 'approve'; which: number }
  | { kind: 'resume' }
  | { kind: 'fail' }

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 900_000 })),
    }),
  },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('drive' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('evidence' as const),
      which: fc.nat(1),
      pass: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('publish' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), which: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('approve' as const), which: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resume' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail' as const) }) },
)

describe('revocation', () => {
  it('a revoked version is never switched to nor rolled back onto, and stops running once the driver answers', () => {
    let revokedWhileRunning = 0
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.constantFrom(0, 0.5, 1),
        fc.array(action, { minLength: 20, maxLength: 400 }),
        (manual, canaryFraction, actions) => {
          const policy: RolloutPolicy = {
            ...DEFAULT_ROLLOUT,
            windowSeconds: 600,
            canaryFraction,
            shadowSeconds: 60,
            probationSeconds: 120,
            minPassReports: 1,
            haltMinFailures: 2,
          }
          const targets: Target[] = ['1.1.0', '1.2.0'].map((version, k) => ({
            version,
            sequence: k + 2,
            digest: String(k + 1).repeat(64),
            minVersion: '0.0.0',
            policy,
          }))
          let now = T0
          let published = 1
          let s: RolloutState = initialRollout(
            'node-a',
            '1.0.0',
            manual ? { autoUpgrade: false } : {},
          )
          const revoked = new Set<string>()
          const feed = (input: RolloutInput) => {
            const before = s
            const r = step(s, input, now)
            s = r.state
            if (process.env.TRACE)
              console.log(
                input.type,
                s.phase,
                s.current,
                s.target?.version,
                s.pending?.version,
                s.reason,
              )
            assert.ok(s.current, 'the machine always names a version to run')
            for (const e of r.effects) {
              if (e.type === 'switch')
                assert.ok(!revoked.has(e.target.version), `switched to revoked ${e.target.version}`)
              if (e.type === 'rollback' || e.type === 'reinstall') {
                const to = e.type === 'rollback' ? e.to : e.version
                // Only when nothing unrevoked and good is installed to go back to.
                const other = [before.previous, before.lastGood].filter(
                  (x) =>
                    x !== undefined && x !== to && !before.bad[x] && x !== before.target?.version,
                )
                assert.ok(!revoked.has(to) || other.length === 0, `went back onto revoked ${to}`)
              }
            }
          }
          const answer = () => {
            if (s.phase === 'fetching') feed({ type: 'fetched', ok: true })
            else if (s.phase === 'staged') feed({ type: 'staged', ok: true })
            else if (s.phase === 'shadow')
              feed({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
            else if (s.phase === 'switching') feed({ type: 'switched', ok: true })
            else if (s.phase === 'probation') feed({ type: 'health', ok: true, reason: 'up' })
            else if (s.phase === 'rolled-back') feed({ type: 'rolled-back', ok: true })
            else feed({ type: 'tick' })
          }
          feed({ type: 'manifest', target: targets[0]!, peers: ['node-a', 'node-b'] })
          for (const a of actions) {
            switch (a.kind) {
              case 'advance':
                now += a.ms
                feed({ type: 'tick' })
                break
              case 'drive':
                answer()
                break
              case 'evidence': {
                const t = targets[Math.min(a.which, published - 1)]!
                const reports: Report[] = ['node-b', 'node-c'].map((reporter) => ({
                  reporter,
                  release: t.digest,
                  stage: 'probation',
                  verdict: a.pass ? 'pass' : 'fail',
                  at: now,
                }))
                feed({ type: 'evidence', digest: t.digest, summary: summarize(reports, policy) })
                break
              }
              case 'publish':
                if (published === 1) {
                  published = 2
                  feed({ type: 'manifest', target: targets[1]!, peers: ['node-a', 'node-b'] })
                }
                break
              case 'revoke': {
                const v = targets[Math.min(a.which, published - 1)]!.version
                if (s.current === v) revokedWhileRunning++
                revoked.add(v)
                feed({ type: 'revoked', version: v, reason: 'a data-loss bug' })
                break
              }
              case 'approve':
                feed({
                  type: 'approve',
                  version: targets[Math.min(a.which, published - 1)]!.version,
                })
                break
              case 'resume':
                feed({ type: 'resume' })
                break
              case 'fail':
                if (s.phase === 'probation') feed({ type: 'health', ok: false, reason: 'crashed' })
                break
            }
          }
          // The driver answers everything still asked for, and the clock runs on.
          for (
            let i = 0;
            i < 40 && !['idle', 'committed', 'bad', 'halted'].includes(s.phase);
            i++
          ) {
            now += 60_000
            answer()
          }
          for (const v of revoked) assert.ok(isRevoked(s, v), `${v} is marked revoked`)
          if (revoked.has(s.current) && !['switching', 'probation'].includes(s.phase))
            assert.ok(
              [s.previous, s.lastGood].every((x) => x === undefined || x === s.current || s.bad[x]),
              `still runs ${s.current} with ${s.previous}/${s.lastGood} to go back to: ${s.reason}`,
            )
        },
      ),
      process.env.REPLAY
        ? { numRuns: 1, examples: [JSON.parse(process.env.REPLAY)] }
        : { numRuns: 1000 },
    )
    if (process.env.REPLAY) return
    assert.ok(
      revokedWhileRunning >= 5,
      `a running version was revoked ${revokedWhileRunning} times`,
    )
  })
})
