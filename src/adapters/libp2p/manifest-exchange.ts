/**
 * Direct manifest exchange: a node that hears of a newer sequence in a peer's hello asks that
 * peer for the manifest (and any roots newer than its own) instead of waiting for a DHT lookup.
 * Everything received goes through the same verification as a DHT record; the DHT stays the
 * fallback and the periodic check against a freeze.
 *
 *   request  { "channel": name, "rootVersion": n }                (length-prefixed JSON, <= 256 B)
 *   response { "roots": k, "manifest": true|false }               (length-prefixed JSON, <= 256 B)
 *            k roots, oldest first, then the manifest             (each length-prefixed, <= 64 KiB)
 */
import type { AbortOptions, PeerId, Startable, Stream } from '@libp2p/interface'
import { serviceCapabilities } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { lpStream } from '@libp2p/utils'
import { MAX_RELEASE_BYTES } from '../../core/manifest/release.ts'
import { MAX_ROOT_BYTES } from '../../core/manifest/root.ts'
import { type Budget, PROTOCOL_BUDGETS } from '../../core/net/budget.ts'
import { protocolId } from '../../core/net/hello.ts'
import {
  decodeManifestReplyHead,
  decodeManifestRequest,
  encodeManifestReplyHead,
  encodeManifestRequest,
  MAX_ROOTS_PER_REPLY,
} from '../../core/net/wire.ts'
import { readFrame } from './frames.ts'
import { hookField, positiveField, stringField } from './init-check.ts'
import { BudgetedHandler, handlerOptions, withDeadline } from './stream-budget.ts'

/** The largest frame either side reads: a manifest or a root. */
const MAX_FRAME = Math.max(MAX_RELEASE_BYTES, MAX_ROOT_BYTES)

/** Protocol id on `network`. */
export function manifestProtocol(network: string): string {
  return protocolId(network, 'manifest')
}

/** What a server has to offer for one request. */
export interface ManifestOffer {
  roots: Uint8Array[]
  manifest?: Uint8Array
}

/** Serves one request; `lookup` returns what this node holds. Faults just end the stream. */
export async function serveManifest(
  stream: Stream,
  lookup: (channel: string, rootVersion: number) => Promise<ManifestOffer>,
  timeoutMs: number,
): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME })
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const req = decodeManifestRequest(await readFrame(lp, timeoutMs, MAX_FRAME, signal))
    if (!req.ok) throw new Error(req.reason)
    const offer = await lookup(req.value.channel, req.value.rootVersion)
    const roots = offer.roots.slice(0, MAX_ROOTS_PER_REPLY)
    await lp.write(
      encodeManifestReplyHead({ roots: roots.length, manifest: offer.manifest !== undefined }),
      { signal },
    )
    for (const r of roots) await lp.write(r, { signal })
    if (offer.manifest) await lp.write(offer.manifest, { signal })
    await stream.close({ signal })
  } catch (e) {
    stream.abort(e instanceof Error ? e : new Error(String(e)))
  }
}

/** Asks a peer; returns raw bytes for the caller to verify. Throws on any fault. */
export async function requestManifest(
  stream: Stream,
  channel: string,
  rootVersion: number,
  timeoutMs: number,
): Promise<ManifestOffer> {
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME })
  const signal = AbortSignal.timeout(timeoutMs)
  await lp.write(encodeManifestRequest({ channel, rootVersion }), { signal })
  const head = decodeManifestReplyHead(await readFrame(lp, timeoutMs, MAX_FRAME, signal))
  if (!head.ok) throw new Error(head.reason)
  const h = head.value
  const roots: Uint8Array[] = []
  for (let i = 0; i < h.roots; i++) {
    const r = await readFrame(lp, timeoutMs, MAX_FRAME, signal)
    if (r.length > MAX_ROOT_BYTES) throw new Error('root too large')
    roots.push(r)
  }
  const offer: ManifestOffer = { roots }
  if (h.manifest) {
    const m = await readFrame(lp, timeoutMs, MAX_FRAME, signal)
    if (m.length > MAX_RELEASE_BYTES) throw new Error('manifest too large')
    offer.manifest = m
  }
  await stream.close({ signal }).catch(() => {})
  return offer
}

/** Options of the {@link manifestExchange} service. */
export interface ManifestExchangeInit {
  /** The network whose protocol id (`/convoy/<network>/manifest/1.0.0`) the service speaks. */
  network: string
  /** What this node holds for a request: roots newer than `rootVersion`, the channel's latest. */
  offerFor: (channel: string, rootVersion: number) => Promise<ManifestOffer>
  /** A stream was refused by the peer's budget (counted as `budget_refused`). */
  onRefused?: () => void
  /** Per-peer rate, burst and concurrency. @default PROTOCOL_BUDGETS.manifest */
  budget?: Budget
  /** Deadline of one exchange, either side, ms. @default 5000 */
  timeoutMs?: number
  /** Inbound manifest streams per connection. @default 4 */
  maxInboundStreams?: number
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number
}

/** What the {@link manifestExchange} service needs of libp2p. */
export interface ManifestExchangeComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
}

/** Direct manifest exchange as a libp2p service: it serves peers and asks them. */
export interface ManifestExchangeService {
  /** Asks `peer` for `channel`'s latest manifest and the roots after `rootVersion`; unverified. */
  request(
    peer: PeerId,
    channel: string,
    rootVersion: number,
    options?: AbortOptions,
  ): Promise<ManifestOffer>
  /** Drops the budget kept for `peer` (on disconnect). */
  forget(peer: string): void
}

/** A libp2p service factory: `services: { manifests: manifestExchange({ network, offerFor }) }`. */
export function manifestExchange(
  init: ManifestExchangeInit,
): (components: ManifestExchangeComponents) => ManifestExchangeService & Startable {
  const service = 'manifestExchange'
  const config: ManifestConfig = {
    network: stringField(service, 'network', init.network),
    offerFor: hookField(service, 'offerFor', init.offerFor),
    timeoutMs: positiveField(service, 'timeoutMs', init.timeoutMs ?? 5000),
    ...handlerOptions(service, init, PROTOCOL_BUDGETS.manifest),
  }
  return (components) => new ManifestExchange(components, config)
}

type ManifestConfig = Required<Omit<ManifestExchangeInit, 'onRefused'>> &
  Pick<ManifestExchangeInit, 'onRefused'>

class ManifestExchange implements ManifestExchangeService, Startable {
  readonly [Symbol.toStringTag] = '@convoy/manifest-exchange'
  readonly [serviceCapabilities]: string[] = ['@convoy/manifest-exchange']
  private readonly protocol: string
  private readonly handler: BudgetedHandler
  private readonly components: ManifestExchangeComponents
  private readonly config: ManifestConfig

  constructor(components: ManifestExchangeComponents, config: ManifestConfig) {
    this.components = components
    this.config = config
    this.protocol = manifestProtocol(config.network)
    this.handler = new BudgetedHandler(components.registrar, {
      ...config,
      protocol: this.protocol,
      what: 'manifest',
      serve: (stream) => serveManifest(stream, config.offerFor, config.timeoutMs),
    })
  }

  start(): Promise<void> {
    return this.handler.start()
  }

  stop(): Promise<void> {
    return this.handler.stop()
  }

  async request(
    peer: PeerId,
    channel: string,
    rootVersion: number,
    options: AbortOptions = {},
  ): Promise<ManifestOffer> {
    const stream = await this.components.connectionManager.openStream(peer, this.protocol, {
      signal: withDeadline(options, this.config.timeoutMs),
    })
    try {
      return await requestManifest(stream, channel, rootVersion, this.config.timeoutMs)
    } catch (e) {
      stream.abort(e instanceof Error ? e : new Error(String(e)))
      throw e
    }
  }

  forget(peer: string): void {
    this.handler.forget(peer)
  }
}
