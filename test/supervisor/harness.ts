import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Home } from '../../src/adapters/fs/home.ts'
import { ConvoyNode } from '../../src/adapters/libp2p/node.ts'
import {
  fetchStatus,
  runningVersion as nodeRunningVersion,
  readRunning,
} from '../../src/adapters/process/node-api.ts'
import { decodeRelease, type RolloutPolicy } from '../../src/core/manifest/release.ts'
import { documentDigest } from '../../src/core/manifest/signing.ts'
import { chunkIndexPlatform, chunkSizeFor } from '../../src/core/net/chunks.ts'
import { encodeNetworkConfig } from '../../src/core/net/network-config.ts'
import type { RolloutState } from '../../src/core/rollout/machine.ts'
import { rolloutSlot } from '../../src/core/rollout/slot.ts'
import { makeTempDir, removeDir, type Started, startConvoy } from '../cli/helpers.ts'
import { anchorBytes, NETWORK, networkConfig, release, waitFor } from '../net/harness.ts'
import type { Build } from './builds.ts'

/** A rollout policy for tests: short windows, everyone a canary unless told otherwise. */
export function testPolicy(over: Partial<RolloutPolicy> = {}): RolloutPolicy {
  return {
    windowSeconds: 0,
    canaryFraction: 1,
    shadowSeconds: 8,
    probationSeconds: 5,
    minPassReports: 1,
    maxFailureShare: 0.1,
    haltFailureShare: 0.25,
    haltMinFailures: 1,
    ...over,
  }
}

/** One supervisor process and its home. */
export interface Sup {
  name: string
  home: string
  started: Started
  output: () => string
}

/** The network, its publisher, and the supervisors started in it. */
export class SupNet {
  dir = ''
  networkPath = ''
  bootstrap!: ConvoyNode
  readonly sups: Sup[] = []
  private sequence = 0

  async start(): Promise<void> {
    this.dir = await makeTempDir('sup')
    this.bootstrap = await ConvoyNode.create({
      network: networkConfig([]),
      dataDir: join(this.dir, 'bootstrap'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      version: '0.0.1',
      lookupIntervalMs: 2000,
    })
    await this.bootstrap.start()
    const addr = this.bootstrap.libp2p.getMultiaddrs()[0]!.toString()
    this.networkPath = join(this.dir, 'network.json')
    const { writeFile } = await import('node:fs/promises')
    await writeFile(this.networkPath, encodeNetworkConfig(anchorBytes, NETWORK, [addr]))
  }

  /** Signs a release of `build` with the test maintainers, seeds its artifact and publishes it. */
  async publish(build: Build, policy: RolloutPolicy = testPolicy()): Promise<string> {
    const r = await this.publishRelease(build, policy)
    return `${r.release.version}#${r.release.sequence}`
  }

  /** Like {@link publish}; returns the manifest's digest. */
  async publishDigest(build: Build, policy: RolloutPolicy = testPolicy()): Promise<string> {
    const r = await this.publishRelease(build, policy)
    const d = decodeRelease(r.bytes)
    if (!d.ok) throw new Error(d.reason)
    return documentDigest(d.value.signed)
  }

  private async publishRelease(build: Build, policy: RolloutPolicy) {
    this.sequence++
    // Pinned with its chunk index, as `release draft` pins it: nodes of this tree fetch in
    // chunks, and the previous release (test/e2e/upgrade-path.test.ts) must ignore the pin.
    const artifacts = this.bootstrap.libp2p.services.artifacts
    await artifacts.import(build.path, build.pin)
    const indexPin = await artifacts.storeIndex(build.pin.sha256, chunkSizeFor(build.pin.length))
    const bytes = release(build.version, this.sequence, undefined, {
      artifacts: {
        node: build.pin,
        ...(indexPin === undefined ? {} : { [chunkIndexPlatform('node')]: indexPin }),
      },
      rollout: policy,
    })
    return { ...(await this.bootstrap.publish(bytes)), bytes }
  }

  /** Starts `convoy run` in a new home, first release `initial`. */
  startSupervisor(name: string, initial: Build, env: Record<string, string> = {}): Sup {
    const home = join(this.dir, name)
    return this.resume(name, home, ['--release', initial.path], env)
  }

  /**
   * Starts `convoy run` in a new home listening on the fixed `port` (only a fixed port can be
   * handed over at a switch), first release `initial`, and waits until it runs it.
   */
  async startOnPort(name: string, initial: Build, port: number): Promise<Sup> {
    const sup = this.resume(name, join(this.dir, name), [
      '--release',
      initial.path,
      '--listen',
      `/ip4/127.0.0.1/tcp/${port}`,
    ])
    await waitFor(
      `the node on ${initial.version}`,
      async () => (await runningVersion(sup.home)) === initial.version,
      30_000,
    )
    return sup
  }

  /** (Re)starts `convoy run` on an existing home; `entry` runs another build's CLI. */
  resume(
    name: string,
    home: string,
    extra: string[] = [],
    env: Record<string, string> = {},
    entry?: string,
  ): Sup {
    const started = startConvoy(
      [
        'run',
        '--home',
        home,
        '--network',
        this.networkPath,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--api',
        '127.0.0.1:0',
        '--lookup-interval',
        '2s',
        ...extra,
      ],
      { cwd: this.dir, stdin: 'ignore', env, ...(entry !== undefined ? { entry } : {}) },
    )
    const sup = { name, home, started, output: started.output }
    this.sups.push(sup)
    return sup
  }

  async stop(): Promise<void> {
    for (const s of this.sups) {
      if (s.started.child.exitCode === null && s.started.child.signalCode === null) {
        s.started.child.kill('SIGTERM')
        await Promise.race([
          new Promise((r) => s.started.child.once('exit', r)),
          new Promise((r) => setTimeout(r, 15_000)),
        ])
        if (s.started.child.exitCode === null) s.started.child.kill('SIGKILL')
      }
    }
    await this.bootstrap?.stop().catch(() => {})
    await removeDir(this.dir)
  }
}

/** The supervisor's persisted rollout state. */
export function stateOf(home: string): Promise<RolloutState | undefined> {
  return new Home(home).loadState<RolloutState>().catch(() => undefined)
}

/** Waits until the persisted state satisfies `check`. */
export async function waitState(
  sup: Sup,
  what: string,
  check: (s: RolloutState) => boolean,
  timeoutMs = 60_000,
): Promise<RolloutState> {
  let last: RolloutState | undefined
  try {
    await waitFor(
      what,
      async () => {
        last = await stateOf(sup.home)
        return last !== undefined && check(last)
      },
      timeoutMs,
      100,
    )
  } catch (e) {
    throw new Error(
      `${(e as Error).message}; last state: ${last?.phase} (${last?.reason})\n--- ${sup.name} output (tail) ---\n${sup.output().slice(-4000)}`,
    )
  }
  return last!
}

/** The version the node of a home reports through its API (proves which build really runs). */
export function runningVersion(home: string): Promise<string | undefined> {
  return nodeRunningVersion(join(home, 'data'))
}

/** A signed manifest of `build` and its digest, signed before any node exists (slots known). */
export function manifest(
  build: Build,
  sequence: number,
  policy: RolloutPolicy,
): { bytes: Uint8Array; digest: string } {
  const bytes = release(build.version, sequence, undefined, {
    artifacts: { node: build.pin },
    rollout: policy,
  })
  const d = decodeRelease(bytes)
  assert.ok(d.ok)
  return { bytes, digest: documentDigest(d.value.signed) }
}

/** A node identity made for a test: its private key, its peer id and its slot for a digest. */
export interface Identity {
  key: Uint8Array
  id: string
  slot: number
}

/**
 * Identities whose slots for `digest` give exactly `canaries` canaries among `n` nodes, the
 * others no earlier than `minSlot` of the window.
 */
export async function identities(
  digest: string,
  n: number,
  canaries: number,
  policy: RolloutPolicy,
  minSlot = 0,
): Promise<Identity[]> {
  const out: Identity[] = []
  let c = 0
  while (out.length < n) {
    const k = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(k).toString()
    const slot = rolloutSlot(id, digest)
    const canary = slot < policy.canaryFraction
    if (!canary && slot < minSlot) continue
    if (canary && c >= canaries) continue
    if (!canary && out.length - c >= n - canaries) continue
    if (canary) c++
    out.push({ key: privateKeyToProtobuf(k), id, slot })
  }
  return out
}

/**
 * Signs a release of `build` whose slots give `canaries` canaries among `n` fresh nodes (the
 * others at `minSlot` of the window or later), starts them on `initial`, waits until each runs
 * it, then seeds the artifact and publishes: the nodes learn the release only from the network.
 */
export async function releaseToFreshNodes(
  network: SupNet,
  o: {
    build: Build
    policy: RolloutPolicy
    initial: Build
    n: number
    canaries: number
    prefix: string
    minSlot?: number
    /**
     * A peer that never upgrades (the harness's bootstrap): one of the nodes gets a lower slot
     * than it, so the lowest-slot canary rule names a node that does upgrade.
     */
    lowestBelow?: string
  },
): Promise<{ sups: Sup[]; ids: Identity[]; digest: string }> {
  const { bytes, digest } = manifest(o.build, 1, o.policy)
  let ids = await identities(digest, o.n, o.canaries, o.policy, o.minSlot ?? 0)
  if (o.lowestBelow !== undefined) {
    const floor = rolloutSlot(o.lowestBelow, digest)
    while (!ids.some((x) => x.slot < floor))
      ids = await identities(digest, o.n, o.canaries, o.policy, o.minSlot ?? 0)
  }
  const sups = await startWithIdentities(network, o.prefix, ids, o.initial)
  for (const s of sups)
    await waitFor(
      `${s.name} on ${o.initial.version}`,
      async () => (await runningVersion(s.home)) === o.initial.version,
      60_000,
    )
  await knowEachOther(sups, ids)
  await network.bootstrap.libp2p.services.artifacts.import(o.build.path, o.build.pin)
  await network.bootstrap.publish(bytes)
  return { sups, ids, digest }
}

/**
 * Waits until every node's status lists every other one as a node peer. The canary rule is
 * decided at a node's first sight of a release with the peers it knows then (slot.ts): a node
 * that has not yet met the slot canary would act as one too. A network that has settled before
 * a release is the case these tests mean; a half-met one is the documented failure of the rule.
 */
async function knowEachOther(sups: Sup[], ids: Array<{ id: string }>): Promise<void> {
  for (const [i, s] of sups.entries()) {
    const others = ids.filter((_, j) => j !== i).map((x) => x.id)
    await waitFor(
      `${s.name} to know the other ${others.length} nodes`,
      async () => {
        const r = await readRunning(join(s.home, 'data'))
        const st = r === undefined ? undefined : await fetchStatus(r.api)
        if (st === undefined) return false
        const known = new Set(st.peers.filter((p) => p.role === 'node').map((p) => p.peerId))
        return others.every((x) => known.has(x))
      },
      60_000,
      250,
    )
  }
}

/** Starts a supervisor per identity in `network`, each first on `initial`. */
export async function startWithIdentities(
  network: SupNet,
  prefix: string,
  ids: Array<{ key: Uint8Array }>,
  initial: Build,
): Promise<Sup[]> {
  const sups: Sup[] = []
  for (const [i, id] of ids.entries()) {
    const home = join(network.dir, `${prefix}${i}`)
    await mkdir(join(home, 'data'), { recursive: true })
    await writeFile(join(home, 'data', 'identity.key'), id.key, { mode: 0o600 })
    sups.push(network.resume(`${prefix}${i}`, home, ['--release', initial.path]))
  }
  return sups
}
