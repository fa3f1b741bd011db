/** Shared helpers of the simulator tests: loading the shipped scenarios and small ones. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseScenario, type Scenario } from '../../simulations/scenario.ts'

/** Directory of the shipped scenarios. */
export const SCENARIOS: string = join(import.meta.dirname, '../../simulations/scenarios')
/** Directory of the shipped policy files. */
export const POLICIES: string = join(import.meta.dirname, '../../simulations/policies')

/** The parsed document of a shipped scenario. */
export function scenarioDoc(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(SCENARIOS, `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >
}

/** A shipped scenario, checked, with top-level fields replaced by `over`. */
export function loadScenario(name: string, over: Record<string, unknown> = {}): Scenario {
  return parseScenario({ ...scenarioDoc(name), ...over })
}

/** A small scenario for tests that need a run but not a particular story. */
export function tinyScenario(over: Record<string, unknown> = {}): Scenario {
  return parseScenario({
    name: 'tiny',
    description: 'A few hundred nodes, one good release and one bad one.',
    nodes: 300,
    durationHours: 30,
    sampleMinutes: 30,
    churn: {
      session: { distribution: 'pareto', minHours: 3, shape: 1.5 },
      downtime: { distribution: 'lognormal', medianHours: 1, sigma: 1 },
      departure: 0.05,
    },
    operators: {
      auto: 0.9,
      manual: 0.05,
      never: 0.05,
      manualDelay: [{ weight: 1, medianHours: 6, sigma: 1 }],
    },
    policy: { windowSeconds: 6 * 3600, canaryFraction: 0.1 },
    releases: [
      { version: '1.1.0', atHours: 1, quality: 'good' },
      { version: '1.2.0', atHours: 12, quality: 'fails-in-probation', probability: 0.8 },
    ],
    adversaries: {
      falseReporters: { count: 1, delayMinutes: 120 },
      eclipse: { fraction: 0.05, honestContactsPerDay: 4, directFetchSuccess: 0.5 },
      versionLiars: { count: 4, contactsPerDay: 10, sequenceAhead: true },
    },
    ...over,
  })
}
