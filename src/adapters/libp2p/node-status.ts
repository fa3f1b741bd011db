/** What `GET /status` shows of a node, built from its state and parts. */
import type { Libp2p } from '@libp2p/interface'
import { decodeRelease } from '../../core/manifest/release.ts'
import { channelHistory, currentRoot } from '../../core/trust/trust.ts'
import { latestRelease } from '../../core/version/history.ts'
import { datastoreOf } from './bounded-datastore.ts'
import type { NodeParts, NodeState } from './node-state.ts'
import { recentlySeen } from './peer-table.ts'
import type { ManifestStatus, NodeStatus, PeerStatus } from './status.ts'

/** Most entries of {@link NodeStatus.knownAddrs}. */
export const MAX_KNOWN_ADDRS = 2000

/** `host:port` of every TCP address in the peer store, sorted, at most {@link MAX_KNOWN_ADDRS}. */
export async function knownAddrs(libp2p: Libp2p): Promise<string[]> {
  const out = new Set<string>()
  for (const peer of await libp2p.peerStore.all()) {
    for (const a of peer.addresses) {
      const hp = tcpHostPort(a.multiaddr.getComponents())
      if (hp !== undefined) out.add(hp)
    }
  }
  return [...out].sort().slice(0, MAX_KNOWN_ADDRS)
}

/** Everything `GET /status` shows of a node started at `startedAt`. */
export async function nodeStatus(
  state: NodeState,
  parts: NodeParts,
  startedAt: number,
): Promise<NodeStatus> {
  const now = state.now()
  const connected = new Map<string, string>()
  for (const c of state.libp2p.getConnections())
    connected.set(c.remotePeer.toString(), c.remoteAddr.toString())
  const peers: PeerStatus[] = []
  const toldWeAre: Record<string, number> = {}
  for (const [id, e] of parts.peerTable.peers) {
    const isConnected = connected.has(id)
    // Disconnected peers stay listed for a while with their last rank: a runner can see who was
    // pruned or refused, and why.
    if (!isConnected && e.misbehaviour === 0 && !recentlySeen(e, now)) continue
    if (e.verdictOnUs && isConnected)
      toldWeAre[e.verdictOnUs.status] = (toldWeAre[e.verdictOnUs.status] ?? 0) + 1
    peers.push({
      peerId: id,
      ...(connected.get(id) ? { addr: connected.get(id)! } : {}),
      connected: isConnected,
      ...(e.hello
        ? {
            version: e.hello.version,
            channel: e.hello.channel,
            role: e.hello.role,
            capabilities: e.hello.capabilities,
          }
        : {}),
      ...(e.agent ? { agent: e.agent } : {}),
      rank: e.rank?.rank ?? 'pending',
      ...(e.rank?.behind !== undefined ? { behind: e.rank.behind } : {}),
      reasons: e.rank?.reasons ?? [],
      ...(e.verdictOnUs ? { saysWeAre: e.verdictOnUs.status } : {}),
      misbehaviour: e.misbehaviour,
    })
  }
  const manifests: ManifestStatus[] = []
  for (const [channel, t] of Object.entries(state.trust.channels)) {
    for (const r of t.releases.slice(-4)) {
      const bytes = await state.store.readManifest(channel, r.sequence)
      const d = bytes ? decodeRelease(bytes) : undefined
      if (!d?.ok) continue
      const pin = d.value.signed.artifacts[state.platform]
      manifests.push({
        channel,
        version: r.version,
        sequence: r.sequence,
        digest: r.digest,
        expires: d.value.signed.expires,
        expired: now >= Date.parse(d.value.signed.expires),
        artifactHeld: pin !== undefined && (await state.libp2p.services.artifacts.has(pin.sha256)),
      })
    }
  }
  const latest = latestRelease(channelHistory(state.trust, state.channel))
  const channels = new Set([state.channel, ...parts.lookups.claims.keys()])
  const counters: Record<string, number> = { ...state.counters }
  const a = state.libp2p.services.artifacts.stats()
  counters.artifact_bytes_uploaded = a.bytesUploaded
  counters.artifact_bytes_downloaded = a.bytesDownloaded
  counters.artifact_providers_dropped_slow = a.providersDropped.slow
  counters.artifact_providers_dropped_wrong = a.providersDropped.wrong
  counters.artifact_uploads_too_slow = a.uploadsTooSlow
  const ds = datastoreOf.get(state.libp2p)
  if (ds !== undefined) {
    counters.dht_store_refused = Object.values(ds.refused).reduce((x, y) => x + y, 0)
    counters.dht_store_records = ds.quota.counts.records
    counters.dht_store_providers = ds.quota.counts.providers
  }
  const rs = state.libp2p.services.reports.stats()
  counters.reports_accepted = rs.accepted
  counters.reports_duplicate = rs.duplicates
  counters.reports_refused = Object.values(rs.refused).reduce((x, y) => x + (y ?? 0), 0)
  counters.reports_misbehaviour = rs.misbehaviour
  counters.reports_sent = rs.sent
  return {
    peerId: state.libp2p.peerId.toString(),
    network: state.network.network,
    version: state.version,
    channel: state.channel,
    role: state.role,
    addresses: state.libp2p.getMultiaddrs().map((m) => m.toString()),
    rootVersion: currentRoot(state.trust).version,
    startedAt,
    now,
    toldWeAre,
    peers: peers.sort((x, y) => (x.peerId < y.peerId ? -1 : 1)),
    manifests,
    ...(latest ? { latest: { version: latest.version, sequence: latest.sequence } } : {}),
    freeze: [...channels].map((c) => parts.lookups.freezeStatus(c)),
    fetching: [...parts.releaseArtifacts.fetching.values()].map((f) => ({ ...f })),
    counters,
    evidence: state.libp2p.services.reports.evidence(),
    knownAddrs: await knownAddrs(state.libp2p),
    revoked: parts.revocations.held.map((r) => ({ ...r })),
    bandwidth: state.bandwidth.status(now),
  }
}

/** `host:port` of a TCP multiaddr (ip4, ip6 as `[addr]:port`, or dns), else undefined. */
function tcpHostPort(parts: Array<{ name: string; value?: string }>): string | undefined {
  const [host, port] = parts
  if (host?.value === undefined || port?.name !== 'tcp' || port.value === undefined)
    return undefined
  if (host.name === 'ip4' || host.name.startsWith('dns')) return `${host.value}:${port.value}`
  if (host.name === 'ip6') return `[${host.value}]:${port.value}`
  return undefined
}
