/**
 * The real-process testnet: N `convoy run` supervisors, each with its node, as real child
 * processes on loopback, in a network made on the spot (fresh maintainer keys, a 2-of-3 root, an
 * in-process bootstrap node that publishes and seeds). Releases are real packed builds of this
 * repository with bumped versions, signed and published into the DHT; the rollout is followed
 * through each supervisor's state file and each node's status API, and written in the simulator's
 * report format (events.jsonl, timeseries.csv, summary.json, report.html), so a simulated and a
 * real run of one scenario can be compared on one chart.
 *
 * Wall-clock time and real randomness are fine here: this is a driver of real processes, not the
 * deterministic simulator.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import semver from 'semver'
import { type Build, type Fault, packBuild } from '../src/adapters/build/faults.ts'
import { Home } from '../src/adapters/fs/home.ts'
import { BASE_CAPABILITIES, CONVOY_VERSION, ConvoyNode } from '../src/adapters/libp2p/node.ts'
import { runningVersion } from '../src/adapters/process/node-api.ts'
import { stopChild } from '../src/adapters/process/shadow.ts'
import { toHex } from '../src/core/bytes.ts'
import { draftRelease, draftRoot, rootKey, signDocument } from '../src/core/manifest/draft.ts'
import { encodeEnvelope } from '../src/core/manifest/envelope.ts'
import { decodeRelease, type RolloutPolicy } from '../src/core/manifest/release.ts'
import { documentDigest, publicKeyOf } from '../src/core/manifest/signing.ts'
import { decodeNetworkConfig, encodeNetworkConfig } from '../src/core/net/network-config.ts'
import type { Phase, RolloutState } from '../src/core/rollout/machine.ts'
import { isCanary, rolloutSlot } from '../src/core/rollout/slot.ts'
import type { ReleaseOutcome, SimResult, SimSummary } from './engine.ts'
import { PHASES, timeseriesColumns } from './engine.ts'
import { TestnetError } from './errors.ts'

export { TestnetError }

import { sleep } from '../src/adapters/process/timing.ts'
import { createNetnsLab, netnsAvailable } from './netns.ts'
import type { Quality } from './scenario.ts'

/** The `convoy` entry point of this checkout. */
const CONVOY_BIN = fileURLToPath(new URL('../bin/convoy.js', import.meta.url))

/** One release of a testnet run. */
export interface TestnetRelease {
  /** What is wrong with the build (`good`: nothing). @default "good" */
  fault?: Fault
  /** The signed rollout policy; unset fields take {@link TESTNET_POLICY}'s. */
  policy?: Partial<RolloutPolicy>
}

/** A policy short enough for a testnet on one machine. */
export const TESTNET_POLICY: Readonly<RolloutPolicy> = Object.freeze({
  windowSeconds: 40,
  canaryFraction: 0.25,
  shadowSeconds: 10,
  probationSeconds: 5,
  minPassReports: 3,
  maxFailureShare: 0.05,
  haltFailureShare: 0.1,
  haltMinFailures: 1,
})

/** Options of {@link runTestnet}. */
export interface TestnetInit {
  /** Supervisors (and nodes) to run. */
  nodes: number
  /** Working directory for keys, builds, homes and logs: must be missing or empty. */
  work: string
  /** Releases published one after another. @default [{ fault: 'good' }] */
  releases?: TestnetRelease[]
  /** @default "testnet" */
  network?: string
  /**
   * Pick node identities so that node-0 is the one canary of every release by the canary
   * fraction, and no other node is: the story is the same in every run. Without it, a network's
   * canaries are whoever the slots name (and, where they name none, the lowest slot a node
   * knows: `actsAsCanary`). Non-canaries need no arranging: they wait for the canaries'
   * probation passes whatever their slot. @default true
   */
  arrangeSlots?: boolean
  /**
   * Run each node in a network namespace of its own, behind a bridge (simulations/netns.ts), so
   * nodes reach each other over real interfaces with addresses of their own instead of ports on
   * 127.0.0.1. Needs root and iproute2. @default false
   */
  netns?: boolean
  /** How long a build with a crash fault runs as the live node before it crashes, ms. @default 3000 */
  crashAfterMs?: number
  /** How long one release may take to settle on every node, ms. @default 150000 */
  releaseTimeoutMs?: number
  /** Timeline lines and progress. */
  log?: (line: string) => void
}

/** A phase change seen on one node. */
export interface TestnetEvent {
  /** Seconds since the start of the run. */
  t: number
  node: string
  from: Phase
  to: Phase
  target: string | null
  current: string
  reason: string
}

/** What a run did. */
export interface TestnetResult {
  result: SimResult
  events: TestnetEvent[]
  /** Version each node ran at the end (from its status API). */
  finalVersions: Record<string, string | undefined>
  /** Final phase per node. */
  finalPhases: Record<string, Phase>
  versions: string[]
  /** Which nodes were canaries, per release version. */
  canaries: Record<string, string[]>
}

interface NodeProc {
  name: string
  home: string
  child: ChildProcess
  peerId: string
  state?: RolloutState
}

const RESTING: ReadonlySet<Phase> = new Set(['committed', 'bad', 'halted'])

/** A supervisor's persisted state; undefined before the first one (or if it cannot be read). */
function readState(home: string): Promise<RolloutState | undefined> {
  return new Home(home).loadState<RolloutState>().catch(() => undefined)
}

/** The version the node of a home reports through its API. */
function nodeVersion(home: string): Promise<string | undefined> {
  return runningVersion(join(home, 'data'))
}

/** Runs a testnet through its releases and writes the report files into `out`. */
export async function runTestnet(init: TestnetInit): Promise<TestnetResult> {
  const log = init.log ?? (() => {})
  if (!Number.isInteger(init.nodes) || init.nodes < 2 || init.nodes > 64)
    throw new TestnetError(`--nodes ${init.nodes} must be an integer from 2 to 64`)
  const work = resolve(init.work)
  await mkdir(work, { recursive: true })
  if ((await readdir(work)).length > 0)
    throw new TestnetError(`${work} is not empty: pick a new working directory`)
  const network = init.network ?? 'testnet'
  const specs = (init.releases ?? [{ fault: 'good' }]).map((r) => ({
    fault: r.fault ?? ('good' as Fault),
    policy: { ...TESTNET_POLICY, ...r.policy },
  }))
  const started = Date.now()
  const elapsed = () => (Date.now() - started) / 1000

  // Maintainers: three fresh keys, a 2-of-3 anchor root.
  const secrets = [0, 1, 2].map(() => new Uint8Array(randomBytes(32)))
  let root = draftRoot({
    network,
    threshold: 2,
    keys: secrets.map((k, i) => rootKey(toHex(publicKeyOf(k)), `testnet-maintainer-${i}`)),
    expires: Date.now() + 30 * 86_400_000,
  })
  for (const k of secrets.slice(0, 2)) root = signDocument(root, k)
  const anchor = encodeEnvelope(root)
  await writeFile(join(work, 'root.json'), anchor)

  // The bootstrap node: it also publishes and seeds each release.
  const first = decodeNetworkConfig(encodeNetworkConfig(anchor, network, []))
  if (!first.ok) throw new Error(first.reason)
  if (init.netns === true && !(await netnsAvailable()))
    throw new TestnetError(
      'network namespaces need root and iproute2 (`ip netns`); run without --netns to use loopback',
    )
  const lab = init.netns === true ? await createNetnsLab(init.nodes) : undefined
  const procs: NodeProc[] = []
  let bootstrap: ConvoyNode | undefined
  try {
    bootstrap = await ConvoyNode.create({
      network: first.value,
      dataDir: join(work, 'bootstrap'),
      listen: [`/ip4/${lab?.hostIp ?? '127.0.0.1'}/tcp/0`],
      lookupIntervalMs: 2000,
    })
    if (lab) log(`network namespaces: bootstrap on ${lab.hostIp}, nodes on ${lab.nodeIp(0)} ..`)
    await bootstrap.start()
    const networkPath = join(work, 'network.json')
    await writeFile(
      networkPath,
      encodeNetworkConfig(anchor, network, [bootstrap.libp2p.getMultiaddrs()[0]!.toString()]),
    )

    // Builds: the running version, then one bumped version per release.
    const base = semver.valid(CONVOY_VERSION) ?? '0.1.0'
    const versions = [base]
    for (let i = 0; i < specs.length; i++) versions.push(semver.inc(versions.at(-1)!, 'patch')!)
    const buildsDir = join(work, 'builds')
    await mkdir(buildsDir)
    log(`packing ${versions.length} builds of this repository (${versions.join(', ')})`)
    // Packed side by side: each pack is mostly waiting on esbuild and the file system.
    const [baseBuild, ...builds] = (await Promise.all([
      packBuild(base, 'good', buildsDir),
      ...specs.map((spec, i) =>
        packBuild(versions[i + 1]!, spec.fault, buildsDir, {
          crashAfterMs: init.crashAfterMs ?? 3000,
        }),
      ),
    ])) as [Build, ...Build[]]

    // Manifests, signed by 2 of the 3 maintainers; their digests fix every node's slot.
    const manifests = builds.map((b, i) => {
      let env = draftRelease({
        network,
        channel: 'stable',
        version: b.version,
        sequence: i + 1,
        expires: Date.now() + 7 * 86_400_000,
        capabilities: [...BASE_CAPABILITIES],
        artifacts: { node: b.pin },
        rollout: specs[i]!.policy,
        notes: `testnet release ${b.version} (${b.fault})`,
      })
      for (const k of secrets.slice(0, 2)) env = signDocument(env, k)
      const bytes = encodeEnvelope(env)
      const d = decodeRelease(bytes)
      if (!d.ok) throw new Error(d.reason)
      return { bytes, digest: documentDigest(d.value.signed), build: b }
    })

    // Identities, so each node's slot is known (and, by default, arranged: see arrangeSlots).
    const ids: Array<{ key: Uint8Array; id: string }> = []
    const wantCanary = (n: number) => n === 0
    for (let n = 0; n < init.nodes; n++) {
      for (let tries = 0; ; tries++) {
        const k = await generateKeyPair('Ed25519')
        const id = peerIdFromPrivateKey(k).toString()
        const fits =
          init.arrangeSlots === false ||
          tries > 10_000 ||
          manifests.every((m, i) => {
            const p = specs[i]!.policy
            const slot = rolloutSlot(id, m.digest)
            return isCanary(slot, p.canaryFraction) === wantCanary(n)
          })
        if (fits) {
          ids.push({ key: privateKeyToProtobuf(k), id })
          break
        }
      }
    }
    const canaries: Record<string, string[]> = {}
    manifests.forEach((m, i) => {
      canaries[m.build.version] = ids
        .map((x, n) => ({ n, slot: rolloutSlot(x.id, m.digest) }))
        .filter((x) => isCanary(x.slot, specs[i]!.policy.canaryFraction))
        .map((x) => `node-${x.n}`)
    })

    log(`starting ${init.nodes} supervisors on ${base} (homes in ${work})`)
    for (const [n, id] of ids.entries()) {
      const name = `node-${n}`
      const home = join(work, name)
      await mkdir(join(home, 'data'), { recursive: true })
      await writeFile(join(home, 'data', 'identity.key'), id.key, { mode: 0o600 })
      const argv = [
        process.execPath,
        CONVOY_BIN,
        'run',
        '--home',
        home,
        '--network',
        networkPath,
        '--release',
        baseBuild.path,
        '--listen',
        lab ? `/ip4/${lab.nodeIp(n)}/tcp/4001` : '/ip4/127.0.0.1/tcp/0',
        '--api',
        // Inside a namespace its loopback is its own: the API listens where this process can reach it.
        lab ? `${lab.nodeIp(n)}:7070` : '127.0.0.1:0',
        '--lookup-interval',
        '1s',
      ]
      // `ip netns exec` enters the namespace and execs the program: the child is the supervisor.
      const cmd = lab ? [...lab.prefix(n), ...argv] : argv
      const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
      const file = createWriteStream(join(work, `${name}.log`))
      child.stdout?.pipe(file)
      child.stderr?.pipe(file)
      procs.push({ name, home, child, peerId: id.id })
    }
    const upBy = Date.now() + 60_000
    for (const p of procs) {
      while ((await nodeVersion(p.home)) !== base) {
        if (Date.now() > upBy)
          throw new Error(`${p.name} did not start: see ${join(work, `${p.name}.log`)}`)
        if (p.child.exitCode !== null)
          throw new Error(`${p.name}'s supervisor exited: see ${join(work, `${p.name}.log`)}`)
        await sleep(200)
      }
    }
    log(`+${elapsed().toFixed(1).padStart(6)} s  all ${init.nodes} nodes run ${base}`)

    // Follow each release until every node settled on it.
    const events: TestnetEvent[] = []
    const rows: number[][] = []
    const phaseOf = new Map<string, Phase>()
    const sample = async () => {
      for (const p of procs) {
        const s = await readState(p.home)
        if (s === undefined) continue
        const prev = p.state
        p.state = s
        if (prev?.phase !== s.phase) {
          const ev: TestnetEvent = {
            t: Math.round(elapsed() * 1000) / 1000,
            node: p.name,
            from: prev?.phase ?? 'idle',
            to: s.phase,
            target: s.target?.version ?? null,
            current: s.current,
            reason: s.reason,
          }
          if (prev !== undefined) {
            events.push(ev)
            const tag = s.canary ? ' (canary)' : ''
            log(
              `+${ev.t.toFixed(1).padStart(6)} s  ${`${p.name}${tag}`.padEnd(17)} ${ev.from} -> ${ev.to}: ${s.reason}`,
            )
          }
          phaseOf.set(p.name, s.phase)
        }
      }
      const row = [Math.round(elapsed() * 1000) / 3_600_000, procs.length]
      for (const v of versions) row.push(procs.filter((p) => p.state?.current === v).length)
      for (const ph of PHASES) row.push(procs.filter((p) => p.state?.phase === ph).length)
      const onBad = procs.filter((p) => badVersions.has(p.state?.current ?? '')).length
      const rollbacks = events.filter((e) => e.to === 'rolled-back').length
      const ev = procs.map((p) => p.state?.evidence)
      // deranked, stranded, on a bad release, rollbacks, reinstalls, reports pass and fail, and
      // three adversary counters the testnet has no adversaries for.
      row.push(
        0,
        0,
        onBad,
        rollbacks,
        0,
        Math.max(0, ...ev.map((e) => e?.passing ?? 0)),
        Math.max(0, ...ev.map((e) => e?.failing ?? 0)),
        0,
        0,
        0,
      )
      rows.push(row)
    }
    const badVersions = new Set(builds.filter((b) => b.fault !== 'good').map((b) => b.version))
    const outcomes: ReleaseOutcome[] = []
    for (const [i, m] of manifests.entries()) {
      const v = m.build.version
      log(
        `+${elapsed().toFixed(1).padStart(6)} s  publishing ${v} (${m.build.fault}), sequence ${i + 1}; canaries: ${canaries[v]!.join(', ') || 'none'}`,
      )
      await bootstrap.libp2p.services.artifacts.import(m.build.path, m.build.pin)
      await bootstrap.publish(m.bytes)
      const publishedAt = elapsed()
      const deadline = Date.now() + (init.releaseTimeoutMs ?? 150_000)
      const settled = () =>
        procs.every(
          (p) =>
            p.state?.target?.digest === m.digest &&
            RESTING.has(p.state.phase) &&
            (p.state.phase !== 'committed' || p.state.current === v),
        )
      while (!settled()) {
        if (Date.now() > deadline) {
          log(`release ${v} did not settle on every node in time; stopping`)
          break
        }
        await sample()
        await sleep(250)
      }
      await sample()
      const on = procs.filter((p) => p.state?.current === v).length
      const switchedTo = new Set(
        events.filter((e) => e.target === v && e.to === 'switching').map((e) => e.node),
      )
      const times = events
        .filter((e) => e.target === v && e.to === 'committed')
        .map((e) => e.t - publishedAt)
        .sort((a, b) => a - b)
      const at = (share: number) => {
        const k = Math.ceil(share * procs.length)
        return times.length >= k && k > 0 ? times[k - 1]! / 3600 : null
      }
      outcomes.push({
        version: v,
        sequence: i + 1,
        quality: qualityOf(m.build.fault),
        digest: m.digest,
        publishedAtHours: publishedAt / 3600,
        autoUpgradeHours: { '50': at(0.5), '90': at(0.9), '99': at(0.99) },
        allNodesHours: { '50': at(0.5), '90': at(0.9), '99': at(0.99) },
        finalShare: on / procs.length,
        mostNodesOn: on,
        firstSwitchAtHours:
          events.find((e) => e.target === v && e.to === 'switching')?.t !== undefined
            ? events.find((e) => e.target === v && e.to === 'switching')!.t / 3600
            : null,
        nodesSwitched: switchedTo.size,
        switches: events.filter((e) => e.target === v && e.to === 'switching').length,
        commits: events.filter((e) => e.target === v && e.to === 'committed').length,
        rollbacks: events.filter((e) => e.target === v && e.to === 'rolled-back').length,
        reinstalls: 0,
        shadowFailures: procs.filter((p) => /shadow run failed/.test(p.state?.bad[v] ?? '')).length,
        shadowInconclusive: events.filter((e) => e.target === v && /inconclusive/.test(e.reason))
          .length,
        probationFailures: procs.filter((p) => /probation failed/.test(p.state?.bad[v] ?? ''))
          .length,
        reporters: {
          passing: Math.max(
            0,
            ...procs.map((p) =>
              p.state?.target?.digest === m.digest ? (p.state.evidence?.passing ?? 0) : 0,
            ),
          ),
          failing: Math.max(
            0,
            ...procs.map((p) =>
              p.state?.target?.digest === m.digest ? (p.state.evidence?.failing ?? 0) : 0,
            ),
          ),
        },
        haltedRegions: procs.some((p) => p.state?.phase === 'halted') ? 1 : 0,
        firstHaltAtHours:
          events.find((e) => e.target === v && e.to === 'halted')?.t !== undefined
            ? events.find((e) => e.target === v && e.to === 'halted')!.t / 3600
            : null,
        nodesHalted: procs.filter((p) => p.state?.phase === 'halted').length,
        nodesMarkedBad: procs.filter((p) => p.state?.bad[v] !== undefined).length,
        leakCrashesAfterCommit: 0,
      })
    }

    const finalVersions: Record<string, string | undefined> = {}
    const finalPhases: Record<string, Phase> = {}
    for (const p of procs) {
      finalVersions[p.name] = await nodeVersion(p.home)
      finalPhases[p.name] = p.state?.phase ?? 'idle'
    }
    const result = toSimResult({
      network,
      nodes: procs.length,
      versions,
      specs,
      rows,
      events,
      outcomes,
      durationHours: elapsed() / 3600,
    })
    return { result, events, finalVersions, finalPhases, versions, canaries }
  } finally {
    // The supervisor stops its node (10 s grace) before it exits.
    await Promise.all(procs.map((p) => stopChild(p.child, 20_000)))
    await bootstrap?.stop().catch(() => {})
    await lab?.remove()
  }
}

/** The simulator's name for what a fault does to a rollout. */
function qualityOf(fault: Fault): Quality {
  if (fault === 'good') return 'good'
  if (fault === 'crash-in-probation') return 'fails-in-probation'
  if (fault === 'memory-leak') return 'slow-leak'
  // Every other fault shows in the shadow run.
  return 'crash-in-shadow'
}

/** The run in the simulator's result shape, so its report code renders it unchanged. */
function toSimResult(r: {
  network: string
  nodes: number
  versions: string[]
  specs: Array<{ fault: Fault; policy: RolloutPolicy }>
  rows: number[][]
  events: TestnetEvent[]
  outcomes: ReleaseOutcome[]
  durationHours: number
}): SimResult {
  const columns = timeseriesColumns(r.versions)
  const bad = r.outcomes.filter((o) => o.quality !== 'good')
  const worst = bad.reduce<ReleaseOutcome | undefined>(
    (a, o) => (a === undefined || o.nodesSwitched > a.nodesSwitched ? o : a),
    undefined,
  )
  const summary = {
    scenario: `testnet-${r.nodes}`,
    description: `real-process testnet: ${r.nodes} convoy run supervisors on loopback, releases ${r.outcomes.map((o) => `${o.version} (${o.quality})`).join(', ')}`,
    seed: 0,
    policyName: 'testnet',
    policy: r.specs[0]!.policy,
    nodes: r.nodes,
    durationHours: r.durationHours,
    releases: r.outcomes,
    mostNodesOnBadRelease: {
      nodes: Math.max(0, ...bad.map((o) => o.nodesSwitched)),
      share: Math.max(0, ...bad.map((o) => o.nodesSwitched)) / r.nodes,
      atHours: worst?.firstSwitchAtHours ?? null,
    },
    badReleaseReach: {
      version: worst?.version ?? null,
      nodes: worst?.nodesSwitched ?? 0,
      share: (worst?.nodesSwitched ?? 0) / r.nodes,
    },
    rollbacks: r.outcomes.reduce((a, o) => a + o.rollbacks, 0),
    reinstalls: 0,
    versionSkew: { derankedMax: 0, derankedMaxAtHours: null, derankedFinal: 0, strandedFinal: 0 },
    eclipse: {
      eclipsed: 0,
      contacted: 0,
      suspected: 0,
      escapedNodes: 0,
      escapes: 0,
      unnoticed: 0,
      behindAtEnd: 0,
      medianHoursToSuspicion: null,
    },
    versionLiars: {
      count: 0,
      ranks: { normal: 0, unverified: 0, suspicious: 0, deranked: 0 },
      falseFreezeSuspicions: 0,
    },
    falseReports: 0,
    churn: { leaves: 0, joins: 0, departures: 0 },
    calibration: [],
    log: { mode: 'full', lines: r.events.length, dropped: 0, loggedNodes: r.nodes },
    engine: { events: r.events.length, machineSteps: 0 },
  } as unknown as SimSummary
  const events = r.events.map((e) =>
    JSON.stringify({
      t: e.t,
      type: 'phase',
      node: e.node,
      from: e.from,
      to: e.to,
      target: e.target,
      current: e.current,
      reason: e.reason,
    }),
  )
  return { summary, columns, rows: r.rows, events }
}
