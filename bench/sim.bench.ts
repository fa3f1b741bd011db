/**
 * `npm run bench:sim`: the simulator at 100,000 and 1,000,000 nodes (simulations/scenarios/
 * bench-100k.json and bench-1m.json), each through a full rollout of a good release.
 *
 * Each size runs in a child process of its own, so its peak memory (maxRSS) is its own. Prints
 * wall time of the simulation, simulated events per second, machine steps, the time to render
 * the four outputs, and peak RSS, against the targets of issue 5: 100k in under 30 s; 1M in
 * under 5 minutes and under 8 GiB.
 *
 *   npm run bench:sim                 both sizes
 *   npm run bench:sim -- 100k         one size
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SIZES: Record<string, { file: string; targetSeconds: number; targetGiB: number }> = {
  '100k': { file: 'bench-100k.json', targetSeconds: 30, targetGiB: 8 },
  '1m': { file: 'bench-1m.json', targetSeconds: 300, targetGiB: 8 },
}

interface Measured {
  size: string
  nodes: number
  simSeconds: number
  renderSeconds: number
  events: number
  steps: number
  maxRssMiB: number
}

async function child(size: string): Promise<void> {
  const { parseScenario } = await import('../simulations/scenario.ts')
  const { runScenario, singleOutputs } = await import('../simulations/run.ts')
  const path = join(import.meta.dirname, '../simulations/scenarios', SIZES[size]!.file)
  const scenario = parseScenario(JSON.parse(readFileSync(path, 'utf8')))
  const t0 = performance.now()
  const r = runScenario(scenario, 1)
  const t1 = performance.now()
  let bytes = 0
  for (const text of singleOutputs(r).values()) bytes += text.length
  const t2 = performance.now()
  const m: Measured = {
    size,
    nodes: scenario.nodes,
    simSeconds: (t1 - t0) / 1000,
    renderSeconds: (t2 - t1) / 1000,
    events: r.summary.engine.events,
    steps: r.summary.engine.machineSteps,
    // resourceUsage().maxRSS is in KiB.
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  }
  if (bytes === 0) throw new Error('no output rendered')
  process.stdout.write(`${JSON.stringify(m)}\n`)
}

function parent(): void {
  const wanted = process.argv.slice(2).filter((a) => a in SIZES)
  const sizes = wanted.length > 0 ? wanted : Object.keys(SIZES)
  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  )
  let failed = false
  for (const size of sizes) {
    const t = SIZES[size]!
    const started = performance.now()
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', size], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    })
    const wall = (performance.now() - started) / 1000
    if (r.status !== 0) {
      console.log(`${size}: the run failed (exit ${r.status})`)
      failed = true
      continue
    }
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Measured
    const gib = m.maxRssMiB / 1024
    const ok = m.simSeconds < t.targetSeconds && gib < t.targetGiB
    if (!ok) failed = true
    console.log(
      [
        `${size} (${m.nodes} nodes): simulated in ${m.simSeconds.toFixed(1)} s`,
        `${Math.round(m.events / m.simSeconds).toLocaleString('en-US')} events/s (${m.events.toLocaleString('en-US')} events, ${m.steps.toLocaleString('en-US')} machine steps)`,
        `outputs rendered in ${m.renderSeconds.toFixed(1)} s`,
        `peak RSS ${m.maxRssMiB.toFixed(0)} MiB`,
        `process wall ${wall.toFixed(1)} s`,
        `target < ${t.targetSeconds} s and < ${t.targetGiB} GiB: ${ok ? 'met' : 'MISSED'}`,
      ].join('; '),
    )
  }
  process.exitCode = failed ? 1 : 0
}

if (process.argv[2] === '--child') await child(process.argv[3]!)
else parent()
