/**
 * Reporter admission: which of the verified reports a node holds count toward the evidence on a
 * release at that node. A signature proves who signed, not that the signer is a real node:
 * identities are free, so without admission a thousand keys made after a release is published
 * halt it or lift its halt. The rules, each checkable from what the counting node itself saw:
 *
 * 1. A permissioned network (one that names its reporters in the network file) counts only them.
 * 2. Otherwise a reporter counts only if the node knew it before it first saw the release: from a
 *    hello, from its peer store, or from a report on another release. A node that saw the release
 *    within {@link JOIN_GRACE_MS} of first meeting its network cannot apply this rule to it. A report on the release itself never makes its
 *    reporter known for that release, so keys minted after the release cannot vote on it.
 * 3. A probation report (the one kind that says "I ran it live") counts only from a reporter
 *    that could have run it live by then: its slot makes it a canary (below the fraction, or
 *    within {@link LOWEST_SLOT_TOLERANCE} of the lowest slot among the nodes the counting node
 *    knows, the rule that gives every release a canary), or the counting node's own wave has
 *    opened and the reporter's wave slot has come, give or take {@link SLOT_GRACE_MS}.
 * 4. At most {@link MAX_REPORTERS_PER_SUBNET} reporters per IPv4 /24 or IPv6 /48 count, the ones
 *    known longest. A reporter known only from gossip has no observed address and is not grouped.
 *
 * The node's own report always counts. What is left to an attacker (identities made and
 * introduced before the release, within the subnet cap) is measured in docs/threat-model.md.
 */
import type { RolloutPolicy } from '../manifest/release.ts'
import type { Report } from './evidence.ts'
import { isCanary, rolloutSlot, waveSlotTime } from './slot.ts'

/** Reporters counted per IPv4 /24 or IPv6 /48. */
export const MAX_REPORTERS_PER_SUBNET = 3
/**
 * How long before its wave slot (by the counting node's own wave start) a non-canary's probation
 * report already counts, ms: the spread of wave starts between honest nodes is the time the
 * canaries' reports take to reach them, seconds, not minutes.
 */
export const SLOT_GRACE_MS = 60_000
/** A reporter with at most this many known nodes below its slot may be a lowest-slot canary. */
export const LOWEST_SLOT_TOLERANCE = 1
/**
 * How long after it first met its network a node applies rule 2 to the releases it sees, ms.
 * A node that sees a release sooner (a new node, or every node of a new network) cannot tell the
 * reporters that were there before it from keys made since: it learned of all of them at once.
 * Rule 2 is waived for that release, at that node only; the other rules still hold.
 */
export const JOIN_GRACE_MS: number = 10 * 60_000

/**
 * Whether a node that first met its network at `joinedAt` (undefined: not yet) applies rule 2
 * to a release it first sees at `seenAt`.
 */
export function judgesFirstSight(joinedAt: number | undefined, seenAt: number): boolean {
  return joinedAt !== undefined && seenAt >= joinedAt + JOIN_GRACE_MS
}

/** What a node remembers of a reporter it knows. */
export interface KnownReporter {
  /** When the node first learned of it, ms since the epoch. */
  firstSeen: number
  /** The release digest whose report introduced it; absent when a hello did. */
  via?: string
  /** Its /24 or /48, when the node saw it over a connection (core/net/subnet.ts). */
  subnet?: string
}

/** The counting node's side of the decision, for one release. */
export interface AdmissionView {
  /** The counting node's own peer id: its reports always count. */
  self: string
  /**
   * When the counting node first saw the release, ms. Undefined where rule 2 is waived: a release
   * it verified before it kept a record of first sight, or saw within {@link JOIN_GRACE_MS} of
   * first meeting its network.
   */
  releaseSeenAt: number | undefined
  /** What the node knows of a reporter; undefined for one it never met. */
  known: (reporter: string) => KnownReporter | undefined
  /** The node-role peers the node knows (for the lowest-slot canary rule). */
  knownNodes: readonly string[]
  /** A permissioned network's reporters; undefined on an open network. */
  reporterSet?: ReadonlySet<string>
  /** When the counting node's own non-canary wave opened on this release, ms; undefined: not yet. */
  waveStart?: number
  /** The counting node's clock, ms. */
  now: number
}

/**
 * Rule 2 for one reporter: known before the node first saw release `digest` at `releaseSeenAt`,
 * and not introduced by a report on that release. With `releaseSeenAt` undefined (the rule is
 * waived there) any reporter the node knows is. Admission, the report store's standing and the
 * electorate all read this one rule.
 */
export function knownBefore(
  known: KnownReporter | undefined,
  digest: string,
  releaseSeenAt: number | undefined,
): boolean {
  if (known === undefined) return false
  return releaseSeenAt === undefined || (known.via !== digest && known.firstSeen <= releaseSeenAt)
}

/** Why a held report does not count. */
export type AdmissionRefusal = 'not-listed' | 'newcomer' | 'early-probation' | 'subnet'

/** The reports that count, and for each that does not, why. */
export interface Admission {
  /** The reports that count, in the order given. */
  counted: Report[]
  /** How many were left out, by reason. */
  refused: Partial<Record<AdmissionRefusal, number>>
}

/** The facts about one reporter that rules 1 to 3 read. */
export interface ReporterFacts {
  /** True for the counting node's own report. */
  self: boolean
  /** Rule 1: undefined on an open network, else whether the network lists the reporter. */
  listed?: boolean
  /** Rule 2: what the node knows of the reporter. */
  known: KnownReporter | undefined
  /** The reporter's slot on this release (slot.ts). */
  slot: number
  /** Known nodes (other than the reporter) with a lower slot on this release. */
  lowerSlots: number
}

/** Which release, its policy, and the node's clock and wave, as rules 2 and 3 read them. */
export interface ReleaseView {
  digest: string
  policy: RolloutPolicy
  releaseSeenAt: number | undefined
  waveStart?: number
  now: number
}

/**
 * Rules 1 to 3 for one report: undefined when it counts, else why not. The simulator calls this
 * with facts it keeps per identity; {@link admitReports} builds them from an {@link AdmissionView}.
 */
export function refusal(
  report: Pick<Report, 'stage'>,
  facts: ReporterFacts,
  release: ReleaseView,
): AdmissionRefusal | undefined {
  if (facts.self) return undefined
  if (facts.listed === false) return 'not-listed'
  if (
    facts.listed === undefined &&
    release.releaseSeenAt !== undefined &&
    !knownBefore(facts.known, release.digest, release.releaseSeenAt)
  )
    return 'newcomer'
  if (report.stage === 'probation' && !mayHaveRunLive(facts, release)) return 'early-probation'
  return undefined
}

function mayHaveRunLive(facts: ReporterFacts, release: ReleaseView): boolean {
  const p = release.policy
  if (isCanary(facts.slot, p.canaryFraction)) return true
  if (facts.lowerSlots <= LOWEST_SLOT_TOLERANCE) return true
  if (release.waveStart === undefined) return false
  const at = waveSlotTime(facts.slot, p.canaryFraction, release.waveStart, p.windowSeconds)
  return release.now + SLOT_GRACE_MS >= at
}

/**
 * Rules 1 to 4 over the reports a node holds on one release (one per reporter). Pure; the node
 * calls it each time it reads the evidence, so a report left out for its slot counts once the
 * slot has come.
 */
export function admitReports(
  reports: readonly Report[],
  policy: RolloutPolicy,
  digest: string,
  view: AdmissionView,
): Admission {
  const release: ReleaseView = {
    digest,
    policy,
    releaseSeenAt: view.releaseSeenAt,
    now: view.now,
    ...(view.waveStart !== undefined ? { waveStart: view.waveStart } : {}),
  }
  const nodeSlots = [...new Set([view.self, ...view.knownNodes])]
    .map((id) => ({ id, slot: rolloutSlot(id, digest) }))
    .sort((a, b) => a.slot - b.slot)
  const lowerSlots = (id: string, slot: number): number => {
    let n = 0
    for (const s of nodeSlots) {
      if (s.slot >= slot || n > LOWEST_SLOT_TOLERANCE) break
      if (s.id !== id) n++
    }
    return n
  }
  const refused: Partial<Record<AdmissionRefusal, number>> = {}
  const no = (why: AdmissionRefusal) => {
    refused[why] = (refused[why] ?? 0) + 1
  }
  const passed: { report: Report; known: KnownReporter | undefined }[] = []
  for (const r of reports) {
    const known = view.known(r.reporter)
    const slot = rolloutSlot(r.reporter, digest)
    const why = refusal(
      r,
      {
        self: r.reporter === view.self,
        ...(view.reporterSet ? { listed: view.reporterSet.has(r.reporter) } : {}),
        known,
        slot,
        lowerSlots: lowerSlots(r.reporter, slot),
      },
      release,
    )
    if (why === undefined) passed.push({ report: r, known })
    else no(why)
  }
  // Rule 4: per subnet, the reporters known longest (then by id, so every node picks alike).
  const bySubnet = new Map<string, { report: Report; known: KnownReporter | undefined }[]>()
  for (const p of passed) {
    const net = p.report.reporter === view.self ? undefined : p.known?.subnet
    if (net === undefined) continue
    const list = bySubnet.get(net) ?? []
    list.push(p)
    bySubnet.set(net, list)
  }
  const dropped = new Set<string>()
  for (const list of bySubnet.values()) {
    if (list.length <= MAX_REPORTERS_PER_SUBNET) continue
    list.sort(
      (a, b) =>
        a.known!.firstSeen - b.known!.firstSeen || (a.report.reporter < b.report.reporter ? -1 : 1),
    )
    for (const p of list.slice(MAX_REPORTERS_PER_SUBNET)) {
      dropped.add(p.report.reporter)
      no('subnet')
    }
  }
  return {
    counted: passed.filter((p) => !dropped.has(p.report.reporter)).map((p) => p.report),
    refused,
  }
}

/**
 * How a report store ranks a reporter when it must make room: lower is kept first. Reporters
 * the node knew before the release come before newcomers, and among each, canaries (slot below
 * the fraction) before the rest, so a flood of new keys can fill only the room newcomers have.
 */
export function standing(
  reporter: string,
  digest: string,
  policy: Pick<RolloutPolicy, 'canaryFraction'> | undefined,
  known: KnownReporter | undefined,
  releaseSeenAt: number | undefined,
): 0 | 1 | 2 | 3 {
  const established = knownBefore(known, digest, releaseSeenAt)
  const canary =
    policy !== undefined && isCanary(rolloutSlot(reporter, digest), policy.canaryFraction)
  return established ? (canary ? 0 : 1) : canary ? 2 : 3
}
