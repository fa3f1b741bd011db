/**
 * Real libp2p nodes with the artifact service, for the artifact tests (artifacts.test.ts,
 * chunked.test.ts): loopback TCP, noise, yamux, identify, ping, kad-dht.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type Identify, identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import {
  type ArtifactService,
  type ArtifactsInit,
  artifacts,
} from '../../src/adapters/libp2p/artifacts.ts'
import type { ArtifactPin } from '../../src/core/manifest/release.ts'

export const NETWORK = 'test'

/** Fast limits so a slow provider is judged within about a second. */
export const FAST: Partial<ArtifactsInit> = {
  minBytesPerSecond: 64 * 1024,
  rateGraceMs: 300,
  rateWindowMs: 700,
  stallTimeoutMs: 1500,
  requestTimeoutMs: 2000,
}

/** A test node: libp2p with the artifact service, and the folder its store is in. */
export interface TestNode {
  node: Libp2p<{ identify: Identify; ping: Ping; dht: KadDHT; artifacts: ArtifactService }>
  storeDir: string
}

export async function startNode(dir: string, init: Partial<ArtifactsInit> = {}): Promise<TestNode> {
  const storeDir = join(dir, `store-${randomBytes(4).toString('hex')}`)
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify({ protocolPrefix: 'convoy/test' }),
      ping: ping({ protocolPrefix: 'convoy/test' }),
      dht: kadDHT({
        protocol: '/convoy/test/kad/1.0.0',
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
      }),
      artifacts: artifacts({ network: NETWORK, storeDir, ...FAST, ...init }),
    },
  })
  return { node, storeDir }
}

/** A temp dir and the nodes of one test; `close` stops them all and removes the dir. */
/** The nodes of one test in a temp dir. */
export interface Scene {
  dir: string
  add(init?: Partial<ArtifactsInit>): Promise<TestNode>
  close(): Promise<void>
}

export async function scene(): Promise<Scene> {
  const dir = await mkdtemp(join(tmpdir(), 'convoy-artifacts-'))
  const nodes: TestNode[] = []
  return {
    dir,
    async add(init: Partial<ArtifactsInit> = {}): Promise<TestNode> {
      const n = await startNode(dir, init)
      nodes.push(n)
      return n
    },
    async close(): Promise<void> {
      await Promise.allSettled(nodes.map((n) => n.node.stop()))
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export async function artifactFile(
  dir: string,
  length: number,
): Promise<{ path: string; data: Buffer; pin: ArtifactPin }> {
  const data = randomBytes(length)
  const path = join(dir, `artifact-${randomBytes(4).toString('hex')}.bin`)
  await writeFile(path, data)
  return { path, data, pin: { sha256: sha256(data), length } }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export async function connect(from: TestNode, ...to: TestNode[]): Promise<void> {
  for (const t of to) await from.node.dial(t.node.getMultiaddrs())
}

export async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

export function fixed(...nodes: TestNode[]): () => Promise<PeerId[]> {
  return async () => nodes.map((n) => n.node.peerId)
}

export async function assertStoreHoldsOnly(storeDir: string, pin: ArtifactPin): Promise<void> {
  assert.deepEqual(await readdir(storeDir), [pin.sha256], 'only the verified file is in the store')
  const stored = await readFile(join(storeDir, pin.sha256))
  assert.equal(stored.length, pin.length)
  assert.equal(sha256(stored), pin.sha256)
}
