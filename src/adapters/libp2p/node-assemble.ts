/**
 * The libp2p node a {@link ConvoyNode} runs on: TCP (with SO_REUSEPORT when asked, so a release
 * switch can bind the port before the old node lets go of it), noise offered before TLS 1.3,
 * yamux, identify, ping, the network's kad-dht with convoy's validators and selectors, and the
 * hello, manifest-exchange, artifact and report services. What the services call back into
 * lives in the node ({@link NodeHooks}).
 */

import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Connection, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { type TCPSocketOptions, tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { createLibp2p } from 'libp2p'
import { protocolId } from '../../core/net/hello.ts'
import { DEFAULT_MAX_CONNECTIONS } from '../../core/net/pruning.ts'
import type { Report } from '../../core/rollout/evidence.ts'
import type { NodeStore } from '../fs/node-store.ts'
import { artifacts } from './artifacts.ts'
import type { BandwidthGate } from './bandwidth.ts'
import { BoundedDatastore, DHT_STORE_FILE, datastoreOf } from './bounded-datastore.ts'
import { RecordRejectedError } from './errors.ts'
import { type HelloOutcome, type HelloSide, hello } from './hello.ts'
import { type ManifestOffer, manifestExchange } from './manifest-exchange.ts'
import { type ConvoyNodeInit, roleOf } from './node-init.ts'
import type { Services } from './node-state.ts'
import { reports } from './reports.ts'

/** What the DHT and report services ask of the node. */
export interface NodeHooks {
  validateRelease: (key: Uint8Array, value: Uint8Array) => void | Promise<void>
  validateRoot: (key: Uint8Array, value: Uint8Array) => void | Promise<void>
  validateRevocation: (key: Uint8Array, value: Uint8Array) => void | Promise<void>
  selectRelease: (key: Uint8Array, records: Uint8Array[]) => number
  selectRoot: (key: Uint8Array, records: Uint8Array[]) => number
  selectRevocation: (key: Uint8Array, records: Uint8Array[]) => number
  knowsRelease: (digest: string) => boolean
  standing: (r: Report) => number
  sawReport: (r: Report) => void
  onReportFault: (peer: PeerId, reason: string) => void
  helloSide: () => HelloSide
  onHello: (connection: Connection, outcome: HelloOutcome) => void
  onHelloFault: (connection: Connection, error: unknown) => void
  offerFor: (channel: string, rootVersion: number) => Promise<ManifestOffer>
  /** A stream refused by a peer's budget. */
  onBudgetRefused: () => void
}

/**
 * The TCP listen options: `reusePort` when the node is to share its port with the node that
 * replaces it. @libp2p/tcp 11 spreads `listenOpts` into the options of `net.Server.listen()`
 * (listener.js: `multiaddrToNetConfig(ma, context)`), though its type names only a few socket
 * options; test/net/reuse-port.test.ts proves two nodes bind one port with it.
 */
export function listenOptions(reusePort: boolean): TCPSocketOptions {
  return (reusePort ? { reusePort: true } : {}) as TCPSocketOptions
}

/**
 * A yamux stream's largest receive window, bytes: 2 MiB, not yamux's 16 MiB. A peer sending to
 * this node holds at most that much of one stream in flight; the flood suite measured 16 MiB
 * windows as the largest spike of an honest node's memory (two 20 MB uploads). Still more than
 * a 100 Mbit/s link's bandwidth-delay product at 100 ms.
 */
const MAX_STREAM_WINDOW = 2 * 1024 * 1024

/** Assembles (but does not start) the libp2p node of `init`, its transfers under `bandwidth`. */
export async function assembleLibp2p(
  init: ConvoyNodeInit,
  version: string,
  privateKey: PrivateKey,
  store: NodeStore,
  bandwidth: BandwidthGate,
  hooks: NodeHooks,
): Promise<Libp2p<Services>> {
  const net = init.network.network
  const role = roleOf(init)
  const datastore = new BoundedDatastore() // quotas: core/net/store-quota.ts
  const libp2p = (await createLibp2p({
    datastore,
    privateKey,
    start: false,
    addresses: { listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp({ listenOpts: listenOptions(init.reusePort === true) })],
    // Noise offered first, TLS 1.3 (Node's OpenSSL) second, by measurement: TLS is faster on a
    // bare stream but moved artifacts no faster, and a flooded node that served them over TLS
    // grew more in memory (docs/dependencies.md). A peer that offers TLS first still gets it.
    connectionEncrypters: [noise(), tls()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW } })],
    connectionManager: {
      maxConnections: init.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      // libp2p's default (5 per second per host) resets peers that share one address, such as a
      // testnet on one machine or many nodes behind one NAT; 50 still stops a connection flood.
      inboundConnectionThreshold: init.inboundConnectionThreshold ?? 50,
      maxIncomingPendingConnections: 32,
    },
    nodeInfo: { name: 'convoy', version, userAgent: `convoy/${version}` },
    services: {
      identify: identify({ protocolPrefix: `convoy/${net}` }),
      ping: ping({ protocolPrefix: `convoy/${net}` }),
      dht: kadDHT({
        protocol: protocolId(net, 'kad'),
        clientMode: role !== 'node',
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
        validators: {
          'convoy-rel': async (key, value) => hooks.validateRelease(key, value),
          'convoy-root': async (key, value) => hooks.validateRoot(key, value),
          'convoy-revoke': async (key, value) => hooks.validateRevocation(key, value),
          // kad-dht's default /pk/ namespace (public keys by peer id) serves convoy nothing:
          // Ed25519 peer ids embed their key. Refused, so nobody can store records in it.
          pk: async () => {
            throw new RecordRejectedError('a convoy network stores no /pk/ records')
          },
        },
        selectors: {
          'convoy-rel': (key, records) => hooks.selectRelease(key, records),
          'convoy-root': (key, records) => hooks.selectRoot(key, records),
          'convoy-revoke': (key, records) => hooks.selectRevocation(key, records),
        },
      }),
      hello: hello({
        network: net,
        side: () => hooks.helloSide(),
        onHello: (connection, outcome) => hooks.onHello(connection, outcome),
        onFault: (connection, error) => hooks.onHelloFault(connection, error),
        onRefused: () => hooks.onBudgetRefused(),
        ...(init.now ? { now: init.now } : {}),
      }),
      manifests: manifestExchange({
        network: net,
        offerFor: (channel, rootVersion) => hooks.offerFor(channel, rootVersion),
        onRefused: () => hooks.onBudgetRefused(),
        ...(init.now ? { now: init.now } : {}),
      }),
      artifacts: artifacts({
        network: net,
        storeDir: store.artifactsDir,
        ...(init.artifactOptions ?? {}),
        bandwidth,
      }),
      // A shadow must not speak for the node, nor a publisher for anyone: neither carries reports.
      reports: reports({
        network: net,
        relay: role === 'node',
        isKnownRelease: (digest) => hooks.knowsRelease(digest),
        standing: (r) => hooks.standing(r),
        onAccepted: (r) => hooks.sawReport(r),
        onMisbehaviour: (peer, reason) => hooks.onReportFault(peer, reason),
        ...(init.now ? { now: init.now } : {}),
      }),
    },
  })) as Libp2p<Services>
  datastoreOf.set(libp2p, datastore)
  // A node keeps what it stores for others across restarts; a shadow's data dir is a scratch
  // copy and a publisher's is temporary, so theirs stay in memory.
  if (role === 'node') {
    const log = (line: string): void => init.log?.(line)
    const kept = await datastore.persist(join(store.dir, DHT_STORE_FILE), log)
    if (kept > 0) log(`dht store: ${kept} record(s) held for the network read back`)
  }
  return libp2p
}
