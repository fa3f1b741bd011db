/** Small timing helpers of the supervisor. */

/** A stopwatch of named laps, for the switch's log line. */
export function laps(): ((name: string) => void) & { summary: () => string } {
  let last = Date.now()
  const parts: string[] = []
  const lap = (name: string) => {
    const now = Date.now()
    parts.push(`${name} ${now - last} ms`)
    last = now
  }
  return Object.assign(lap, { summary: () => parts.join(', ') })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
