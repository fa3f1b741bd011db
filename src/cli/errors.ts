/** The errors of the CLI: each a failure the user can fix, printed as one line. */

/** A failure the user can fix; printed as one line, exit code 1 (2 for usage errors). */
export class CliError extends Error {
  override name = 'CliError'
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}
