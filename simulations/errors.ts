/** The errors of the simulator and the testnet: refused input, each naming what to fix. */

/** The output directory cannot be used. */
export class OutputDirError extends Error {
  override name = 'OutputDirError'
}

/** Refused input (a usage error for the CLI). */
export class TestnetError extends Error {
  override name = 'TestnetError'
}

/** A scenario that breaks a rule; `field` is the path of the offending field. */
export class ScenarioError extends Error {
  override name = 'ScenarioError'
  readonly field: string
  constructor(field: string, rule: string) {
    super(`${field} ${rule}`)
    this.field = field
  }
}
