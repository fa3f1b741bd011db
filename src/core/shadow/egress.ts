/**
 * Which of a shadow candidate's outbound attempts are "phone home". The attempts are seen from
 * outside the candidate (every connect and every datagram of every process it runs, however
 * short-lived); the allow-list is built only from what the node itself knows: the network
 * file's bootstrap peers and the live node's own state. Nothing the candidate says about itself
 * (its status, its peer list) ever makes a destination legitimate.
 *
 * A TCP destination the live node does not know yet may still be a peer the candidate found
 * through the DHT; the live node is asked to confirm it (it dials the address and completes
 * convoy's hello on this network). At most {@link MAX_CONFIRMATIONS} such destinations are
 * checked per run, one at a time; a candidate that reaches more unknown addresses than that fails on the rest.
 * A datagram is never a peer: convoy speaks TCP only, so the only UDP allowed is a DNS query to
 * a resolver of the host. A local (unix) socket is never allowed: the node needs none, and one
 * is the way to a local proxy or daemon. Pure.
 */

/** One attempt to reach out, as the tracer saw it. */
export interface EgressAttempt {
  proto: 'tcp' | 'udp' | 'unix'
  /** `a.b.c.d:port` or `[v6]:port`; a socket path for `unix`. */
  dest: string
}

/** What a destination must be to be allowed. */
export interface EgressAllowList {
  /** `host:port` of the network file's bootstrap peers and of everything the live node knows. */
  tcp: ReadonlySet<string>
  /** Hosts of the resolvers in the host's resolv.conf: UDP port 53 to them is a DNS lookup. */
  resolvers: ReadonlySet<string>
}

/** Most unknown TCP destinations the live node is asked to confirm in one run. */
export const MAX_CONFIRMATIONS = 32

/** Port of `host:port` / `[v6]:port`. */
function portOf(dest: string): number {
  return Number(dest.slice(dest.lastIndexOf(':') + 1))
}

/** Host of `host:port` / `[v6]:port` (brackets kept). */
function hostOf(dest: string): string {
  return dest.slice(0, dest.lastIndexOf(':'))
}

/**
 * The attempts the allow-list does not cover, each destination once: `confirm` lists the TCP
 * ones the live node should be asked about, `outside` the ones that are phone home whatever it
 * answers (UDP other than DNS, local sockets).
 */
export function unexplained(
  attempts: Iterable<EgressAttempt>,
  allow: EgressAllowList,
): { confirm: string[]; outside: string[] } {
  const confirm = new Set<string>()
  const outside = new Set<string>()
  for (const a of attempts) {
    if (a.proto === 'tcp') {
      if (!allow.tcp.has(a.dest)) confirm.add(a.dest)
    } else if (a.proto === 'unix') {
      outside.add(`unix ${a.dest}`)
    } else if (!(portOf(a.dest) === 53 && allow.resolvers.has(hostOf(a.dest)))) {
      outside.add(`udp ${a.dest}`)
    }
  }
  return { confirm: [...confirm].sort(), outside: [...outside].sort() }
}

/**
 * What the live node answered about a TCP destination: still asking, a peer, or not one; or
 * `unanswered`: it could not be asked (it was not running, or its API did not answer). An
 * unanswered destination is asked again at the next poll; if it stays unanswered it is neither
 * excused nor phone home, and the run cannot be judged (see {@link unconfirmedOf}).
 */
export type PeerAnswer = 'pending' | 'peer' | 'not-peer' | 'unanswered'

/**
 * The TCP destinations to ask the live node about now: those it could not be asked about before,
 * and those not asked yet while fewer than {@link MAX_CONFIRMATIONS} were asked in this run.
 */
export function toConfirm(
  found: { confirm: readonly string[] },
  answers: ReadonlyMap<string, PeerAnswer>,
): string[] {
  const room = Math.max(0, MAX_CONFIRMATIONS - answers.size)
  const again = found.confirm.filter((d) => answers.get(d) === 'unanswered')
  return [...again, ...found.confirm.filter((d) => !answers.has(d)).slice(0, room)]
}

/**
 * The phone-home list of a run so far: the UDP it sent outside DNS, its local sockets, and the
 * TCP destinations the live node said are no peer of this network, or that could not be asked
 * (past {@link MAX_CONFIRMATIONS}). Once the run is over (`final`), a destination still pending
 * or never asked is phone home too: only a confirmation makes an unknown address a peer. One the
 * live node could not be asked about is not phone home: it is {@link unconfirmedOf}.
 */
export function phoneHomeOf(
  found: { confirm: readonly string[]; outside: readonly string[] },
  answers: ReadonlyMap<string, PeerAnswer>,
  final: boolean,
): string[] {
  const full = answers.size >= MAX_CONFIRMATIONS
  const tcp = found.confirm.filter((d) => {
    const a = answers.get(d)
    if (a === 'peer' || a === 'unanswered') return false
    if (a === 'not-peer') return true
    return final || (a === undefined && full)
  })
  return [...found.outside, ...tcp.map((d) => `tcp ${d}`)]
}

/**
 * The TCP destinations the live node could not be asked about (it was not running, or its API
 * did not answer), however often they were asked. Not phone home, not excused either: a run
 * with any is inconclusive (`judgeShadow`), so it never promotes and is tried again.
 */
export function unconfirmedOf(
  found: { confirm: readonly string[] },
  answers: ReadonlyMap<string, PeerAnswer>,
): string[] {
  return found.confirm.filter((d) => answers.get(d) === 'unanswered').map((d) => `tcp ${d}`)
}
