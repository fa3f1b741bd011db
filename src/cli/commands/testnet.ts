/**
 * `convoy testnet --nodes N --out DIR`: N real `convoy run` supervisors on loopback, a network made
 * on the spot, real packed releases of this checkout published one after another, and the rollout
 * written in the simulator's report format (simulations/testnet.ts).
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Fault } from '../../adapters/build/faults.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  importSimulations,
  parse,
  parseNumber,
  required,
  stamp,
} from '../io.ts'

const USAGE =
  'convoy testnet --nodes N --out DIR [--release good|crash-in-probation|... ...] [--work DIR] [--netns]'

type TestnetModule = typeof import('../../../simulations/testnet.ts')
type RunModule = typeof import('../../../simulations/run.ts')

/** The testnet and the report writer, loaded from the checkout (see {@link importSimulations}). */
async function load(): Promise<{ testnet: TestnetModule; run: RunModule }> {
  const [testnet, run] = await Promise.all([
    importSimulations<TestnetModule>('testnet.ts', 'testnet', 'testnet'),
    importSimulations<RunModule>('run.ts', 'testnet', 'testnet'),
  ])
  return { testnet, run }
}

/** `testnet`: runs until every release settled on every node, then writes the report. */
export async function testnet(argv: string[], _ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(
    argv,
    {
      nodes: { type: 'string' },
      out: { type: 'string' },
      work: { type: 'string' },
      release: { type: 'string', multiple: true },
      netns: { type: 'boolean' },
    },
    USAGE,
  )
  const nodes = parseNumber(required(values.nodes, '--nodes', USAGE), '--nodes', 2, 64, true)
  const out = required(values.out, '--out', USAGE)
  const { testnet: tn, run } = await load()
  const { FAULTS } = await import('../../adapters/build/faults.ts')
  const releases = (values.release ?? ['good']).map((r) => {
    if (!(FAULTS as readonly string[]).includes(r))
      throw new CliError(`--release "${r}" must be one of ${FAULTS.join(', ')}`, 2)
    return { fault: r as Fault }
  })
  const problem = await run.outputDirProblem(out)
  if (problem !== undefined) throw new CliError(`--out: ${problem}`)
  const work = values.work ?? (await mkdtemp(join(tmpdir(), 'convoy-testnet-')))
  const log = (line: string) => process.stdout.write(`${stamp()} ${line}\n`)
  let r: Awaited<ReturnType<TestnetModule['runTestnet']>>
  try {
    r = await tn.runTestnet({ nodes, work, releases, log, netns: values.netns === true })
  } catch (e) {
    if (e instanceof tn.TestnetError) throw new CliError(e.message)
    throw e
  }
  await run.writeOutputDir(out, run.singleOutputs(r.result))
  const lines = [
    `testnet of ${nodes} nodes done; report: ${join(out, 'report.html')} (homes and logs in ${work})`,
  ]
  for (const rel of r.result.summary.releases)
    lines.push(
      `  ${rel.version} (${rel.quality}): on ${Math.round(rel.finalShare * 100)}% of nodes at the end, ${rel.nodesSwitched} switched, ${rel.rollbacks} rolled back, ${rel.nodesHalted} halted`,
    )
  return {
    text: lines.join('\n'),
    json: {
      out,
      work,
      finalVersions: r.finalVersions,
      finalPhases: r.finalPhases,
      releases: r.result.summary.releases,
    },
  }
}
