/**
 * Whether an address is a peer of this network: the live node dials it and waits for convoy's
 * hello to complete on this network's protocol. The supervisor asks this about a TCP destination
 * its shadow candidate reached that the live node did not know yet (a peer the candidate found
 * through the DHT, or a server of its own): only a completed hello makes it a peer. What the
 * candidate says about itself never does.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerEntry } from './peer-table.ts'

/** The answer to a peer check. */
export interface PeerCheck {
  peer: boolean
  /** One line: who answered, or why it is not a peer. */
  reason: string
  /**
   * The live node could not be asked (it was not running, busy, or its API did not answer):
   * neither a peer nor phone home (core/shadow/egress.ts `unanswered`).
   */
  unanswered?: boolean
}

/** Deadline of a peer check (dial plus hello), ms. */
export const PEER_CHECK_TIMEOUT_MS = 8000

/** `/ip4/h/tcp/p` or `/ip6/h/tcp/p` of `h:p` or `[v6]:p`; undefined for anything else. */
export function hostPortMultiaddr(hp: string): string | undefined {
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(hp)
  if (v6) return `/ip6/${v6[1]}/tcp/${v6[2]}`
  const v4 = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(hp)
  return v4 ? `/ip4/${v4[1]}/tcp/${v4[2]}` : undefined
}

/** Dials `hostPort` and waits until the peer behind it completed a hello with this node. */
export async function checkPeerAt(
  libp2p: Libp2p,
  peers: ReadonlyMap<string, PeerEntry>,
  hostPort: string,
  timeoutMs: number = PEER_CHECK_TIMEOUT_MS,
): Promise<PeerCheck> {
  const addr = hostPortMultiaddr(hostPort)
  if (addr === undefined) return { peer: false, reason: `"${hostPort}" is not a TCP host:port` }
  const end = Date.now() + timeoutMs
  let id: string
  try {
    const conn = await libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(timeoutMs) })
    id = conn.remotePeer.toString()
  } catch (e) {
    return { peer: false, reason: `no libp2p peer at ${hostPort}: ${(e as Error).message}` }
  }
  if (id === libp2p.peerId.toString()) return { peer: true, reason: 'this node itself' }
  // The outbound side runs hello on connection open; an existing connection already did.
  while (Date.now() < end) {
    const hello = peers.get(id)?.hello
    if (hello !== undefined) return { peer: true, reason: `${id} (${hello.role}) answered hello` }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { peer: false, reason: `${id} at ${hostPort} did not complete convoy's hello` }
}
