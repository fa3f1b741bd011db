/**
 * `npm start`: the demo. A real testnet of 6 `convoy run` supervisors (CONVOY_DEMO_NODES) on
 * loopback goes through two releases of this checkout: a good one, shadow-run by every node and
 * adopted by all in staggered order (canaries first); then a bad one that crashes once it is the
 * live node, caught by the canary on probation, rolled back there and halted everywhere else, so
 * the network stays on the good version. It prints the timeline as it happens and writes the
 * report (the simulator's format) to out/demo/. Exit code 1 if the network did not end where it
 * should.
 */
import { mkdir, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { outputDirProblem, singleOutputs, writeOutputDir } from './run.ts'
import { runTestnet } from './testnet.ts'

const NODES = Number(process.env.CONVOY_DEMO_NODES ?? 6)
const out = resolve(fileURLToPath(new URL('../out/demo', import.meta.url)))
await mkdir(join(out, '..'), { recursive: true })
const problem = await outputDirProblem(out)
if (problem !== undefined) {
  console.error(`convoy demo: ${problem}`)
  process.exit(1)
}
const work = await mkdtemp(join(tmpdir(), 'convoy-demo-'))
const t0 = Date.now()
const say = (line: string) => console.log(line)
say(`convoy demo: ${NODES} real nodes, two releases (a good one, then a bad one), no update server`)
say('')
const r = await runTestnet({
  nodes: NODES,
  work,
  // Short enough for a minute: the safety does not come from the timing (non-canaries wait for
  // the canary's probation pass whatever their slot), only how long the story takes does.
  releases: [
    { fault: 'good', policy: { windowSeconds: 4, shadowSeconds: 8, probationSeconds: 3 } },
    // A long probation: the crash (3 s after going live, after the switch has settled) is caught,
    // never outlasted.
    {
      fault: 'crash-in-probation',
      policy: { windowSeconds: 4, shadowSeconds: 8, probationSeconds: 30 },
    },
  ],
  crashAfterMs: 3000,
  log: say,
})
await writeOutputDir(out, singleOutputs(r.result))

const [base, good, bad] = r.versions as [string, string, string]
const committed = r.events
  .filter((e) => e.target === good && e.to === 'committed')
  .sort((a, b) => a.t - b.t)
const canaries = new Set(r.canaries[good])
say('')
say(
  `${good} (good): adopted in this order: ${committed.map((e) => `${e.node}${canaries.has(e.node) ? '*' : ''} +${e.t.toFixed(0)}s`).join(', ')}   (* canary)`,
)
const rolledBack = r.events
  .filter((e) => e.target === bad && e.to === 'rolled-back')
  .map((e) => e.node)
const halted = Object.entries(r.finalPhases)
  .filter(([, p]) => p === 'halted')
  .map(([n]) => n)
say(
  `${bad} (crashes once live): tried by ${rolledBack.join(', ') || 'nobody'} (canary), rolled back; halted on ${halted.length} nodes`,
)
const onGood = Object.values(r.finalVersions).filter((v) => v === good).length
say(`network at the end: ${onGood} of ${NODES} nodes run ${good}; started on ${base}`)
say(`report: ${join(out, 'report.html')}   node logs: ${work}`)
say(`took ${((Date.now() - t0) / 1000).toFixed(0)} s`)
const ok =
  committed.length === NODES &&
  onGood === NODES &&
  rolledBack.length >= 1 &&
  rolledBack.every((n) => r.canaries[bad]?.includes(n)) &&
  halted.length + rolledBack.length === NODES
if (!ok) {
  console.error('convoy demo: the network did not end where it should; see the timeline above')
  process.exit(1)
}
