/**
 * Running scenarios and writing their outputs: the layer `convoy sim` and the tests call.
 *
 * Outputs are written into a temporary directory beside `--out`, synced, then renamed into
 * place, so `--out` holds a complete set of files or none. An existing `--out` is replaced
 * only when it is empty or holds an earlier simulator output (it carries a `.convoy-sim` marker).
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { syncDir } from '../src/adapters/fs/atomic.ts'
import type { RolloutPolicy } from '../src/core/manifest/release.ts'
import { type SimResult, simulate } from './engine.ts'
import { OutputDirError } from './errors.ts'

export { OutputDirError }

import {
  compareHtml,
  compareSummaryJson,
  eventsJsonl,
  reportHtml,
  summaryJson,
  timeseriesCsv,
} from './report.ts'
import { parsePolicy, type Scenario, ScenarioError } from './scenario.ts'

/** Name of the marker file in every output directory. */
export const MARKER = '.convoy-sim'

/** A policy under comparison: a name and the fields it sets. */
export interface PolicyVariant {
  name: string
  /** Fields of the rollout policy this variant sets; the rest come from the scenario. */
  fields: Partial<RolloutPolicy>
}

/**
 * Reads a policy file's document: rollout policy fields, and optionally `name` and
 * `description`. Checked against the scenario's policy, so errors name the field.
 */
export function parsePolicyVariant(
  doc: unknown,
  fallbackName: string,
  base: RolloutPolicy,
): PolicyVariant {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ScenarioError('policy', 'must be an object of rollout policy fields')
  const { name, description, ...fields } = doc as Record<string, unknown>
  if (
    name !== undefined &&
    (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
  )
    throw new ScenarioError(
      'name',
      'must be letters, digits, dots, dashes or underscores, at most 64',
    )
  if (description !== undefined && typeof description !== 'string')
    throw new ScenarioError('description', 'must be a string')
  parsePolicy(fields, 'policy', base)
  return {
    name: (name as string | undefined) ?? fallbackName,
    fields: fields as Partial<RolloutPolicy>,
  }
}

/** The scenario with a policy variant applied to its policy and to every release's policy. */
export function withPolicy(s: Scenario, variant: PolicyVariant): Scenario {
  return {
    ...s,
    policy: parsePolicy(variant.fields, 'policy', s.policy),
    releases: s.releases.map((r, i) => ({
      ...r,
      policy: parsePolicy(variant.fields, `releases[${i}].policy`, r.policy),
    })),
  }
}

/** Runs one scenario. */
export function runScenario(s: Scenario, seed: number, policyName = 'scenario'): SimResult {
  return simulate(s, { seed, policyName })
}

/** The files of one run, by relative path. */
export function singleOutputs(r: SimResult): Map<string, string> {
  return new Map([
    ['events.jsonl', eventsJsonl(r)],
    ['timeseries.csv', timeseriesCsv(r)],
    ['summary.json', summaryJson(r)],
    ['report.html', reportHtml(r)],
  ])
}

/** Subdirectory name of a policy in a comparison. */
export function policyDir(name: string, k: number): string {
  return `${String(k + 1).padStart(2, '0')}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}`
}

/** The files of a comparison: the side-by-side page and summary, and each run in its own folder. */
export function compareOutputs(results: SimResult[]): Map<string, string> {
  const files = new Map<string, string>([
    ['report.html', compareHtml(results)],
    ['summary.json', compareSummaryJson(results)],
  ])
  results.forEach((r, k) => {
    for (const [f, text] of singleOutputs(r))
      files.set(`${policyDir(r.summary.policyName, k)}/${f}`, text)
  })
  return files
}

/** Why `dir` cannot take simulator output, or undefined when it can (absent, empty, or ours). */
export async function outputDirProblem(dir: string): Promise<string | undefined> {
  let st: Awaited<ReturnType<typeof stat>>
  try {
    st = await stat(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      try {
        const parent = await stat(dirname(resolve(dir)))
        if (!parent.isDirectory()) return `${dirname(resolve(dir))} is not a directory`
      } catch {
        return `${dirname(resolve(dir))} does not exist`
      }
      return undefined
    }
    throw e
  }
  if (!st.isDirectory()) return `${dir} exists and is not a directory`
  const entries = await readdir(dir)
  if (entries.length === 0 || entries.includes(MARKER)) return undefined
  return `${dir} exists and does not hold simulator output; choose a new or empty directory`
}

async function writeSynced(path: string, text: string): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Writes `files` as the whole content of `dir`, all at once (see the module comment). */
export async function writeOutputDir(
  dir: string,
  files: ReadonlyMap<string, string>,
): Promise<void> {
  const problem = await outputDirProblem(dir)
  if (problem !== undefined) throw new OutputDirError(problem)
  const target = resolve(dir)
  const parent = dirname(target)
  const tag = randomBytes(6).toString('hex')
  const tmp = join(parent, `.${basename(target)}.tmp-${tag}`)
  await mkdir(tmp)
  try {
    const dirs = new Set<string>()
    for (const f of files.keys()) if (f.includes('/')) dirs.add(f.slice(0, f.lastIndexOf('/')))
    for (const d of [...dirs].sort()) await mkdir(join(tmp, d), { recursive: true })
    await writeSynced(join(tmp, MARKER), 'convoy sim output\n')
    for (const [f, text] of files) await writeSynced(join(tmp, f), text)
    for (const d of dirs) await syncDir(join(tmp, d))
    await syncDir(tmp)
    let old: string | undefined
    try {
      await stat(target)
      old = join(parent, `.${basename(target)}.old-${tag}`)
      await rename(target, old)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    await rename(tmp, target)
    await syncDir(parent)
    if (old !== undefined) await rm(old, { recursive: true, force: true })
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {})
    throw e
  }
}

/** Reads a JSON file (for tests and tools; the CLI reads with a size cap). */
export async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'))
}
