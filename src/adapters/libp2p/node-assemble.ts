/**
 * Assembling a node's libp2p: transports, encryption, muxer, connection limits, the bounded
 * datastore, and the services (identify, ping, kad-dht with convoy's validators and selectors,
 * artifacts, reports). The validators and hooks call back into the node through `self`.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { DEFAULT_MAX_CONNECTIONS } from '../../core/net/pruning.ts'
import type { NodeStore } from '../fs/node-store.ts'
import { artifacts } from './artifacts.ts'
import { BoundedDatastore, datastoreOf } from './bounded-datastore.ts'
import { RecordRejectedError } from './errors.ts'
import type { ConvoyNode } from './node.ts'
import { type ConvoyNodeInit, roleOf } from './node-init.ts'
import type { Services } from './node-state.ts'
import { reports } from './reports.ts'

/**
 * A yamux stream's largest receive window, bytes: 2 MiB, not yamux's 16 MiB. A peer sending to
 * this node holds at most that much of one stream in flight; the flood suite measured 16 MiB
 * windows as the largest spike of an honest node's memory (two 20 MB uploads). Still more than
 * a 100 Mbit/s link's bandwidth-delay product at 100 ms.
 */
const MAX_STREAM_WINDOW = 2 * 1024 * 1024

/** Assembles (but does not start) the libp2p of a node. */
export async function assembleLibp2p(
  init: ConvoyNodeInit,
  privateKey: PrivateKey,
  store: NodeStore,
  version: string,
  self: () => ConvoyNode,
): Promise<Libp2p<Services>> {
  const net = init.network.network
  const datastore = new BoundedDatastore() // quotas: core/net/store-quota.ts
  const libp2p = (await createLibp2p({
    privateKey,
    datastore,
    start: false,
    addresses: { listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW } })],
    connectionManager: {
      maxConnections: init.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      // libp2p's default (5 per second per host) resets peers that share one address, such as a
      // testnet on one machine or many nodes behind one NAT; 50 still stops a connection flood.
      inboundConnectionThreshold: init.inboundConnectionThreshold ?? 50,
      maxIncomingPendingConnections: 32,
    },
    nodeInfo: {
      name: 'convoy',
      version: init.version ?? version,
      userAgent: `convoy/${init.version ?? version}`,
    },
    services: {
      identify: identify({ protocolPrefix: `convoy/${net}` }),
      ping: ping({ protocolPrefix: `convoy/${net}` }),
      dht: kadDHT({
        protocol: `/convoy/${net}/kad/1.0.0`,
        clientMode: roleOf(init) !== 'node',
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
        validators: {
          'convoy-rel': async (key, value) => self().validateReleaseRecord(key, value),
          'convoy-root': async (key, value) => self().validateRootRecord(key, value),
          'convoy-revoke': async (key, value) =>
            self().parts.revocations.validateRecord(key, value),
          // kad-dht's default /pk/ namespace (public keys by peer id) serves convoy nothing:
          // Ed25519 peer ids embed their key. Refused, so nobody can store records in it.
          pk: async () => {
            throw new RecordRejectedError('a convoy network stores no /pk/ records')
          },
        },
        selectors: {
          'convoy-rel': (key, records) => self().selectReleaseRecord(key, records),
          'convoy-root': (key, records) => self().selectRootRecord(key, records),
          'convoy-revoke': (key, records) => self().parts.revocations.selectRecord(key, records),
        },
      }),
      artifacts: artifacts({
        network: net,
        storeDir: store.artifactsDir,
        ...(init.artifactOptions ?? {}),
      }),
      // A shadow must not speak for the node, nor a publisher for anyone: neither carries reports.
      reports: reports({
        network: net,
        relay: roleOf(init) === 'node',
        isKnownRelease: (digest) => self().knowsRelease(digest),
        standing: (r) => self().parts.admission.standing(r),
        onAccepted: (r) => self().parts.admission.sawReport(r),
        onMisbehaviour: (peer, reason) => self().onReportFault(peer, reason),
        ...(init.now ? { now: init.now } : {}),
      }),
    },
  })) as Libp2p<Services>
  datastoreOf.set(libp2p, datastore)
  return libp2p
}
