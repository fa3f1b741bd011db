/** The rollout state machine, driven on a virtual clock: every path of the issue, and properties. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DEFAULT_ROLLOUT, type RolloutPolicy } from '../../src/core/manifest/release.ts'
import { addReport, type Report, summarize } from '../../src/core/rollout/evidence.ts'
import {
  initialRollout,
  isRevoked,
  type RolloutEffect,
  type RolloutInput,
  type RolloutState,
  step,
  type Target,
} from '../../src/core/rollout/machine.ts'
import { isCanary, rolloutSlot, slotTime, waveSlotTime } from '../../src/core/rollout/slot.ts'

const T0 = Date.parse('2026-11-28T00:00:00Z')
const policy: RolloutPolicy = {
  ...DEFAULT_ROLLOUT,
  windowSeconds: 3600,
  canaryFraction: 0.5,
  shadowSeconds: 60,
  probationSeconds: 120,
  minPassReports: 2,
}

function target(version: string, sequence: number, over: Partial<RolloutPolicy> = {}): Target {
  return {
    version,
    sequence,
    digest: `${version}-digest`.padEnd(64, '0'),
    minVersion: '0.0.0',
    policy: { ...policy, ...over },
  }
}

/** A node id whose slot for `t` is a canary (or not). */
function nodeFor(t: Target, canary: boolean): string {
  for (let i = 0; ; i++) {
    const id = `peer-${i}`
    if (isCanary(rolloutSlot(id, t.digest), t.policy.canaryFraction) === canary) return id
  }
}

class Driver {
  state: RolloutState
  now = T0
  effects: RolloutEffect[] = []
  constructor(state: RolloutState) {
    this.state = state
  }
  send(input: RolloutInput): RolloutEffect[] {
    const r = step(this.state, input, this.now)
    this.state = r.state
    this.effects.push(...r.effects)
    return r.effects
  }
  advance(ms: number): RolloutEffect[] {
    this.now += ms
    return this.send({ type: 'tick' })
  }
  kinds(effects: RolloutEffect[]): string[] {
    return effects.filter((e) => e.type !== 'log').map((e) => e.type)
  }
}

function throughShadow(d: Driver, t: Target): void {
  assert.deepEqual(d.kinds(d.send({ type: 'manifest', target: t })), ['fetch'])
  assert.equal(d.state.phase, 'fetching')
  assert.deepEqual(d.kinds(d.send({ type: 'fetched', ok: true })), ['stage'])
  assert.deepEqual(d.kinds(d.send({ type: 'staged', ok: true })), ['start-shadow'])
  assert.equal(d.state.phase, 'shadow')
}

/** A canary for `t` that went through shadow, switch and probation: committed on `t`. */
function committedCanary(t: Target): Driver {
  const d = new Driver(initialRollout(nodeFor(t, true), '1.0.0'))
  throughShadow(d, t)
  d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
  if (d.state.phase === 'scheduled') d.advance(policy.windowSeconds * 500)
  d.send({ type: 'switched', ok: true })
  d.advance(policy.probationSeconds * 1000)
  assert.equal(d.state.phase, 'committed')
  return d
}

describe('rollout slots', () => {
  it('are uniform, stable and inside the window', () => {
    const t = target('1.1.0', 2)
    const slots = Array.from({ length: 4000 }, (_, i) => rolloutSlot(`peer-${i}`, t.digest))
    assert.equal(rolloutSlot('peer-7', t.digest), slots[7])
    for (const s of slots) assert.ok(s >= 0 && s < 1)
    const canaries = slots.filter((s) => isCanary(s, 0.02)).length
    assert.ok(canaries > 40 && canaries < 120, `about 2% canaries, got ${canaries}`)
    const firstHalf = slots.filter((s) => s < 0.5).length
    assert.ok(firstHalf > 1850 && firstHalf < 2150)
    assert.equal(slotTime(0.5, T0, 3600), T0 + 1_800_000)
    assert.notEqual(
      rolloutSlot('peer-7', t.digest),
      rolloutSlot('peer-7', target('1.2.0', 3).digest),
    )
  })
})

describe('evidence', () => {
  const r = (reporter: string, verdict: 'pass' | 'fail', at = 1): Report => ({
    reporter,
    release: 'd',
    stage: 'shadow',
    verdict,
    at,
  })
  it('counts each reporter once, latest report wins', () => {
    let m = new Map<string, Report>()
    m = addReport(m, r('a', 'pass', 1))
    m = addReport(m, r('a', 'pass', 2))
    m = addReport(m, r('a', 'fail', 3))
    m = addReport(m, r('b', 'pass', 1))
    m = addReport(m, r('a', 'pass', 2)) // older: ignored
    const s = summarize(m.values(), policy)
    assert.equal(s.passing, 1)
    assert.equal(s.failing, 1)
  })
  it('proceeds with enough passes, one of them a probation pass; halts past the threshold', () => {
    const shadowOnly = summarize([r('a', 'pass'), r('b', 'pass'), r('c', 'pass')], policy)
    assert.equal(shadowOnly.proceed, false, 'shadow passes alone never let a non-canary go')
    assert.match(shadowOnly.reason, /waiting for the canaries: 0 of 1 probation passes/)
    const live = { ...r('b', 'pass'), stage: 'probation' as const }
    assert.equal(summarize([r('a', 'pass'), live], policy).proceed, true)
    assert.equal(summarize([live], policy).proceed, false, 'minPassReports still applies')
    const two = summarize([r('a', 'pass'), live], { ...policy, minProbationPasses: 2 })
    assert.equal(two.proceed, false, 'the policy may ask for more probation passes')
    const halted = summarize([r('a', 'pass'), r('b', 'fail'), r('c', 'fail')], policy)
    assert.equal(halted.halt, true)
    assert.equal(halted.proceed, false)
    assert.match(halted.reason, /halted: 2 of 3 reporters failed/)
  })
})

function reportsOf(digest: string, passes: number, fails: number): Report[] {
  const mk = (reporter: string, verdict: 'pass' | 'fail'): Report => ({
    reporter,
    release: digest,
    stage: 'shadow',
    verdict,
    at: 1,
  })
  return [
    ...Array.from({ length: passes }, (_, i) => mk(`p${i}`, 'pass')),
    ...Array.from({ length: fails }, (_, i) => mk(`f${i}`, 'fail')),
  ]
}

/** The first `n` reports as probation results: nodes that ran the release live. */
function withProbationPasses(reports: Report[], n: number): Report[] {
  return reports.map((r, i) => (i < n ? { ...r, stage: 'probation' as const } : r))
}

describe('the rollout state machine', () => {
  it('a canary goes idle -> fetching -> staged -> shadow -> scheduled -> switching -> probation -> committed', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout(nodeFor(t, true), '1.0.0'))
    throughShadow(d, t)
    const passed = d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    assert.ok(
      passed.some((e) => e.type === 'report' && e.verdict === 'pass' && e.stage === 'shadow'),
    )
    if (d.state.phase === 'scheduled') d.advance(policy.windowSeconds * 500)
    assert.equal(d.state.phase, 'switching')
    assert.deepEqual(d.kinds(d.send({ type: 'switched', ok: true })), [])
    assert.equal(d.state.phase, 'probation')
    assert.equal(d.state.current, '1.1.0')
    assert.equal(d.state.previous, '1.0.0')
    d.send({ type: 'health', ok: true, reason: 'ready' })
    const done = d.advance(policy.probationSeconds * 1000)
    assert.deepEqual(d.kinds(done), ['commit', 'report'])
    assert.equal(d.state.phase, 'committed')
    assert.equal(d.state.lastGood, '1.1.0')
  })

  it('a revocation takes a committed node back to the release before and skips the version for good', () => {
    const t = target('1.1.0', 2)
    const d = committedCanary(t)
    // Network evidence against a committed release only halts it: it stays on this node...
    const halt = summarize(
      ['x', 'y', 'z'].map((reporter) => ({
        reporter,
        release: t.digest,
        stage: 'probation' as const,
        verdict: 'fail' as const,
        at: d.now,
      })),
      policy,
    )
    assert.equal(halt.halt, true)
    assert.deepEqual(d.kinds(d.send({ type: 'evidence', digest: t.digest, summary: halt })), [])
    assert.equal(d.state.phase, 'halted')
    assert.equal(d.state.current, '1.1.0')
    assert.match(d.state.reason, /stays committed here until the maintainers revoke it/)
    const back = d.send({ type: 'revoked', version: '1.1.0', reason: 'corrupts the store' })
    // ...a revocation takes it off this node: no report, it is the maintainers' word, not evidence.
    assert.deepEqual(d.kinds(back), ['rollback'])
    assert.deepEqual(
      back.find((e) => e.type === 'rollback'),
      {
        type: 'rollback',
        from: '1.1.0',
        to: '1.0.0',
        reason: 'revoked by the maintainers: corrupts the store',
      },
    )
    assert.equal(d.state.phase, 'rolled-back')
    assert.equal(d.state.lastGood, '1.0.0')
    d.send({ type: 'rolled-back', ok: true })
    assert.equal(d.state.phase, 'bad')
    assert.equal(d.state.current, '1.0.0')
    // The same revocation again changes nothing; the version never starts again.
    assert.deepEqual(
      d.kinds(d.send({ type: 'revoked', version: '1.1.0', reason: 'corrupts the store' })),
      [],
    )
    d.state = { ...d.state, phase: 'idle' }
    assert.deepEqual(d.kinds(d.send({ type: 'manifest', target: t })), [])
    assert.match(d.state.reason, /revoked by the maintainers/)
  })

  it('a revocation of the version a rollback is landing on leaves it as soon as the rollback lands', () => {
    // Found by test/core/revoke.property.test.ts: the node rolled back onto 1.1.0 and stayed there.
    const t = target('1.1.0', 2)
    const next = target('1.2.0', 3)
    const halt = (d: Driver) =>
      summarize(
        ['x', 'y', 'z'].map((reporter) => ({
          reporter,
          release: next.digest,
          stage: 'probation' as const,
          verdict: 'fail' as const,
          at: d.now,
        })),
        policy,
      )
    const toSwitch = () => {
      const d = committedCanary(t)
      throughShadow(d, next)
      d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
      if (d.state.phase === 'scheduled') d.advance(policy.windowSeconds * 1000)
      assert.equal(d.state.phase, 'switching')
      return d
    }
    // Halted mid-switch: back to 1.1.0, with 1.0.0 still the release before it.
    const d = toSwitch()
    d.send({ type: 'evidence', digest: next.digest, summary: halt(d) })
    assert.equal(d.state.phase, 'rolled-back')
    assert.equal(d.state.current, '1.1.0')
    // The revocation arrives while the driver is still rolling back onto it: nothing to do yet.
    assert.deepEqual(d.kinds(d.send({ type: 'revoked', version: '1.1.0', reason: 'x' })), [])
    const landed = d.send({ type: 'rolled-back', ok: true })
    assert.deepEqual(
      landed.find((e) => e.type === 'rollback'),
      { type: 'rollback', from: '1.1.0', to: '1.0.0', reason: 'revoked by the maintainers: x' },
    )
    d.send({ type: 'rolled-back', ok: true })
    assert.equal(d.state.phase, 'bad')
    assert.equal(d.state.current, '1.0.0')
    // After a full switch, 1.1.0 is both the release before and the last good: nothing else is
    // installed to go to, and the node says so rather than resting quietly on a revoked version.
    const e = toSwitch()
    e.send({ type: 'switched', ok: true })
    e.send({ type: 'health', ok: false, reason: 'crashed' })
    e.send({ type: 'revoked', version: '1.1.0', reason: 'x' })
    assert.deepEqual(e.kinds(e.send({ type: 'rolled-back', ok: true })), [])
    assert.equal(e.state.current, '1.1.0')
    assert.match(
      e.state.reason,
      /1\.1\.0 revoked by the maintainers: x; it runs here and no earlier/,
    )
  })

  it('the watch after commit: a crash loop or an unresponsive node is a late failure; after the watch, a crash is only restarted', () => {
    const t = target('1.1.0', 2, { watchSeconds: 600 })
    const committed = () => committedCanary(t)
    const d = committed()
    assert.deepEqual(d.kinds(d.send({ type: 'exited', reason: 'code 1' })), [])
    d.now += 60_000
    assert.deepEqual(d.kinds(d.send({ type: 'exited', reason: 'code 1' })), [])
    d.now += 60_000
    const late = d.send({ type: 'exited', reason: 'code 1' })
    assert.deepEqual(d.kinds(late), ['rollback', 'report'])
    const report = late.find((e) => e.type === 'report')
    assert.ok(
      report?.type === 'report' && report.stage === 'probation' && report.verdict === 'fail',
    )
    assert.match(report.reason, /late failure after commit: 3 exits within 120 s/)
    assert.equal(d.state.current, '1.0.0')
    assert.match(d.state.bad['1.1.0'] ?? '', /late failure/)
    // Spread out, three exits are no loop; past the watch, no exit counts.
    const slow = committed()
    for (let k = 0; k < 3; k++) {
      assert.deepEqual(slow.kinds(slow.send({ type: 'exited', reason: 'code 1' })), [])
      slow.now += 5 * 60_000 + 1
    }
    const old = committed()
    old.now += 601_000
    for (let k = 0; k < 3; k++)
      assert.deepEqual(old.kinds(old.send({ type: 'exited', reason: 'x' })), [])
    assert.equal(old.state.phase, 'committed')
    // A node that stops answering within the watch: late failure at once.
    const mute = committed()
    assert.deepEqual(
      mute.kinds(
        mute.send({ type: 'health', ok: false, reason: 'the node stopped answering its API' }),
      ),
      ['rollback', 'report'],
    )
  })

  it('a revocation of the target in flight stops it before the switch, and of a version not run here only marks it', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout(nodeFor(t, false), '1.0.0'))
    throughShadow(d, t)
    assert.deepEqual(d.kinds(d.send({ type: 'revoked', version: '1.1.0', reason: 'x' })), [
      'stop-shadow',
    ])
    assert.equal(d.state.phase, 'bad')
    assert.equal(d.state.current, '1.0.0')
    const other = new Driver(initialRollout('n', '1.0.0'))
    assert.deepEqual(
      other.kinds(other.send({ type: 'revoked', version: '2.0.0', reason: 'x' })),
      [],
    )
    assert.equal(other.state.phase, 'idle')
    assert.match(other.state.bad['2.0.0'] ?? '', /revoked/)
    // A node first installed at a revoked version has nothing to go back to: it says so.
    const lone = new Driver(initialRollout('n', '1.1.0'))
    assert.deepEqual(lone.kinds(lone.send({ type: 'revoked', version: '1.1.0', reason: 'x' })), [])
    assert.match(lone.state.reason, /no earlier release is installed/)
  })

  it('a non-canary waits for the canaries: its slot counts from the start of its wave', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout(nodeFor(t, false), '1.0.0'))
    throughShadow(d, t)
    d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    assert.equal(d.state.phase, 'scheduled')
    d.advance(policy.windowSeconds * 1000)
    assert.equal(d.state.phase, 'scheduled', 'slot reached, but no evidence yet')
    const shadows = summarize(reportsOf(t.digest, 5, 0), t.policy)
    assert.deepEqual(d.kinds(d.send({ type: 'evidence', digest: t.digest, summary: shadows })), [])
    assert.equal(d.state.phase, 'scheduled', 'shadow passes alone never start the wave')
    assert.equal(d.state.waveStart, undefined)
    const live = summarize(withProbationPasses(reportsOf(t.digest, 5, 0), 1), t.policy)
    const waveStart = d.now
    d.send({ type: 'evidence', digest: t.digest, summary: live })
    assert.equal(d.state.waveStart, waveStart)
    const at = waveSlotTime(d.state.slot!, policy.canaryFraction, waveStart, policy.windowSeconds)
    if (at > d.now) {
      assert.equal(d.state.phase, 'scheduled', 'not before its slot in the wave')
      d.advance(at - d.now - 1)
      assert.equal(d.state.phase, 'scheduled')
    }
    assert.deepEqual(d.kinds(d.advance(1)), ['switch'])
  })

  it('without evidence by the end of the window it rests, and late evidence picks it up again', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout(nodeFor(t, false), '1.0.0'))
    throughShadow(d, t)
    d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    d.advance(3 * policy.windowSeconds * 1000)
    assert.equal(d.state.phase, 'idle')
    assert.match(d.state.reason, /no evidence/)
    const live = summarize(withProbationPasses(reportsOf(t.digest, 2, 0), 1), t.policy)
    d.send({ type: 'evidence', digest: t.digest, summary: live })
    assert.equal(d.state.phase, 'scheduled')
    d.advance(policy.windowSeconds * 1000)
    assert.equal(d.state.phase, 'switching')
  })

  it('a failed shadow run marks the version bad and reports it; a newer manifest supersedes it', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout('n', '1.0.0'))
    throughShadow(d, t)
    const eff = d.send({ type: 'shadow-result', verdict: 'fail', reason: 'crashed' })
    assert.ok(eff.some((e) => e.type === 'report' && e.verdict === 'fail'))
    assert.equal(d.state.phase, 'bad')
    assert.equal(d.state.current, '1.0.0')
    assert.deepEqual(
      d.kinds(d.send({ type: 'manifest', target: t })),
      [],
      'the bad version is skipped',
    )
    assert.deepEqual(d.kinds(d.send({ type: 'manifest', target: target('1.2.0', 3) })), ['fetch'])
  })

  it('inconclusive retries with a growing delay and never promotes', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout(nodeFor(t, true), '1.0.0'))
    throughShadow(d, t)
    const delays: number[] = []
    for (let i = 0; i < 4; i++) {
      d.send({ type: 'shadow-result', verdict: 'inconclusive', reason: 'too few samples' })
      assert.equal(d.state.phase, 'idle')
      delays.push(d.state.retryAt! - d.now)
      d.now = d.state.retryAt!
      assert.deepEqual(d.kinds(d.send({ type: 'tick' })), ['fetch'])
      d.send({ type: 'fetched', ok: true })
      d.send({ type: 'staged', ok: true })
    }
    assert.ok(delays[3]! > delays[0]!)
    assert.ok(!d.effects.some((e) => e.type === 'switch'))
  })

  it('halting evidence stops a scheduled node and rolls a canary on probation back', () => {
    const t = target('1.1.0', 2)
    const halt = summarize(
      ['a', 'b', 'c'].map((reporter) => ({
        reporter,
        release: t.digest,
        stage: 'probation' as const,
        verdict: 'fail' as const,
        at: 1,
      })),
      t.policy,
    )
    const waiting = new Driver(initialRollout(nodeFor(t, false), '1.0.0'))
    throughShadow(waiting, t)
    waiting.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    waiting.send({ type: 'evidence', digest: t.digest, summary: halt })
    assert.equal(waiting.state.phase, 'halted')
    assert.match(waiting.state.reason, /halted: 3 of 3/)
    const canary = new Driver(initialRollout(nodeFor(t, true), '1.0.0'))
    throughShadow(canary, t)
    canary.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    canary.advance(policy.windowSeconds * 500)
    canary.send({ type: 'switched', ok: true })
    const back = canary.send({ type: 'evidence', digest: t.digest, summary: halt })
    assert.ok(back.some((e) => e.type === 'rollback' && e.to === '1.0.0'))
    canary.send({ type: 'rolled-back', ok: true })
    assert.equal(canary.state.phase, 'bad')
    assert.equal(canary.state.current, '1.0.0')
  })

  it('a failed probation rolls back; a failed rollback reinstalls the last good version', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout(nodeFor(t, true), '1.0.0'))
    throughShadow(d, t)
    d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    d.advance(policy.windowSeconds * 500)
    d.send({ type: 'switched', ok: true })
    const rb = d.send({ type: 'health', ok: false, reason: 'crashed after 5 s' })
    assert.ok(rb.some((e) => e.type === 'rollback' && e.to === '1.0.0'))
    assert.deepEqual(
      d.kinds(d.send({ type: 'rolled-back', ok: false, reason: 'old binary gone' })),
      ['reinstall'],
    )
    d.send({ type: 'reinstalled', ok: true })
    assert.equal(d.state.phase, 'bad')
    assert.equal(d.state.current, '1.0.0')
    assert.match(d.state.bad['1.1.0']!, /probation failed: crashed after 5 s/)
  })

  it('every waiting phase has a deadline that forces a transition', () => {
    const t = target('1.1.0', 2)
    for (const phase of [
      'fetching',
      'staged',
      'shadow',
      'switching',
      'rolled-back',
      'probation',
    ] as const) {
      const d = new Driver(initialRollout(nodeFor(t, true), '1.0.0'))
      d.send({ type: 'manifest', target: t })
      if (phase !== 'fetching') d.send({ type: 'fetched', ok: true })
      if (phase !== 'fetching' && phase !== 'staged') d.send({ type: 'staged', ok: true })
      if (['switching', 'rolled-back', 'probation'].includes(phase)) {
        d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
        d.advance(policy.windowSeconds * 500)
      }
      if (phase === 'probation' || phase === 'rolled-back') d.send({ type: 'switched', ok: true })
      if (phase === 'rolled-back') d.send({ type: 'health', ok: false, reason: 'x' })
      assert.equal(d.state.phase, phase)
      assert.ok(d.state.deadline !== undefined)
      d.now = d.state.deadline
      const forced = d.send({ type: 'tick' })
      if (phase === 'rolled-back') {
        // A rollback that does not finish in time is given up for a reinstall of the last good version.
        assert.ok(forced.some((e) => e.type === 'reinstall' && e.version === '1.0.0'))
      } else {
        assert.notEqual(d.state.phase, phase, `${phase} left at its deadline`)
      }
    }
  })

  it('operators can hold at a version and require approval', () => {
    const t = target('1.1.0', 2)
    const held = new Driver(initialRollout('n', '1.0.0', { holdAt: '1.0.9' }))
    assert.deepEqual(held.kinds(held.send({ type: 'manifest', target: t })), [])
    assert.match(held.state.reason, /held at 1.0.9/)
    const manual = new Driver(initialRollout('n', '1.0.0', { autoUpgrade: false }))
    manual.send({ type: 'manifest', target: t })
    assert.match(manual.state.reason, /convoy upgrade approve 1.1.0/)
    assert.deepEqual(manual.kinds(manual.send({ type: 'approve', version: '1.1.0' })), ['fetch'])
  })

  it('a manual node that committed one release takes the next once approved, behind its canaries', () => {
    const a = target('1.1.0', 2)
    const b = target('1.2.0', 3)
    // Not a canary for either release, so it must wait for each release's own wave.
    let id = ''
    for (let i = 0; ; i++) {
      id = `manual-${i}`
      const ok = (t: Target) => !isCanary(rolloutSlot(id, t.digest), t.policy.canaryFraction)
      if (ok(a) && ok(b)) break
    }
    const d = new Driver(initialRollout(id, '1.0.0', { autoUpgrade: false }))
    d.send({ type: 'approve', version: '1.1.0' })
    throughShadow(d, a)
    d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    const good = (t: Target) =>
      summarize(
        [
          { reporter: 'c1', release: t.digest, stage: 'probation', verdict: 'pass', at: d.now },
          { reporter: 'c2', release: t.digest, stage: 'probation', verdict: 'pass', at: d.now },
        ],
        t.policy,
      )
    d.send({ type: 'evidence', digest: a.digest, summary: good(a) })
    d.advance(policy.windowSeconds * 1000)
    d.send({ type: 'switched', ok: true })
    d.send({ type: 'health', ok: true, reason: 'ready' })
    d.advance(policy.probationSeconds * 1000)
    assert.equal(d.state.phase, 'committed')
    assert.equal(d.state.current, '1.1.0')
    // 1.2.0 arrives unapproved: nothing starts, and nothing of 1.1.0's wave carries over.
    d.advance(60_000)
    assert.deepEqual(d.kinds(d.send({ type: 'manifest', target: b })), [])
    assert.match(d.state.reason, /convoy upgrade approve 1.2.0/)
    assert.equal(d.state.waveStart, undefined)
    assert.equal(d.state.evidence, undefined)
    // Approved: it starts, and after its shadow pass it waits for 1.2.0's canaries.
    assert.deepEqual(d.kinds(d.send({ type: 'approve', version: '1.2.0' })), ['fetch'])
    d.send({ type: 'fetched', ok: true })
    d.send({ type: 'staged', ok: true })
    d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    assert.equal(d.state.phase, 'scheduled')
    assert.deepEqual(d.kinds(d.advance(policy.windowSeconds * 1000)), [])
    assert.equal(d.state.phase, 'scheduled', 'no switch without 1.2.0 evidence')
    // The network halts 1.2.0; 1.3.0 arrives unapproved, then is approved: it starts.
    const halt = summarize(
      ['x', 'y', 'z'].map((r) => ({
        reporter: r,
        release: b.digest,
        stage: 'shadow' as const,
        verdict: 'fail' as const,
        at: d.now,
      })),
      b.policy,
    )
    d.send({ type: 'evidence', digest: b.digest, summary: halt })
    assert.equal(d.state.phase, 'halted')
    const c = target('1.3.0', 4)
    d.send({ type: 'manifest', target: c })
    assert.match(d.state.reason, /convoy upgrade approve 1.3.0/)
    assert.deepEqual(d.kinds(d.send({ type: 'approve', version: '1.3.0' })), ['fetch'])
  })

  it('a restart during a switch re-issues it; one during probation redoes the switch once, a second fails', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout(nodeFor(t, true), '1.0.0'))
    throughShadow(d, t)
    d.send({ type: 'shadow-result', verdict: 'pass', reason: 'ok' })
    d.advance(policy.windowSeconds * 500)
    // The shadow pass is reported again: the driver may have died before it went out.
    assert.deepEqual(d.kinds(d.send({ type: 'resume' })), ['report', 'switch'])
    d.send({ type: 'switched', ok: true })
    assert.equal(d.state.phase, 'probation')
    // First restart in probation: back to switching from 1.0.0, probation starts afresh after.
    const again = d.send({ type: 'resume' })
    assert.ok(
      again.some((e) => e.type === 'switch' && e.from === '1.0.0' && e.target.version === '1.1.0'),
    )
    assert.equal(d.state.phase, 'switching')
    assert.equal(d.state.current, '1.0.0')
    d.send({ type: 'switched', ok: true })
    assert.equal(d.state.phase, 'probation')
    assert.equal(d.state.previous, '1.0.0')
    // Second restart in the same probation: this machine goes back, and tells the network nothing.
    const twice = d.send({ type: 'resume' })
    assert.ok(twice.some((e) => e.type === 'rollback' && e.to === '1.0.0'))
    assert.ok(!twice.some((e) => e.type === 'report' && e.verdict === 'fail'))
    assert.match(d.state.bad['1.1.0']!, /restarted twice during probation/)
  })

  it('a resume reports the last verdict again, for the release it is about only', () => {
    const t = target('1.1.0', 2)
    const d = new Driver(initialRollout(nodeFor(t, false), '1.0.0'))
    throughShadow(d, t)
    d.send({ type: 'shadow-result', verdict: 'pass', reason: 'fine' })
    assert.equal(d.state.phase, 'scheduled')
    assert.deepEqual(d.state.lastReport, {
      digest: t.digest,
      stage: 'shadow',
      verdict: 'pass',
      reason: 'fine',
    })
    const again = d.send({ type: 'resume' })
    assert.deepEqual(
      again.filter((e) => e.type === 'report').map((e) => e.type === 'report' && e.verdict),
      ['pass'],
    )
    // A newer release replaces the target: the old verdict is not repeated about it.
    const t2 = target('1.2.0', 3)
    d.send({ type: 'manifest', target: t2 })
    assert.ok(!d.send({ type: 'resume' }).some((e) => e.type === 'report'))
  })

  it('never throws, and always names a version to run, whatever arrives in whatever order', () => {
    const targets = [target('1.1.0', 2), target('1.2.0', 3), target('0.9.0', 1)]
    const input = fc.oneof(
      fc.constantFrom(...targets).map((t): RolloutInput => ({ type: 'manifest', target: t })),
      fc.boolean().map((ok): RolloutInput => ({ type: 'fetched', ok })),
      fc.boolean().map((ok): RolloutInput => ({ type: 'staged', ok })),
      fc.constantFrom('pass', 'fail', 'inconclusive' as const).map(
        (verdict): RolloutInput => ({
          type: 'shadow-result',
          verdict: verdict as 'pass',
          reason: 'r',
        }),
      ),
      fc.boolean().map((ok): RolloutInput => ({ type: 'switched', ok })),
      fc.boolean().map((ok): RolloutInput => ({ type: 'health', ok, reason: 'r' })),
      fc.boolean().map((ok): RolloutInput => ({ type: 'rolled-back', ok })),
      fc.boolean().map((ok): RolloutInput => ({ type: 'reinstalled', ok })),
      fc.tuple(fc.constantFrom(...targets), fc.nat(5), fc.nat(5)).map(
        ([t, p, f]): RolloutInput => ({
          type: 'evidence',
          digest: t.digest,
          summary: summarize(reportsOf(t.digest, p, f), t.policy),
        }),
      ),
      fc.constant<RolloutInput>({ type: 'resume' }),
      fc.constant<RolloutInput>({ type: 'tick' }),
      fc.constant<RolloutInput>({ type: 'exited', reason: 'code 1' }),
      fc
        .constantFrom(...targets)
        .map((t): RolloutInput => ({ type: 'revoked', version: t.version, reason: 'r' })),
    )
    const known = new Set(['1.0.0', ...targets.map((t) => t.version)])
    fc.assert(
      fc.property(
        fc.array(fc.tuple(input, fc.integer({ min: 0, max: 4_000_000 })), { maxLength: 60 }),
        (inputs) => {
          let s = initialRollout('peer-1', '1.0.0')
          let now = T0
          for (const [i, dt] of inputs) {
            now += dt
            s = step(s, i, now).state
            assert.ok(known.has(s.current))
            assert.ok(known.has(s.lastGood))
            if (['idle', 'committed', 'bad', 'halted'].includes(s.phase))
              assert.equal(s.deadline, undefined)
            else assert.ok(s.deadline !== undefined, `${s.phase} has a deadline`)
            // Only a revocation (of a release the node no longer runs) makes the last good bad.
            assert.ok(
              !s.bad[s.lastGood] || s.lastGood === '1.0.0' || isRevoked(s, s.lastGood),
              'the last good version is never a bad one',
            )
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
