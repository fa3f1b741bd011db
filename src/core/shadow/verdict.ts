/**
 * The shadow verdict: does the candidate build behave like the running one?
 *
 * Hard failures end the run at once, whatever the numbers: a crash or exit, running out of
 * memory, never becoming ready, and any outbound connection to an address it did not learn from
 * the network ("phone home"). The rest compares samples of the candidate against samples of the
 * live node taken over the same window, the way Kayenta does: a one-sided Mann-Whitney U test
 * per metric at 98% confidence, and a noise floor (Diffy's A/A idea: differences smaller than
 * `tolerance` of the baseline, or than an absolute floor, never fail). Too few samples, or a
 * candidate that reached no peer, is inconclusive: it never promotes.
 */

/** One sample of one OS process (candidate or live node). */
export interface ProcessSample {
  /** Resident memory, bytes. */
  rss: number
  /** CPU used since the previous sample, as a share of one core (0..n). */
  cpu: number
  /** Open file descriptors. */
  fds: number
  /** Connected peers. */
  peers: number
  /** Completed hello handshakes so far. */
  handshakes: number
}

/** What the driver observed of the candidate beyond its samples. */
export interface ShadowObservation {
  baseline: ProcessSample[]
  candidate: ProcessSample[]
  /** The candidate exited or crashed during the window: its exit code or signal. */
  exited?: string
  /** The candidate was killed for passing its memory limit. */
  outOfMemory?: boolean
  /** The candidate answered its readiness check within the window. */
  ready: boolean
  /**
   * Outbound attempts the network file and the live node's state do not explain
   * (core/shadow/egress.ts): `tcp h:p`, `udp h:p` or `unix PATH`.
   */
  phoneHome: string[]
  /**
   * Why the release's migration failed its rehearsal on the shadow's copy of the data
   * (`judgeMigration`, migration.ts); the candidate is then never started.
   */
  migration?: string
  /**
   * What the candidate tried that its sandbox refused (Node's permission model: a read or write
   * outside its release and shadow dirs, a child process, a worker, an addon), as the refusal
   * named it in its output.
   */
  refused?: string[]
  /**
   * TCP destinations the live node could not be asked about (egress.ts `unconfirmedOf`): the run
   * cannot tell a peer from phone home there, so it is inconclusive.
   */
  unconfirmed?: string[]
  /**
   * The live node was not running when the run was to begin: there was nothing to measure the
   * candidate against, so it was not started.
   */
  noLiveNode?: boolean
}

/** Thresholds of the rule; defaults in {@link DEFAULT_SHADOW_RULE}. */
export interface ShadowRule {
  /** Fewest samples of each side for a verdict other than inconclusive. */
  minSamples: number
  /** A metric fails only if the candidate's median exceeds the baseline's by this share... */
  tolerance: number
  /** ...and by at least this much in absolute terms (the noise floor). */
  floors: { rss: number; cpu: number; fds: number }
  /** Significance of the Mann-Whitney test (0.02 = 98% confidence). */
  alpha: number
}

/** Defaults: 8 samples, 25% tolerance, floors of 32 MiB, 0.2 core and 16 descriptors, 98%. */
export const DEFAULT_SHADOW_RULE: Readonly<ShadowRule> = Object.freeze({
  minSamples: 8,
  tolerance: 0.25,
  floors: { rss: 32 * 1024 * 1024, cpu: 0.2, fds: 16 },
  alpha: 0.02,
})

/** The verdict and every finding behind it. */
export interface ShadowVerdict {
  verdict: 'pass' | 'fail' | 'inconclusive'
  reason: string
  findings: string[]
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Standard normal upper tail, P(Z > z) (Abramowitz-Stegun 7.1.26, error < 1.5e-7). */
function upperTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2
  const t = 1 / (1 + 0.3275911 * x)
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x)
  const p = 0.5 * (1 - erf)
  return z >= 0 ? p : 1 - p
}

/**
 * One-sided Mann-Whitney U: p-value for "candidate tends to be larger than baseline", with the
 * normal approximation, tie correction and continuity correction.
 */
export function mannWhitneyGreater(candidate: number[], baseline: number[]): number {
  const n1 = candidate.length
  const n2 = baseline.length
  const all = [
    ...candidate.map((v) => ({ v, c: true })),
    ...baseline.map((v) => ({ v, c: false })),
  ].sort((a, b) => a.v - b.v)
  const ranks = new Array<number>(all.length)
  let tieTerm = 0
  for (let i = 0; i < all.length; ) {
    let j = i
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++
    const r = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) ranks[k] = r
    const ties = j - i + 1
    tieTerm += ties ** 3 - ties
    i = j + 1
  }
  let r1 = 0
  all.forEach((x, i) => {
    if (x.c) r1 += ranks[i]!
  })
  const u1 = r1 - (n1 * (n1 + 1)) / 2
  const n = n1 + n2
  const mean = (n1 * n2) / 2
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)))
  if (variance <= 0) return 1
  return upperTail((u1 - mean - 0.5) / Math.sqrt(variance))
}

/** `a, b, c and 2 more`: the first three of a list of destinations. */
function firstFew(items: readonly string[]): string {
  return `${items.slice(0, 3).join(', ')}${items.length > 3 ? ` and ${items.length - 3} more` : ''}`
}

/** Judges one shadow run. Pure. */
export function judgeShadow(
  o: ShadowObservation,
  rule: ShadowRule = DEFAULT_SHADOW_RULE,
): ShadowVerdict {
  const findings: string[] = []
  if (o.noLiveNode === true)
    return {
      verdict: 'inconclusive',
      reason: 'the live node was not running: nothing to measure the candidate against',
      findings,
    }
  if (o.migration !== undefined) findings.push(o.migration)
  if (o.refused !== undefined && o.refused.length > 0)
    findings.push(`reached outside its sandbox: ${o.refused.slice(0, 2).join('; ')}`)
  if (o.phoneHome.length > 0) findings.push(`phoned home: reached ${firstFew(o.phoneHome)}`)
  if (o.outOfMemory) findings.push('ran out of memory')
  if (o.exited !== undefined) findings.push(`exited during the shadow run (${o.exited})`)
  if (!o.ready && o.exited === undefined && o.migration === undefined)
    findings.push('never became ready')
  if (findings.length > 0) return { verdict: 'fail', reason: findings[0]!, findings }
  const unconfirmed = o.unconfirmed ?? []
  if (unconfirmed.length > 0)
    return {
      verdict: 'inconclusive',
      reason: `the live node could not be asked whether ${firstFew(unconfirmed)} is a peer`,
      findings,
    }

  if (o.candidate.length < rule.minSamples || o.baseline.length < rule.minSamples) {
    return {
      verdict: 'inconclusive',
      reason: `too few samples (${o.candidate.length} candidate, ${o.baseline.length} baseline; need ${rule.minSamples})`,
      findings,
    }
  }
  findings.push(...compareSamples(o.candidate, o.baseline, rule, 'on the live node'))
  if (findings.length > 0) return { verdict: 'fail', reason: findings[0]!, findings }
  const last = o.candidate.at(-1)!
  if (last.peers === 0 || last.handshakes === 0) {
    return {
      verdict: 'inconclusive',
      reason: `candidate reached ${last.peers} peer(s) and completed ${last.handshakes} handshake(s): nothing to judge it by`,
      findings,
    }
  }
  return {
    verdict: 'pass',
    reason: `within ${Math.round(rule.tolerance * 100)}% of the live node on memory, CPU and open files; reached ${last.peers} peer(s)`,
    findings,
  }
}

function fmt2(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`
}

/**
 * The comparison of `judgeShadow`, on its own: where `samples` exceed `baseline` (memory, CPU
 * share, open files: beyond the tolerance, the noise floor and significantly by a one-sided
 * Mann-Whitney test), and a memory leak within `samples`. Each finding names `where` the
 * baseline was taken. Pure.
 */
export function compareSamples(
  samples: readonly ProcessSample[],
  baseline: readonly ProcessSample[],
  rule: ShadowRule,
  where: string,
): string[] {
  const findings: string[] = []
  const metrics: Array<[keyof ShadowRule['floors'], string, (x: number) => string]> = [
    ['rss', 'memory', (x) => `${(x / 2 ** 20).toFixed(0)} MiB`],
    ['cpu', 'CPU', (x) => `${(x * 100).toFixed(0)}%`],
    ['fds', 'open files', (x) => x.toFixed(0)],
  ]
  for (const [key, label, fmt] of metrics) {
    const c = samples.map((s) => s[key])
    const b = baseline.map((s) => s[key])
    const mc = median(c)
    const mb = median(b)
    const excess = mc - mb
    if (excess <= Math.max(mb * rule.tolerance, rule.floors[key])) continue
    const p = mannWhitneyGreater(c, b)
    if (p < rule.alpha)
      findings.push(`${label} ${fmt(mc)} vs ${fmt(mb)} ${where} (p = ${p.toExponential(1)})`)
  }
  // Memory that keeps growing fails even while still under the baseline's median: a leak.
  const rss = samples.map((s) => s.rss)
  const half = Math.floor(rss.length / 2)
  const early = median(rss.slice(0, half))
  const late = median(rss.slice(half))
  const baseRss = median(baseline.map((s) => s.rss))
  if (
    late - early > Math.max(rule.floors.rss, baseRss * rule.tolerance) &&
    mannWhitneyGreater(rss.slice(half), rss.slice(0, half)) < rule.alpha
  ) {
    findings.push(`memory keeps growing: ${fmt2(early)} -> ${fmt2(late)} over the window`)
  }
  return findings
}

/**
 * Probation measured: the new live node's samples against the same node's own samples from
 * before the switch (the live node's side of the shadow run), by the shadow run's comparison.
 * Fails a build that passed its shadow run and regresses once it is the node; too few samples
 * on either side is inconclusive (and holds nothing back). Pure.
 */
export function judgeProbation(
  before: readonly ProcessSample[],
  after: readonly ProcessSample[],
  rule: ShadowRule = DEFAULT_SHADOW_RULE,
): ShadowVerdict {
  if (before.length < rule.minSamples || after.length < rule.minSamples)
    return {
      verdict: 'inconclusive',
      reason: `too few samples (${after.length} since the switch, ${before.length} before; need ${rule.minSamples})`,
      findings: [],
    }
  const findings = compareSamples(after, before, rule, 'before the switch')
  if (findings.length > 0) return { verdict: 'fail', reason: findings[0]!, findings }
  return {
    verdict: 'pass',
    reason: `within ${Math.round(rule.tolerance * 100)}% of its own samples from before the switch`,
    findings,
  }
}
