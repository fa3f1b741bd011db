/**
 * The canary gate, as a property of the pure core: for any set of nodes and any order and timing
 * of their inputs (results, ticks, evidence built from any subset of the reports that exist at
 * the time, as a network with delays would deliver it), a non-canary enters `switching` only
 * when its own latest evidence held `minProbationPasses` probation passes and no halt, and that
 * many reporters had really issued a probation pass by then; and a release that fails live is
 * run by canaries only.
 *
 * What it does not claim: that the passes still stand when the node switches. fast-check found
 * the case (2026-12-02): a canary commits (one pass), a non-canary hears of it; two shadow
 * failures then halt the network; the non-canary, not yet told, switches at its slot. No node
 * can act on a report it has not received; the halt reaches it next and, on probation, rolls it
 * back. (A committed node keeps the release under a halt: only a revocation takes it off.)
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  DEFAULT_ROLLOUT,
  probationPassesNeeded,
  type RolloutPolicy,
} from '../../src/core/manifest/release.ts'
import { type Report, summarize } from '../../src/core/rollout/evidence.ts'
import {
  initialRollout,
  type RolloutInput,
  type RolloutState,
  step,
  type Target,
} from '../../src/core/rollout/machine.ts'

const T0 = Date.parse('2026-12-01T00:00:00Z')

type Action =
  | { kind: 'advance'; ms: number }
  | { kind: 'drive'; node: number }
  | { kind: 'evidence'; node: number; mask: number }
  | { kind: 'tick'; node: number }

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 900_000 })),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('drive' as const), node: fc.nat(15) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('evidence' as const),
      node: fc.nat(15),
      mask: fc.integer({ min: 0, max: 2 ** 30 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), node: fc.nat(15) }) },
)

const hexDigest = fc.string({
  unit: fc.constantFrom(...'0123456789abcdef'),
  minLength: 64,
  maxLength: 64,
})

describe('evidence-gated waves', () => {
  it('no non-canary switches before minProbationPasses probation passes exist; a release that fails live reaches canaries only', () => {
    // The property must not hold vacuously: non-canaries do switch in many runs (good releases).
    let nonCanarySwitches = 0
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 9 }),
        fc.constantFrom(0, 0.05, 0.25, 0.5),
        fc.integer({ min: 1, max: 2 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(action, { minLength: 50, maxLength: 800 }),
        hexDigest,
        (n, canaryFraction, minProbationPasses, failsLive, withPeers, actions, digest) => {
          const policy: RolloutPolicy = {
            ...DEFAULT_ROLLOUT,
            windowSeconds: 600,
            canaryFraction,
            shadowSeconds: 60,
            probationSeconds: 120,
            minPassReports: 1,
            haltMinFailures: 2,
            minProbationPasses,
          }
          const t: Target = {
            version: '1.1.0',
            sequence: 2,
            digest,
            minVersion: '0.0.0',
            policy,
          }
          const ids = Array.from({ length: n }, (_, i) => `node-${i}`)
          let now = T0
          const nodes: RolloutState[] = ids.map((id) => initialRollout(id, '1.0.0'))
          const reports = new Map<string, Report>()
          const need = probationPassesNeeded(policy)
          // Reporters that ever issued a probation pass, and each node's latest evidence.
          const everPassed = new Set<string>()
          const heard: Array<ReturnType<typeof summarize> | undefined> = ids.map(() => undefined)
          const feed = (i: number, input: RolloutInput) => {
            const before = nodes[i]!
            const r = step(before, input, now)
            nodes[i] = r.state
            if (input.type === 'evidence') heard[i] = input.summary
            for (const e of r.effects) {
              if (e.type === 'report') {
                reports.set(ids[i]!, {
                  reporter: ids[i]!,
                  release: t.digest,
                  stage: e.stage,
                  verdict: e.verdict,
                  at: now,
                })
                if (e.stage === 'probation' && e.verdict === 'pass') everPassed.add(ids[i]!)
              }
              if (e.type === 'switch' && r.state.canary !== true) {
                const own = heard[i]
                assert.ok(
                  own !== undefined && own.probationPassing >= need && !own.halt,
                  `${ids[i]} (non-canary) switched on evidence ${JSON.stringify(own)}`,
                )
                assert.ok(
                  everPassed.size >= need,
                  `${ids[i]} (non-canary) switched when ${everPassed.size} of ${need} probation passes had ever been issued`,
                )
                assert.ok(
                  !failsLive,
                  `${ids[i]} (non-canary) switched to a release that fails live`,
                )
                nonCanarySwitches++
              }
            }
          }
          // Every node sees the manifest first (in a random order the actions then interleave).
          for (let i = 0; i < n; i++)
            feed(i, { type: 'manifest', target: t, ...(withPeers ? { peers: ids } : {}) })
          for (const a of actions) {
            if (a.kind === 'advance') {
              now += a.ms
              continue
            }
            const i = a.node % n
            const s = nodes[i]!
            // A fault that shows live shows within probation: the node's next turn sees it.
            if (failsLive && s.phase === 'probation' && a.kind !== 'evidence')
              feed(i, { type: 'health', ok: false, reason: 'crashed' })
            else if (a.kind === 'tick') feed(i, { type: 'tick' })
            else if (a.kind === 'evidence') {
              const held = [...reports.values()].filter((_, k) => ((a.mask >> k) & 1) === 1)
              feed(i, { type: 'evidence', digest: t.digest, summary: summarize(held, policy) })
            } else if (s.phase === 'fetching') feed(i, { type: 'fetched', ok: true })
            else if (s.phase === 'staged') feed(i, { type: 'staged', ok: true })
            else if (s.phase === 'shadow')
              feed(i, { type: 'shadow-result', verdict: 'pass', reason: 'ok' })
            else if (s.phase === 'switching') feed(i, { type: 'switched', ok: true })
            else if (s.phase === 'rolled-back') feed(i, { type: 'rolled-back', ok: true })
            else feed(i, { type: 'tick' })
          }
          if (failsLive)
            for (const s of nodes)
              if (s.current === t.version) assert.equal(s.canary, true, `${s.nodeId} runs it`)
        },
      ),
      { numRuns: 400 },
    )
    assert.ok(nonCanarySwitches >= 10, `non-canaries switched ${nonCanarySwitches} times in all`)
  })

  it('across two releases and manual approvals, a non-canary switches only on its target own evidence', () => {
    // Found by the simulator (2026-12-06): a manual node awaiting approval of the next release
    // kept the previous release's wave and evidence, so once approved it could switch at once.
    type Multi =
      | Action
      | { kind: 'approve'; node: number; which: number }
      | { kind: 'publish' }
      | { kind: 'resume'; node: number }
    const multi: fc.Arbitrary<Multi> = fc.oneof(
      { weight: 30, arbitrary: action },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('approve' as const),
          node: fc.nat(15),
          which: fc.nat(1),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('publish' as const) }) },
      // The supervisor restarts: the machine re-issues what its phase was doing.
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('resume' as const), node: fc.nat(15) }),
      },
    )
    let nonCanarySwitches = 0
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 7 }),
        fc.constantFrom(0.05, 0.25, 0.5),
        fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
        fc.array(multi, { minLength: 100, maxLength: 1200 }),
        hexDigest,
        hexDigest,
        (n, canaryFraction, manual, actions, da, db) => {
          fc.pre(da !== db)
          const policy: RolloutPolicy = {
            ...DEFAULT_ROLLOUT,
            windowSeconds: 3600,
            canaryFraction,
            shadowSeconds: 60,
            probationSeconds: 120,
            minPassReports: 1,
            haltMinFailures: 2,
          }
          const targets: Target[] = [
            { version: '1.1.0', sequence: 2, digest: da, minVersion: '0.0.0', policy },
            { version: '1.2.0', sequence: 3, digest: db, minVersion: '0.0.0', policy },
          ]
          const ids = Array.from({ length: n }, (_, i) => `node-${i}`)
          let now = T0
          let published = 1
          const nodes = ids.map((id, i) =>
            initialRollout(id, '1.0.0', manual[i] ? { autoUpgrade: false } : {}),
          )
          const reports = targets.map(() => new Map<string, Report>())
          const passed = targets.map(() => new Set<string>())
          const heard = ids.map(() => new Map<string, ReturnType<typeof summarize>>())
          const feed = (i: number, input: RolloutInput) => {
            // A restart during a switch re-issues it, and one during probation redoes it: the
            // decision was taken before, on the evidence then. Only a move from another phase
            // into `switching` is a decision to check.
            const deciding = nodes[i]!.phase !== 'switching' && nodes[i]!.phase !== 'probation'
            const r = step(nodes[i]!, input, now)
            nodes[i] = r.state
            if (input.type === 'evidence') heard[i]!.set(input.digest, input.summary)
            for (const e of r.effects) {
              if (e.type === 'report') {
                const k = targets.findIndex((x) => x.digest === e.target.digest)
                reports[k]!.set(ids[i]!, {
                  reporter: ids[i]!,
                  release: e.target.digest,
                  stage: e.stage,
                  verdict: e.verdict,
                  at: now,
                })
                if (e.stage === 'probation' && e.verdict === 'pass') passed[k]!.add(ids[i]!)
              }
              if (e.type === 'switch' && r.state.canary !== true && deciding) {
                const own = heard[i]!.get(e.target.digest)
                const k = targets.findIndex((x) => x.digest === e.target.digest)
                assert.ok(
                  own !== undefined && own.probationPassing >= 1 && !own.halt,
                  `${ids[i]} (non-canary) switched to ${e.target.version} on its evidence ${JSON.stringify(own)}`,
                )
                assert.ok(passed[k]!.size >= 1, `no probation pass on ${e.target.version} existed`)
                nonCanarySwitches++
              }
            }
          }
          const announce = (k: number) => {
            for (let i = 0; i < n; i++)
              feed(i, { type: 'manifest', target: targets[k]!, peers: ids })
          }
          announce(0)
          for (const a of actions) {
            if (a.kind === 'advance') {
              now += a.ms
              continue
            }
            if (a.kind === 'publish') {
              if (published === 1) {
                published = 2
                announce(1)
              }
              continue
            }
            const i = a.node % n
            const s = nodes[i]!
            if (a.kind === 'resume') {
              feed(i, { type: 'resume' })
              continue
            }
            if (a.kind === 'approve') {
              feed(i, {
                type: 'approve',
                version: targets[Math.min(a.which, published - 1)]!.version,
              })
              continue
            }
            if (a.kind === 'tick') feed(i, { type: 'tick' })
            else if (a.kind === 'evidence') {
              const k = (a.mask & 1) === 1 && published === 2 ? 1 : 0
              const held = [...reports[k]!.values()].filter(
                (_, j) => ((a.mask >> (j + 1)) & 1) === 1,
              )
              feed(i, {
                type: 'evidence',
                digest: targets[k]!.digest,
                summary: summarize(held, policy),
              })
            } else if (s.phase === 'fetching') feed(i, { type: 'fetched', ok: true })
            else if (s.phase === 'staged') feed(i, { type: 'staged', ok: true })
            else if (s.phase === 'shadow')
              feed(i, { type: 'shadow-result', verdict: 'pass', reason: 'ok' })
            else if (s.phase === 'switching') feed(i, { type: 'switched', ok: true })
            else if (s.phase === 'probation') feed(i, { type: 'health', ok: true, reason: 'up' })
            else if (s.phase === 'rolled-back') feed(i, { type: 'rolled-back', ok: true })
            else feed(i, { type: 'tick' })
          }
        },
      ),
      { numRuns: 1000 },
    )
    assert.ok(nonCanarySwitches >= 10, `non-canaries switched ${nonCanarySwitches} times in all`)
  })

  it('with the peers it knows, every release has a canary in a network of two or more', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 12 }),
        fc.constantFrom(0, 0.001, 0.02),
        hexDigest,
        (ids, canaryFraction, digest) => {
          const t: Target = {
            version: '1.1.0',
            sequence: 2,
            digest,
            minVersion: '0.0.0',
            policy: { ...DEFAULT_ROLLOUT, canaryFraction },
          }
          const canaries = ids.filter(
            (id) =>
              step(initialRollout(id, '1.0.0'), { type: 'manifest', target: t, peers: ids }, T0)
                .state.canary === true,
          )
          assert.ok(canaries.length >= 1)
        },
      ),
      { numRuns: 300 },
    )
  })
})
