/**
 * `convoy testnet` end to end: real supervisors and nodes on loopback through a good release and
 * a bad one, the report in the simulator's format, and the simulator agreeing with the real run on
 * the order of states each node goes through for the same small scenario.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { netnsAvailable } from '../../simulations/netns.ts'
import { runScenario } from '../../simulations/run.ts'
import { parseScenario } from '../../simulations/scenario.ts'
import { TESTNET_POLICY } from '../../simulations/testnet.ts'
import { convoy, makeTempDir, removeDir } from '../cli/helpers.ts'

let dir: string
before(async () => {
  dir = await makeTempDir('testnet')
})
after(() => removeDir(dir))

interface PhaseEvent {
  type: string
  node: string
  to: string
  target: string | null
}

/** The milestones each node passed, in order, for one release version. */
function milestones(lines: string[], version: string): Map<string, string[]> {
  const keep = new Set([
    'shadow',
    'switching',
    'probation',
    'committed',
    'rolled-back',
    'bad',
    'halted',
  ])
  const out = new Map<string, string[]>()
  for (const l of lines) {
    const e = JSON.parse(l) as PhaseEvent
    if (e.type !== 'phase' || e.target !== version || !keep.has(e.to)) continue
    const seq = out.get(e.node) ?? []
    if (seq.at(-1) !== e.to) seq.push(e.to)
    out.set(e.node, seq)
  }
  return out
}

describe('convoy testnet', { timeout: 600_000 }, () => {
  it('runs real nodes through a good and a bad release and reports like the simulator', async () => {
    const out = join(dir, 'report')
    const r = await convoy(
      [
        'testnet',
        '--nodes',
        '4',
        '--out',
        out,
        '--release',
        'good',
        '--release',
        'crash-in-probation',
        '--json',
      ],
      { cwd: dir, timeout: 540_000 },
    )
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      finalVersions: Record<string, string>
      finalPhases: Record<string, string>
    }
    // Everyone took the good release; the bad one never stayed anywhere.
    assert.deepEqual(new Set(Object.values(res.finalVersions)), new Set(['0.1.1']))
    const phases = Object.values(res.finalPhases)
    assert.ok(phases.includes('bad'), 'the canary rolled back and skipped it')
    assert.ok(phases.includes('halted'), 'the others halted it')
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'))
    const [good, bad] = summary.releases
    assert.equal(good.finalShare, 1)
    assert.equal(bad.finalShare, 0)
    assert.ok(
      bad.nodesSwitched <= 1,
      `the bad release reached only the canary: ${bad.nodesSwitched}`,
    )
    const html = await readFile(join(out, 'report.html'), 'utf8')
    assert.match(html, /<svg class="chart"/)
    const csv = (await readFile(join(out, 'timeseries.csv'), 'utf8')).split('\n')
    assert.match(csv[0]!, /^t_hours,online,v0\.1\.0,v0\.1\.1,v0\.1\.2,idle,/)

    // The simulator on the same small scenario: the same order of states on every node.
    const real = milestones(
      (await readFile(join(out, 'events.jsonl'), 'utf8')).trim().split('\n'),
      '0.1.1',
    )
    const scenario = parseScenario({
      name: 'testnet-4',
      nodes: 4,
      durationHours: 0.1,
      initialVersion: '0.1.0',
      operators: { auto: 1, manual: 0, never: 0 },
      policy: TESTNET_POLICY,
      // The supervisor samples every shadowSeconds / 24 (at least 0.2 s); the simulator's finest is 1 s.
      shadow: { sampleSeconds: 1 },
      releases: [{ version: '0.1.1', atHours: 0.001, quality: 'good' }],
    })
    const simulated = milestones(runScenario(scenario, 1).events, '0.1.1')
    const expected = ['shadow', 'switching', 'probation', 'committed']
    assert.equal(real.size, 4)
    assert.equal(simulated.size, 4)
    for (const [node, seq] of [...real, ...simulated]) assert.deepEqual(seq, expected, node)
  })

  it('--netns: each node in a network namespace of its own, over real interfaces', async (t) => {
    if (!(await netnsAvailable())) {
      t.skip('needs root and iproute2 (ip netns)')
      return
    }
    const out = join(dir, 'netns-report')
    const work = join(dir, 'netns-work')
    const r = await convoy(
      ['testnet', '--nodes', '3', '--netns', '--out', out, '--work', work, '--json'],
      { cwd: dir, timeout: 400_000 },
    )
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      finalVersions: Record<string, string>
    }
    assert.deepEqual(Object.values(res.finalVersions), ['0.1.1', '0.1.1', '0.1.1'])
    // The nodes listened on their own namespace addresses, not on loopback.
    const log = await readFile(join(work, 'node-0.log'), 'utf8')
    assert.match(log, /listening on \/ip4\/10\.213\.\d+\.10\/tcp\/4001\//)
    // And the run left no namespace behind.
    const { execFileSync } = await import('node:child_process')
    assert.doesNotMatch(execFileSync('ip', ['netns', 'list']).toString(), /cvy-/)
  })
})
