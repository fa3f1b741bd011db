/**
 * `convoy sim`: run a scenario through the discrete-event simulator (simulations/), which drives
 * the shipped rollout core on a virtual clock, and write events.jsonl, timeseries.csv,
 * summary.json and report.html into --out. `convoy sim compare` runs one scenario under several
 * rollout policies and writes one side-by-side report.
 */
import { basename } from 'node:path'
import type { SimResult } from '../../../simulations/engine.ts'
import type { PolicyVariant } from '../../../simulations/run.ts'
import type { Scenario } from '../../../simulations/scenario.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  importSimulations,
  parse,
  parseNumber,
  readCapped,
} from '../io.ts'

type RunModule = typeof import('../../../simulations/run.ts')
type ScenarioModule = typeof import('../../../simulations/scenario.ts')
interface Sim {
  run: RunModule
  scenario: ScenarioModule
}

/** The simulator, loaded from the checkout (see {@link importSimulations}). */
async function loadSimulator(): Promise<Sim> {
  const [run, scenario] = await Promise.all([
    importSimulations<RunModule>('run.ts', 'simulator', 'sim'),
    importSimulations<ScenarioModule>('scenario.ts', 'simulator', 'sim'),
  ])
  return { run, scenario }
}

const RUN_USAGE = 'convoy sim --scenario FILE [--seed N] --out DIR'
const COMPARE_USAGE =
  'convoy sim compare --scenario FILE --policy A.json --policy B.json ... [--seed N] --out DIR'

/** Scenario and policy files are small documents; anything bigger is a mistake. */
const MAX_DOC_BYTES = 1024 * 1024

/** Parses options; usage errors are one line, exit code 2. */
function options(argv: string[], usage: string) {
  try {
    return parse(
      argv,
      {
        scenario: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        policy: { type: 'string', multiple: true },
      },
      usage,
    )
  } catch (e) {
    if (e instanceof CliError) throw new CliError(e.message.replace('\n', '; '), 2)
    throw e
  }
}

function need(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === '') throw new CliError(`missing ${flag}; usage: ${usage}`, 2)
  return value
}

async function readDoc(path: string): Promise<unknown> {
  const bytes = await readCapped(path, MAX_DOC_BYTES)
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (e) {
    throw new CliError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`)
  }
}

async function loadScenario(sim: Sim, path: string): Promise<Scenario> {
  const doc = await readDoc(path)
  try {
    return sim.scenario.parseScenario(doc)
  } catch (e) {
    if (e instanceof sim.scenario.ScenarioError) throw new CliError(`${path}: ${e.message}`)
    throw e
  }
}

function seedOf(text: string | undefined): number {
  return text === undefined ? 1 : parseNumber(text, '--seed', 0, 4294967295, true)
}

async function checkOut(sim: Sim, out: string): Promise<void> {
  const problem = await sim.run.outputDirProblem(out)
  if (problem !== undefined) throw new CliError(`--out: ${problem}`)
}

async function write(sim: Sim, out: string, files: ReadonlyMap<string, string>): Promise<void> {
  try {
    await sim.run.writeOutputDir(out, files)
  } catch (e) {
    if (e instanceof sim.run.OutputDirError) throw new CliError(`--out: ${e.message}`)
    const code = (e as NodeJS.ErrnoException).code
    throw new CliError(`--out ${out}: cannot write (${code ?? (e as Error).message})`)
  }
}

function hours(h: number | null): string {
  return h === null ? 'never' : h >= 48 ? `${(h / 24).toFixed(1)} d` : `${h.toFixed(1)} h`
}

function headline(r: SimResult): string[] {
  const s = r.summary
  const lines = s.releases.map((rel) => {
    const t = Object.entries(rel.autoUpgradeHours)
      .map(([k, v]) => `${k} ${hours(v)}`)
      .join(', ')
    const halted =
      rel.haltedRegions > 0 ? `, halted ${hours(rel.firstHaltAtHours)} after publishing` : ''
    return `  ${rel.version} (${rel.quality}): auto-upgrading nodes ${t}; reached ${rel.nodesSwitched} nodes, ${rel.rollbacks} rollbacks${halted}`
  })
  lines.push(
    `  most nodes on a bad release: ${s.mostNodesOnBadRelease.nodes}; deranked at most: ${s.versionSkew.derankedMax}; eclipsed nodes suspecting: ${s.eclipse.suspected} of ${s.eclipse.eclipsed}`,
  )
  for (const c of s.calibration)
    lines.push(
      `  ${c.label}: ${(c.measured * 100).toFixed(1)}%${c.expected === null ? '' : ` (published ${(c.expected * 100).toFixed(1)}%, ${c.ok ? 'within' : 'OUTSIDE'} ±${((c.tolerance ?? 0) * 100).toFixed(1)} pp)`}`,
    )
  return lines
}

function jsonOf(r: SimResult) {
  const s = r.summary
  return {
    policy: s.policyName,
    releases: s.releases.map((x) => ({
      version: x.version,
      quality: x.quality,
      autoUpgradeHours: x.autoUpgradeHours,
      nodesSwitched: x.nodesSwitched,
      rollbacks: x.rollbacks,
      halted: x.haltedRegions > 0,
    })),
    mostNodesOnBadRelease: s.mostNodesOnBadRelease.nodes,
    derankedMax: s.versionSkew.derankedMax,
    events: s.engine.events,
  }
}

/** `sim` and `sim compare`. */
export async function sim(argv: string[], _ctx: CliContext): Promise<CommandOutput> {
  if (argv[0] === 'compare') return simCompare(argv.slice(1))
  const { values, positionals } = options(argv, RUN_USAGE)
  if (positionals.length > 0)
    throw new CliError(`unexpected argument "${positionals[0]}"; usage: ${RUN_USAGE}`, 2)
  if (values.policy !== undefined)
    throw new CliError(`--policy belongs to \`convoy sim compare\`; usage: ${COMPARE_USAGE}`, 2)
  const file = need(values.scenario, '--scenario', RUN_USAGE)
  const out = need(values.out, '--out', RUN_USAGE)
  const seed = seedOf(values.seed)
  const sim = await loadSimulator()
  const scenario = await loadScenario(sim, file)
  await checkOut(sim, out)
  const started = performance.now()
  const result = sim.run.runScenario(scenario, seed)
  const files = sim.run.singleOutputs(result)
  await write(sim, out, files)
  const seconds = (performance.now() - started) / 1000
  return {
    text: [
      `simulated ${scenario.name}: ${scenario.nodes} nodes, ${hours(scenario.durationHours)}, seed ${seed}`,
      ...headline(result),
      `wrote ${[...files.keys()].join(', ')} to ${out} (${result.summary.engine.events} events in ${seconds.toFixed(1)} s)`,
    ].join('\n'),
    json: { scenario: scenario.name, seed, out, files: [...files.keys()], ...jsonOf(result) },
  }
}

async function simCompare(argv: string[]): Promise<CommandOutput> {
  const { values, positionals } = options(argv, COMPARE_USAGE)
  if (positionals.length > 0)
    throw new CliError(`unexpected argument "${positionals[0]}"; usage: ${COMPARE_USAGE}`, 2)
  const file = need(values.scenario, '--scenario', COMPARE_USAGE)
  const out = need(values.out, '--out', COMPARE_USAGE)
  const policies = values.policy ?? []
  if (policies.length === 0) throw new CliError(`missing --policy; usage: ${COMPARE_USAGE}`, 2)
  if (policies.length > 8) throw new CliError('at most 8 --policy files may be compared', 2)
  const seed = seedOf(values.seed)
  const sim = await loadSimulator()
  const scenario = await loadScenario(sim, file)
  const variants: PolicyVariant[] = []
  for (const p of policies) {
    const doc = await readDoc(p)
    try {
      variants.push(
        sim.run.parsePolicyVariant(doc, basename(p).replace(/\.json$/, ''), scenario.policy),
      )
    } catch (e) {
      if (e instanceof sim.scenario.ScenarioError) throw new CliError(`${p}: ${e.message}`)
      throw e
    }
  }
  const names = variants.map((v) => v.name)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup !== undefined)
    throw new CliError(`two policies are named "${dup}"; give each a distinct "name"`)
  await checkOut(sim, out)
  const started = performance.now()
  const results = variants.map((v) =>
    sim.run.runScenario(sim.run.withPolicy(scenario, v), seed, v.name),
  )
  const files = sim.run.compareOutputs(results)
  await write(sim, out, files)
  const seconds = (performance.now() - started) / 1000
  return {
    text: [
      `compared ${variants.length} policies on ${scenario.name}: ${scenario.nodes} nodes, seed ${seed}`,
      ...results.flatMap((r) => [`policy ${r.summary.policyName}:`, ...headline(r)]),
      `wrote report.html, summary.json and one folder per policy to ${out} (${seconds.toFixed(1)} s)`,
    ].join('\n'),
    json: {
      scenario: scenario.name,
      seed,
      out,
      files: [...files.keys()],
      policies: results.map(jsonOf),
    },
  }
}
