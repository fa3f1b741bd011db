/**
 * What the parts of a convoy node share. node.ts builds one {@link NodeState} and one of each
 * part (peer-table.ts, lookups.ts, records.ts, release-artifacts.ts), and hands every part the
 * state and all the parts, so they call each other as the methods of one class did.
 */
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { NetworkConfig } from '../../core/net/network-config.ts'
import type { TrustState } from '../../core/trust/trust.ts'
import type { NodeStore } from '../fs/node-store.ts'
import type { NodeAdmission } from './admission.ts'
import type { ArtifactService } from './artifacts.ts'
import type { Bandwidth } from './bandwidth.ts'
import type { HelloService } from './hello.ts'
import type { Lookups } from './lookups.ts'
import type { ManifestExchangeService } from './manifest-exchange.ts'
import type { ConvoyNodeInit } from './node-init.ts'
import type { PeerTable } from './peer-table.ts'
import type { Records } from './records.ts'
import type { ReleaseArtifacts } from './release-artifacts.ts'
import type { ReportService } from './reports.ts'
import type { Revocations } from './revocations.ts'

/** The libp2p services of a convoy node. */
export type Services = {
  identify: Identify
  ping: unknown
  dht: KadDHT
  hello: HelloService
  manifests: ManifestExchangeService
  artifacts: ArtifactService
  reports: ReportService
}

/** A node's identity, libp2p, store and trust, with its counters and log. */
export interface NodeState {
  readonly init: ConvoyNodeInit
  readonly libp2p: Libp2p<Services>
  readonly store: NodeStore
  readonly network: NetworkConfig
  readonly channel: string
  readonly version: string
  readonly role: 'node' | 'publisher' | 'shadow'
  readonly platform: string
  /** Clock, ms since the epoch. */
  readonly now: () => number
  /** The node's bandwidth budgets, handed to the artifact service. */
  readonly bandwidth: Bandwidth
  /** The counters `GET /status` shows. */
  readonly counters: Record<string, number>
  /** What the node trusts; replaced as a whole when a root or manifest is ingested. */
  trust: TrustState
  /** True once the node began to stop. */
  stopped: boolean
  /** Logs one line per notable event. */
  emit(line: string): void
}

/** The parts of a node. */
export interface NodeParts {
  /** Reporter admission: the reporter book and first sight of releases. */
  admission: NodeAdmission
  peerTable: PeerTable
  lookups: Lookups
  records: Records
  releaseArtifacts: ReleaseArtifacts
  /** Revocations: verified, persisted, pushed and looked up. */
  revocations: Revocations
}
