/**
 * The engine: determinism, the event queue's order, the seeded randomness, and evidence that
 * the nodes' decisions are the shipped core's (slots, canaries, the evidence rule).
 */
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import fc from 'fast-check'
import { simulate } from '../../simulations/engine.ts'
import { EventQueue } from '../../simulations/queue.ts'
import { hash32, Rng, unit } from '../../simulations/rng.ts'
import { runScenario, singleOutputs, writeOutputDir } from '../../simulations/run.ts'
import { DEFAULT_ROLLOUT } from '../../src/core/manifest/release.ts'
import { type Report, summarize, summarizeCounts } from '../../src/core/rollout/evidence.ts'
import { isCanary, rolloutSlot, slotTime } from '../../src/core/rollout/slot.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { tinyScenario } from './helpers.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await removeDir(d)
})

describe('determinism', () => {
  it('the same scenario and seed write byte-identical files; another seed does not', async () => {
    const s = tinyScenario()
    const root = await makeTempDir('sim-det')
    dirs.push(root)
    const a = join(root, 'a')
    const b = join(root, 'b')
    await writeOutputDir(a, singleOutputs(runScenario(s, 42)))
    await writeOutputDir(b, singleOutputs(runScenario(s, 42)))
    for (const f of ['events.jsonl', 'timeseries.csv', 'summary.json', 'report.html']) {
      const x = await readFile(join(a, f))
      const y = await readFile(join(b, f))
      assert.ok(x.length > 100, `${f} has content`)
      assert.ok(x.equals(y), `${f} differs between two runs`)
    }
    const other = singleOutputs(runScenario(s, 43))
    assert.notEqual(other.get('events.jsonl'), (await readFile(join(a, 'events.jsonl'))).toString())
  })
})

describe('no clock, no Math.random', () => {
  it('the simulator takes time and randomness only from the virtual clock and the seed', async () => {
    const root = join(import.meta.dirname, '../../simulations')
    // Every module of the simulator; the real-process testnet and the demo run real time.
    const files = (await readdir(root, { recursive: true }))
      .filter((f) => f.endsWith('.ts') && !['testnet.ts', 'demo.ts', 'netns.ts'].includes(f))
      .sort()
    assert.ok(files.includes('engine/evidence.ts') && files.includes('scenario/fields.ts'))
    for (const f of files) {
      const text = (await readFile(join(root, f), 'utf8')).replace(/\/\*\*[\s\S]*?\*\//g, '')
      for (const re of [
        /Date\.now\s*\(/,
        /new Date\(/,
        /Math\.random/,
        /performance\.now/,
        /hrtime/,
      ])
        assert.doesNotMatch(text, re, `${f} uses ${re}`)
    }
  })
})

describe('the event queue', () => {
  it('pops by time, and equal times in the order they were pushed', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 300 }), (times) => {
        const q = new EventQueue(4)
        for (const [i, t] of times.entries()) q.push(t, 1, i, 0)
        const got: Array<[number, number]> = []
        for (let e = q.pop(); e !== undefined; e = q.pop()) got.push([e.time, e.node])
        const want = times
          .map((t, i): [number, number] => [t, i])
          .sort((x, y) => x[0] - y[0] || x[1] - y[1])
        assert.deepEqual(got, want)
      }),
      { numRuns: 200 },
    )
  })
})

describe('seeded randomness', () => {
  it('is a function of the seed, and roughly uniform', () => {
    const a = new Rng(7)
    const b = new Rng(7)
    const xs = Array.from({ length: 10_000 }, () => a.float())
    assert.deepEqual(
      xs.slice(0, 5),
      Array.from({ length: 5 }, () => b.float()),
    )
    assert.notEqual(new Rng(8).float(), xs[0])
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length
    assert.ok(Math.abs(mean - 0.5) < 0.02)
    assert.ok(xs.every((x) => x > 0 && x < 1))
    assert.equal(hash32(1, 2, 3), hash32(1, 2, 3))
    assert.notEqual(unit(1, 2, 3), unit(1, 2, 4))
  })
})

describe('summarizeCounts', () => {
  it('is summarize on the counts, for every policy and tally', () => {
    const policy = fc.record({
      windowSeconds: fc.constant(3600),
      canaryFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      shadowSeconds: fc.constant(60),
      probationSeconds: fc.constant(60),
      minPassReports: fc.nat(20),
      maxFailureShare: fc.double({ min: 0, max: 0.5, noNaN: true }),
      haltFailureShare: fc.double({ min: 0.5, max: 1, noNaN: true }),
      haltMinFailures: fc.integer({ min: 1, max: 20 }),
    })
    fc.assert(
      fc.property(
        policy,
        fc.nat(40),
        fc.nat(40),
        fc.nat(40),
        fc.nat(40),
        (p, pass, fail, probPass, probFail) => {
          const reports: Report[] = []
          const add = (n: number, stage: Report['stage'], verdict: Report['verdict']) => {
            for (let i = 0; i < n; i++)
              reports.push({
                reporter: `${stage}-${verdict}-${i}`,
                release: 'd',
                stage,
                verdict,
                at: 1,
              })
          }
          add(pass, 'shadow', 'pass')
          add(fail, 'shadow', 'fail')
          add(probPass, 'probation', 'pass')
          add(probFail, 'probation', 'fail')
          const counts = {
            passing: pass + probPass,
            failing: fail + probFail,
            probationPassing: probPass,
            probationFailing: probFail,
          }
          assert.deepEqual(summarizeCounts(counts, p), summarize(reports, p))
        },
      ),
    )
    assert.deepEqual(
      summarizeCounts({ passing: 0, failing: 0 }, DEFAULT_ROLLOUT),
      summarize([], DEFAULT_ROLLOUT),
    )
  })
})

describe('the nodes run the shipped logic', () => {
  /** Switch events of 1.1.0, checked against the slot each node's peer id and the digest give. */
  function switches(minPassReports: number) {
    const s = tinyScenario({
      churn: null,
      operators: { auto: 1 },
      adversaries: {},
      policy: { windowSeconds: 6 * 3600, canaryFraction: 0.1, minPassReports },
    })
    const r = simulate(s, { seed: 5 })
    const events = r.events.map((l) => JSON.parse(l) as Record<string, unknown>)
    const digest = events.find((e) => e.type === 'release' && e.version === '1.1.0')!
      .digest as string
    const policy = s.releases[0]!.policy
    const fetchedAt = new Map<string, number>()
    const out: Array<{ node: string; slot: number }> = []
    let firstProceed: number | undefined
    for (const e of events) {
      if (e.type === 'evidence' && e.version === '1.1.0' && e.proceed === true)
        firstProceed ??= Math.round((e.t as number) * 1000)
      if (e.type !== 'phase' || e.target !== '1.1.0') continue
      const node = e.node as string
      const t = Math.round((e.t as number) * 1000)
      if (e.to === 'fetching' && !fetchedAt.has(node)) fetchedAt.set(node, t)
      if (e.to !== 'switching') continue
      const slot = rolloutSlot(node, digest)
      if (isCanary(slot, policy.canaryFraction)) {
        // A canary: not before its slot in the window that began when it saw the manifest.
        assert.ok(t >= slotTime(slot, fetchedAt.get(node)!, policy.windowSeconds), `${node} early`)
      } else {
        // A non-canary: not before the evidence held the canaries' probation passes.
        assert.ok(firstProceed !== undefined && t >= firstProceed, `${node} before the canaries`)
      }
      out.push({ node, slot })
    }
    return { s, events, policy, out }
  }

  it('without enough evidence only canaries switch, each at its slot', () => {
    const { s, policy, out } = switches(100_000)
    assert.ok(out.length > 0.05 * s.nodes && out.length < 0.15 * s.nodes, `${out.length} canaries`)
    for (const x of out)
      assert.ok(isCanary(x.slot, policy.canaryFraction), `${x.node} is no canary`)
  })

  it('with evidence everyone switches at its slot, and the evidence is summarizeCounts', () => {
    const { s, events, policy, out } = switches(3)
    assert.ok(out.length > 0.95 * s.nodes, `${out.length} switches`)
    assert.ok(out.some((x) => !isCanary(x.slot, policy.canaryFraction)))
    const evidence = events.filter((x) => x.type === 'evidence')
    assert.ok(evidence.length >= s.regions.names.length)
    for (const e of evidence) {
      const p = e.version === '1.1.0' ? policy : s.releases[1]!.policy
      const want = summarizeCounts(
        {
          passing: e.passing as number,
          failing: e.failing as number,
          probationPassing: e.probationPassing as number,
          probationFailing: e.probationFailing as number,
          electorate: e.electorate as number,
        },
        p,
      )
      assert.equal(e.reason, want.reason)
      assert.equal(e.proceed, want.proceed)
      assert.equal(e.halt, want.halt)
    }
  })
})
