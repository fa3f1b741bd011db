/**
 * A real test network on loopback: maintainer keys, a signed anchor root, releases, and N
 * ConvoyNodes (real libp2p over TCP) in temporary data dirs. Plus hostile raw libp2p nodes.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import {
  BASE_CAPABILITIES,
  ConvoyNode,
  type ConvoyNodeInit,
} from '../../src/adapters/libp2p/node.ts'
import { chunkIndexPinOf } from '../../src/adapters/libp2p/partial-artifact.ts'
import type { NodeStatus } from '../../src/adapters/libp2p/status.ts'
import {
  draftRelease,
  draftRevocation,
  draftRoot,
  type ReleaseDraft,
  rootKey,
  signDocument,
} from '../../src/core/manifest/draft.ts'
import { encodeEnvelope } from '../../src/core/manifest/envelope.ts'
import { type ArtifactPin, decodeRelease } from '../../src/core/manifest/release.ts'
import {
  decodeNetworkConfig,
  encodeNetworkConfig,
  type NetworkConfig,
} from '../../src/core/net/network-config.ts'
import { keys, type TestKey } from '../core/fixtures.ts'

export const NETWORK = 'testnet'
export const MAINTAINERS: TestKey[] = keys('net-maint-', 3)
export const OUTSIDERS: TestKey[] = keys('net-outsider-', 3)

/** The anchor root: 2 of 3. */
export const anchorBytes: Uint8Array = (() => {
  let env = draftRoot({
    network: NETWORK,
    threshold: 2,
    keys: MAINTAINERS.map((k) => rootKey(k.publicKey, k.label)),
    expires: Date.now() + 365 * 86_400_000,
  })
  for (const k of MAINTAINERS.slice(0, 2)) env = signDocument(env, k.secretKey)
  return encodeEnvelope(env)
})()

/** A network config with the given bootstrap peers. */
export function networkConfig(bootstrap: string[] = []): NetworkConfig {
  const r = decodeNetworkConfig(encodeNetworkConfig(anchorBytes, NETWORK, bootstrap))
  if (!r.ok) throw new Error(r.reason)
  return r.value
}

/** A signed release manifest's bytes. */
export function release(
  version: string,
  sequence: number,
  signers: TestKey[] = MAINTAINERS.slice(0, 2),
  over: Partial<ReleaseDraft> = {},
): Uint8Array {
  let env = draftRelease({
    network: NETWORK,
    channel: 'stable',
    version,
    sequence,
    expires: Date.now() + 30 * 86_400_000,
    capabilities: [...BASE_CAPABILITIES],
    artifacts: {
      node: { sha256: createHash('sha256').update(version).digest('hex'), length: version.length },
    },
    ...over,
  })
  for (const k of signers) env = signDocument(env, k.secretKey)
  return encodeEnvelope(env)
}

/** A revocation of the release `releaseBytes`, signed by `signers`. */
export function revocation(
  releaseBytes: Uint8Array,
  signers: TestKey[] = MAINTAINERS.slice(0, 2),
  reason = 'it loses data on restart',
): Uint8Array {
  const d = decodeRelease(releaseBytes)
  if (!d.ok) throw new Error(d.reason)
  let env = draftRevocation({ release: d.value.signed, reason, issued: Date.now() })
  for (const k of signers) env = signDocument(env, k.secretKey)
  return encodeEnvelope(env)
}

/** An artifact file and its pin. */
export async function artifactFile(
  dir: string,
  bytes: number,
): Promise<{ path: string; data: Buffer; pin: ArtifactPin; indexPin: ArtifactPin }> {
  const data = randomBytes(bytes)
  const path = join(dir, `artifact-${data.subarray(0, 4).toString('hex')}.bin`)
  await writeFile(path, data)
  return {
    path,
    data,
    pin: { sha256: createHash('sha256').update(data).digest('hex'), length: data.length },
    // The chunk index a release pins as `node.chunks`, as `release draft` pins it.
    indexPin: await chunkIndexPinOf(path, data.length),
  }
}

/** A set of running nodes and their temp dirs. */
export class TestNet {
  readonly nodes: ConvoyNode[] = []
  readonly dirs: string[] = []
  readonly extra: Array<Libp2p<{ dht: KadDHT }>> = []
  bootstrap: string[] = []

  async tempDir(prefix = 'convoy-net-'): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.push(d)
    return d
  }

  /** Starts one node; the first one started becomes everyone's bootstrap peer. */
  async add(init: Partial<ConvoyNodeInit> = {}): Promise<ConvoyNode> {
    const node = await ConvoyNode.create({
      network: networkConfig(this.bootstrap),
      dataDir: init.dataDir ?? (await this.tempDir()),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      // Honest test nodes run the newest release the tests publish (1.3.0): "unverified" until it
      // is published, normal after; never behind.
      version: '1.3.0',
      lookupIntervalMs: 3000,
      helloTimeoutMs: 2000,
      artifactOptions: { minBytesPerSecond: 64 * 1024, stallTimeoutMs: 2000 },
      ...init,
    })
    await node.start()
    this.nodes.push(node)
    if (this.bootstrap.length === 0) this.bootstrap = [node.libp2p.getMultiaddrs()[0]!.toString()]
    return node
  }

  /** Stops and removes a node (its data dir stays, so it can be restarted). */
  async remove(node: ConvoyNode): Promise<void> {
    this.nodes.splice(this.nodes.indexOf(node), 1)
    await node.stop()
  }

  /** A raw libp2p node on the same network protocols, with permissive record validators: an attacker. */
  async rawNode(): Promise<Libp2p<{ dht: KadDHT }>> {
    const accept = async () => {}
    const node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify({ protocolPrefix: `convoy/${NETWORK}` }),
        ping: ping({ protocolPrefix: `convoy/${NETWORK}` }),
        dht: kadDHT({
          protocol: `/convoy/${NETWORK}/kad/1.0.0`,
          clientMode: false,
          peerInfoMapper: passthroughMapper,
          allowQueryWithZeroPeers: true,
          validators: { 'convoy-rel': accept, 'convoy-root': accept },
          selectors: { 'convoy-rel': () => 0, 'convoy-root': () => 0 },
        }),
      },
    })
    this.extra.push(node as unknown as Libp2p<{ dht: KadDHT }>)
    return node as unknown as Libp2p<{ dht: KadDHT }>
  }

  async stop(): Promise<void> {
    await Promise.allSettled([
      ...this.nodes.map((n) => n.stop()),
      ...this.extra.map((n) => n.stop()),
    ])
    this.nodes.length = 0
    await Promise.allSettled(this.dirs.map((d) => rm(d, { recursive: true, force: true })))
  }
}

/** Polls `check` until it returns true or the deadline passes; returns the elapsed ms. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await check()) return Date.now() - start
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Waits until `check` holds for every node of `list` (60 s by default: generous, not a budget). */
export function everyone(
  what: string,
  check: (n: ConvoyNode) => Promise<boolean> | boolean,
  list: readonly ConvoyNode[],
  timeoutMs = 60_000,
): Promise<number> {
  return waitFor(what, async () => (await Promise.all(list.map(check))).every(Boolean), timeoutMs)
}

/**
 * One network of `size` nodes shared by a whole test file: starts them in `before` (every node
 * connected), stops them in `after`. `nodes` is filled once `before` ran; `everyone` checks all
 * of them unless given a list.
 */
export function sharedNetwork(
  size: number,
  hooks: { before: (fn: () => Promise<void>) => void; after: (fn: () => Promise<void>) => void },
): {
  net: TestNet
  nodes: ConvoyNode[]
  everyone: (
    what: string,
    check: (n: ConvoyNode) => Promise<boolean> | boolean,
    list?: readonly ConvoyNode[],
    timeoutMs?: number,
  ) => Promise<number>
} {
  const net = new TestNet()
  const nodes: ConvoyNode[] = []
  hooks.before(async () => {
    for (let i = 0; i < size; i++) nodes.push(await net.add())
    await everyone('every node connected', (n) => n.libp2p.getConnections().length >= 1, nodes)
  })
  hooks.after(async () => {
    await net.stop()
    nodes.length = 0
  })
  return {
    net,
    nodes,
    everyone: (what, check, list = nodes, timeoutMs) => everyone(what, check, list, timeoutMs),
  }
}

/** The sequence of the newest manifest a node trusts on channel "stable" (0: none). */
export const latestSeq = (n: ConvoyNode): number =>
  n.trustState().channels.stable?.latest?.sequence ?? 0

/** The status entry a node has for a peer. */
export async function peerIn(
  node: ConvoyNode,
  peer: ConvoyNode,
): Promise<NodeStatus['peers'][number] | undefined> {
  const s = await node.status()
  return s.peers.find((p) => p.peerId === peer.libp2p.peerId.toString())
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for tests that need a fixed port). */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}
