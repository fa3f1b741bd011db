/**
 * The modelled world around the shipped logic: latencies between regions, how long a manifest
 * takes to reach a node, artifact fetches from a swarm of peers, churn, operators, and how a
 * release's faults show up in shadow runs and probation.
 *
 * Everything here is a model with stated assumptions (docs/simulations.md); the decisions the
 * nodes take on what the model tells them are not: they go through src/core. Shadow verdicts are
 * the one place both meet: the model makes up process samples, and the shipped `judgeShadow`
 * judges them.
 *
 * Every draw is a hash of (seed, entity, purpose, ...) so a draw belongs to its entity, not to
 * the order events happened in (see rng.ts).
 */
import { judgeShadow, type ProcessSample, type ShadowVerdict } from '../src/core/shadow/verdict.ts'
import { normalFrom, Rng, unit } from './rng.ts'
import type { DelayComponent, Distribution, ReleaseSpec, Scenario } from './scenario.ts'

const PURPOSES = {
  region: 1,
  operator: 2,
  eclipsed: 3,
  jitter: 4,
  peerId: 5,
  logged: 6,
  discoverPoll: 7,
  discoverPush: 8,
  discoverLatency: 9,
  fetch: 10,
  fetchFail: 11,
  fault: 12,
  faultTime: 13,
  bank: 14,
  manualPick: 15,
  manualDelay: 16,
  manualDelay2: 17,
  churnStart: 18,
  churnSession: 19,
  churnSession2: 20,
  churnDown: 21,
  churnDown2: 22,
  departure: 23,
  contact: 24,
  escape: 25,
  reporterRegion: 26,
  reporterDelay: 27,
  switchFail: 28,
  rollbackFail: 29,
  liarRegion: 30,
  liarContact: 31,
  liarTarget: 32,
  churnResidual: 33,
  fetchLookup: 34,
  revokePush: 35,
} as const
/** Purposes of hashed draws, so no two uses of one entity share a number. */
export const P: typeof PURPOSES = Object.freeze(PURPOSES)

const HOUR = 3_600_000
const MIB = 1024 * 1024

/** SimBlock draws each message's latency from a Pareto with the matrix value as its mean and shape 5. */
const LATENCY_SHAPE = 5

/** A Pareto draw with the given mean and shape, from a unit in (0, 1). */
export function paretoWithMean(mean: number, shape: number, u: number): number {
  const xm = (mean * (shape - 1)) / shape
  return xm / u ** (1 / shape)
}

/** A draw from `d` in hours, from two units. */
export function sampleHours(d: Distribution, u1: number, u2: number): number {
  switch (d.distribution) {
    case 'pareto':
      return d.minHours / u1 ** (1 / d.shape)
    case 'lognormal':
      return d.medianHours * Math.exp(d.sigma * normalFrom(u1, u2))
    case 'exponential':
      return -d.meanHours * Math.log(u1)
  }
}

/** The mean of `d` in hours (finite: pareto shapes are above 1). */
export function meanHours(d: Distribution): number {
  switch (d.distribution) {
    case 'pareto':
      return (d.shape * d.minHours) / (d.shape - 1)
    case 'lognormal':
      return d.medianHours * Math.exp((d.sigma * d.sigma) / 2)
    case 'exponential':
      return d.meanHours
  }
}

/** A draw from the manual operators' lognormal mixture, in hours, from three units. */
export function sampleMixture(
  mix: readonly DelayComponent[],
  u: number,
  u1: number,
  u2: number,
): number {
  const total = mix.reduce((a, c) => a + c.weight, 0)
  let acc = 0
  let c = mix.at(-1)!
  for (const m of mix) {
    acc += m.weight / total
    if (u < acc) {
      c = m
      break
    }
  }
  return c.medianHours * Math.exp(c.sigma * normalFrom(u1, u2))
}

/** Operator kinds. */
export const AUTO = 0
export const MANUAL = 1
export const NEVER = 2

/** The network and operator model of one scenario and seed. */
export class WorldModel {
  readonly s: Scenario
  readonly seed: number
  readonly regionCount: number
  private readonly cumShare: number[]
  /** Mean gossip delay from region q to region r, ms (hops x mean latency). */
  readonly gossipMs: Float64Array
  /** Mean transfer time of the artifact into each region, ms. */
  readonly transferMs: Float64Array
  readonly meanTransferMs: number

  constructor(s: Scenario, seed: number) {
    this.s = s
    this.seed = seed
    const k = s.regions.names.length
    this.regionCount = k
    let acc = 0
    this.cumShare = s.regions.share.map((x) => (acc += x))
    this.gossipMs = new Float64Array(k * k)
    for (let q = 0; q < k; q++)
      for (let r = 0; r < k; r++)
        this.gossipMs[q * k + r] = s.network.gossipHops * s.regions.latencyMs[q]![r]!
    this.transferMs = new Float64Array(k)
    let mean = 0
    for (let r = 0; r < k; r++) {
      this.transferMs[r] = ((s.artifactMB * 8) / s.regions.bandwidthMbps[r]!) * 1000
      mean += this.transferMs[r]! * s.regions.share[r]!
    }
    this.meanTransferMs = mean
  }

  private u(a: number, purpose: number, c = 0, d = 0): number {
    return unit(this.seed, a, purpose, c, d)
  }

  /** The region of an identity, by the scenario's shares. */
  regionOf(identity: number, purpose: number = P.region): number {
    return this.regionAt(this.u(identity, purpose))
  }

  /** The region a unit falls in, by the scenario's shares: a peer met at random. */
  regionAt(x: number): number {
    for (let r = 0; r < this.cumShare.length; r++) if (x < this.cumShare[r]!) return r
    return this.cumShare.length - 1
  }

  /** AUTO, MANUAL or NEVER. */
  operatorOf(identity: number): number {
    const x = this.u(identity, P.operator)
    const o = this.s.operators
    if (x < o.auto) return AUTO
    if (x < o.auto + o.manual) return MANUAL
    return NEVER
  }

  isEclipsed(identity: number): boolean {
    return this.u(identity, P.eclipsed) < this.s.adversaries.eclipse.fraction
  }

  /** Deterministic peer id: `sim-<identity>-<8 hex>`, so the shipped slot hash works unchanged. */
  peerId(identity: number): string {
    const h = Math.floor(this.u(identity, P.peerId) * 4294967296)
    return `sim-${identity}-${h.toString(16).padStart(8, '0')}`
  }

  /** One message latency between two regions, ms (SimBlock's Pareto around the mean). */
  latency(q: number, r: number, u: number): number {
    return paretoWithMean(this.s.regions.latencyMs[q]![r]!, LATENCY_SHAPE, u)
  }

  /** A DHT lookup from region `r`: `lookupHops` round trips to peers in random regions, ms. */
  lookupMs(identity: number, r: number, purpose: number, salt: number): number {
    let ms = 0
    for (let h = 0; h < this.s.network.lookupHops; h++) {
      const q = this.regionAt(this.u(identity, purpose, salt, 2 * h))
      ms += 2 * this.latency(r, q, this.u(identity, purpose, salt, 2 * h + 1))
    }
    return ms
  }

  /**
   * When a node in region `r` learns of a release published at 0: the earlier of its next DHT
   * poll (uniform phase within the lookup interval, plus one lookup) and the hello push
   * (each node that trusts the manifest tells `pushFanout` peers; a node's depth in that
   * epidemic is about log base (1 + fanout) of its rank, each step a hello and a fetch: two round trips).
   */
  discoveryMs(identity: number, r: number, release: number, nodes: number): number {
    const n = this.s.network
    const poll =
      this.u(identity, P.discoverPoll, release) * n.lookupIntervalSeconds * 1000 +
      this.lookupMs(identity, r, P.discoverLatency, release)
    if (n.pushFanout === 0) return poll
    const rank = 1 + this.u(identity, P.discoverPush, release) * nodes
    const depth = Math.max(1, Math.ceil(Math.log(rank) / Math.log(1 + n.pushFanout)))
    let push = 0
    for (let h = 0; h < depth; h++) {
      const q = this.regionAt(this.u(identity, P.discoverPush, release, 2 * h + 1))
      push += 4 * this.latency(q, r, this.u(identity, P.discoverPush, release, 2 * h + 2))
    }
    return Math.min(poll, push)
  }

  /**
   * When a revocation reaches a node, ms after the maintainers published it. Every node that
   * accepts one pushes it to every peer at once (src/adapters/libp2p/revocations.ts), so it
   * crosses the network in about log(n) / log(1 + peers) hops, each a latency and a verification;
   * peers are modelled as `pushFanout` (a lower bound on a node's connections, so this errs slow).
   * Without push, the DHT lookup every fifth round.
   */
  revokeMs(identity: number, r: number, release: number, nodes: number): number {
    const n = this.s.network
    if (n.pushFanout === 0)
      return (
        this.u(identity, P.revokePush, release) * 5 * n.lookupIntervalSeconds * 1000 +
        this.lookupMs(identity, r, P.revokePush, release)
      )
    const rank = 1 + this.u(identity, P.revokePush, release) * nodes
    const depth = Math.max(1, Math.ceil(Math.log(rank) / Math.log(1 + n.pushFanout)))
    let ms = 0
    for (let h = 0; h < depth; h++) {
      const q = this.regionAt(this.u(identity, P.revokePush, release, 2 * h + 1))
      ms += this.latency(q, r, this.u(identity, P.revokePush, release, 2 * h + 2)) + 1
    }
    return ms
  }

  /** Per-node lag of the evidence gossip on top of the region's delay: up to one heartbeat plus a hop. */
  evidenceJitterMs(identity: number, r: number): number {
    return (
      this.u(identity, P.jitter) * this.s.network.heartbeatMs +
      this.latency(r, r, this.u(identity, P.jitter, 1))
    )
  }

  /** Time for this node's artifact download alone (a provider lookup plus the transfer), ms. */
  fetchAloneMs(identity: number, r: number, release: number, attempt: number): number {
    const jitter = paretoWithMean(1, 3, this.u(identity, P.fetch, release, attempt))
    return (
      this.lookupMs(identity, r, P.fetchLookup, release * 4096 + attempt) +
      this.transferMs[r]! * jitter
    )
  }

  /**
   * The swarm's bound on the k-th fetch of a release (k from 1): the publisher seeds
   * `seedCopies`, every holder serves `maxUploads` peers at a time, so holders grow by a factor
   * of (1 + maxUploads) each transfer time and the k-th fetch completes no earlier than that
   * many generations after the first request.
   */
  swarmGenerations(k: number): number {
    const n = this.s.network
    return Math.max(1, Math.ceil(Math.log(1 + k / n.seedCopies) / Math.log(1 + n.maxUploads)))
  }

  /** When a manual operator approves a release, ms after it was published. */
  manualDelayMs(identity: number, release: number): number {
    const mix = this.s.operators.manualDelay
    const h = sampleMixture(
      mix,
      this.u(identity, P.manualPick, release),
      this.u(identity, P.manualDelay, release),
      this.u(identity, P.manualDelay2, release),
    )
    return h * HOUR
  }

  /** Draw `n` (0, 1) units for an entity: a helper for the engine. */
  unit(identity: number, purpose: number, c = 0, d = 0): number {
    return this.u(identity, purpose, c, d)
  }
}

/** Number of pre-judged shadow runs per release; each node draws one. */
export const BANK_SIZE = 64

/** Shadow verdicts of one release, judged by the shipped rule on modelled samples. */
export interface ShadowBank {
  /** Runs of nodes the fault does not hit (A/A noise only, or a good release). */
  clean: ShadowVerdict[]
  /** Runs of nodes with a slow leak. */
  leak: ShadowVerdict[]
  /** A run that crashed. */
  crash: ShadowVerdict
}

/**
 * Builds the bank: `BANK_SIZE` modelled runs of `policy.shadowSeconds`, one sample every
 * `sampleSeconds` of the live node and of the candidate, judged by `judgeShadow`. Noise: memory
 * 2% around 300 MiB, CPU 0.25 +- 0.03 of a core, 100 +- 3 open files, 10-30 peers. A leaking
 * candidate adds `leakMiBPerHour` over the window; a short window gives too few samples, and the
 * shipped rule then answers inconclusive.
 */
export function shadowBank(
  spec: ReleaseSpec,
  shadowSeconds: number,
  sampleSeconds: number,
  seed: number,
  release: number,
): ShadowBank {
  const n = Math.floor(shadowSeconds / sampleSeconds)
  const run = (k: number, leak: boolean): ShadowVerdict => {
    const rng = new Rng(
      (seed ^ Math.imul(release + 1, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0,
    )
    const normal = () => normalFrom(rng.float(), rng.float())
    const peers = 10 + rng.int(21)
    const sample = (i: number, grow: number): ProcessSample => ({
      rss: 300 * MIB * (1 + 0.02 * normal()) + grow,
      cpu: Math.max(0, 0.25 + 0.03 * normal()),
      fds: Math.round(100 + 3 * normal()),
      peers,
      handshakes: peers + i,
    })
    const baseline: ProcessSample[] = []
    const candidate: ProcessSample[] = []
    for (let i = 0; i < n; i++) {
      baseline.push(sample(i, 0))
      const t = (i + 1) * sampleSeconds
      candidate.push(sample(i, leak ? (spec.leakMiBPerHour * MIB * t) / 3600 : 0))
    }
    return judgeShadow({ baseline, candidate, ready: n > 0, phoneHome: [] })
  }
  const clean: ShadowVerdict[] = []
  const leak: ShadowVerdict[] = []
  for (let k = 0; k < BANK_SIZE; k++) {
    clean.push(run(k, false))
    leak.push(spec.quality === 'slow-leak' ? run(k + BANK_SIZE, true) : clean[k]!)
  }
  const crash = judgeShadow({
    baseline: [],
    candidate: [],
    exited: 'signal SIGSEGV',
    ready: false,
    phoneHome: [],
  })
  return { clean, leak, crash }
}
