/** The options a convoy node is created with. */

import { PLATFORM_RE } from '../../core/manifest/release.ts'
import { NAME_RE } from '../../core/manifest/schema.ts'
import type { BandwidthLimits } from '../../core/net/bandwidth.ts'
import { DEFAULT_ROLE, type Role } from '../../core/net/hello.ts'
import type { NetworkConfig } from '../../core/net/network-config.ts'
import { isVersion } from '../../core/version/version.ts'
import type { ArtifactsInit } from './artifacts.ts'
import { hookField, positiveField, stringField } from './init-check.ts'

/** Options for {@link ConvoyNode.create}. */
export interface ConvoyNodeInit {
  network: NetworkConfig
  /** Data directory (identity, trust floor, manifests, artifacts). */
  dataDir: string
  /** Channel followed. @default "stable" */
  channel?: string
  /** Listen multiaddrs. @default ["/ip4/127.0.0.1/tcp/0"] */
  listen?: string[]
  /**
   * Listen with SO_REUSEPORT, so the node that replaces this one in a release switch can bind the
   * same port before this one closes (core/net/reuse-port.ts says where that exists). @default false
   */
  reusePort?: boolean
  /** Version this node says it runs. @default CONVOY_VERSION */
  version?: string
  /** @default "node" ({@link DEFAULT_ROLE}) */
  role?: Role
  /** Capabilities claimed in hello. @default BASE_CAPABILITIES */
  capabilities?: string[]
  /** Sequences claimed in hello instead of the verified ones (tests: a lying Sybil). */
  claimSequences?: Record<string, number>
  /** Artifact platform this node installs. @default "node" */
  platform?: string
  /** Connection limit; above it the lowest-ranked peers are pruned first. @default 100 */
  maxConnections?: number
  /** Inbound connections accepted per second from one host. @default 50 */
  inboundConnectionThreshold?: number
  /** Period of DHT lookups for new roots and manifests, ms; a quarter of it while a freeze is suspected. @default 60000 */
  lookupIntervalMs?: number
  /**
   * The first republish of the trusted latest manifest after start, ms (randomised +-25%).
   * A node reads back the records it held (dht-store.bin), but a network whose nodes all
   * restarted without that file, and kad-dht nodes that are not convoy's, hold none until
   * someone puts them again. @default 60000
   */
  firstRepublishMs?: number
  /** Deadline for each hello read and write, ms. @default 5000 */
  helloTimeoutMs?: number
  /** Fetch the artifact of each new release on the channel and serve it to peers. @default true for role "node" */
  fetchArtifacts?: boolean
  /**
   * Bandwidth budgets: upload and download rate caps and a monthly upload quota (core
   * net/bandwidth.ts); a rate cap must keep the fetchers' floor (`artifactOptions`'
   * minBytesPerSecond, 256 KiB/s by default). The month's count is kept in the data dir's
   * bandwidth.json. @default DEFAULT_BANDWIDTH (no limits)
   */
  bandwidth?: Partial<BandwidthLimits>
  /** Passed to the artifact service. */
  artifactOptions?: Omit<ArtifactsInit, 'network' | 'storeDir'>
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number
  /** Receives one line per notable event (for logs). */
  log?: (line: string) => void
}

/** The role `init` names, or {@link DEFAULT_ROLE}. */
export function roleOf(init: Pick<ConvoyNodeInit, 'role'>): Role {
  return init.role ?? DEFAULT_ROLE
}

const ROLES: readonly Role[] = ['node', 'shadow', 'publisher']

/**
 * Checks `init` before anything is opened: every option that is set must be of its kind, and the
 * error names it (`convoy node: maxConnections must be a positive integer, got 0`).
 */
export function checkNodeInit(init: ConvoyNodeInit): void {
  const area = 'convoy node'
  if (typeof init.network !== 'object' || init.network === null)
    throw new TypeError(`${area}: network must be a decoded network config`)
  stringField(area, 'dataDir', init.dataDir, 'path')
  if (init.channel !== undefined && !NAME_RE.test(String(init.channel)))
    throw new TypeError(`${area}: channel must be a name like "stable", got ${init.channel}`)
  if (init.version !== undefined && !isVersion(init.version))
    throw new TypeError(`${area}: version must be a semver version like 1.2.3, got ${init.version}`)
  if (init.role !== undefined && !ROLES.includes(init.role))
    throw new TypeError(`${area}: role must be one of ${ROLES.join(', ')}, got ${init.role}`)
  if (init.platform !== undefined && !PLATFORM_RE.test(String(init.platform)))
    throw new TypeError(
      `${area}: platform must be a platform name like "node", got ${init.platform}`,
    )
  if (init.listen !== undefined && (!Array.isArray(init.listen) || init.listen.length === 0))
    throw new TypeError(`${area}: listen must be a non-empty list of multiaddrs`)
  for (const field of [
    'maxConnections',
    'inboundConnectionThreshold',
    'lookupIntervalMs',
    'firstRepublishMs',
    'helloTimeoutMs',
  ] as const)
    if (init[field] !== undefined) positiveField(area, field, init[field], true)
  for (const field of ['now', 'log'] as const)
    if (init[field] !== undefined) hookField(area, field, init[field])
}
