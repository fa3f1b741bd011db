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

/**
 * Waits `ms`, or less when `signal` aborts: it resolves either way and never rejects, so a loop
 * that sleeps between rounds checks its own stop condition after waking.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const t = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        resolve()
      },
      { once: true },
    )
  })
}
