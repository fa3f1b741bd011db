/**
 * The flood suite (`npm run test:flood`): three honest `convoy node start` processes on
 * loopback, and a flooder process of at least 20 hostile identities (test/flood/flooder.ts)
 * sending everything convoy's protocols let them send, as fast as they can, for 60 s. A
 * release with a 20 MB artifact is published a third of the way in; its publisher uploads one
 * copy, so two of the three nodes must get it from flooded peers.
 *
 * Must hold: every honest node verifies the release within 10 s of its publication and ends
 * with its artifact intact; its RSS grows by under RSS_BOUND_MIB; its health, asked every second the
 * way the supervisor asks it on probation (`answersHealth`, `afterProbe`), never fails; it is still
 * running at the end and stops cleanly. The figures are printed (docs/benchmarks.md has them).
 *
 * Knobs for researchers: CONVOY_FLOOD_PEERS and CONVOY_FLOOD_SECONDS change the size of the
 * flood; CONVOY_FLOOD_KINDS=hello,reports,... floods with only those kinds; CONVOY_FLOOD_DUMP=p
 * writes each honest node's output to p-honestN.txt; CONVOY_FLOOD_HEAP=dir writes heap snapshots
 * into dir: of a node whose ArrayBuffers pass HEAP_AT_MIB during the flood (once), and of every
 * node after it. A snapshot is taken after a full collection, so what it holds is what the node
 * holds; it costs the node memory, so with this knob the RSS bar is not checked. The figures
 * also go to .flood-result.txt.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { hashFile } from '../../src/adapters/fs/hash.ts'
import { REPORTER_BOOK_FILE } from '../../src/adapters/libp2p/admission.ts'
import { ConvoyNode } from '../../src/adapters/libp2p/node.ts'
import type { NodeStatus } from '../../src/adapters/libp2p/status.ts'
import {
  answersHealth,
  fetchHealth,
  type RunningFile,
  readRunning,
} from '../../src/adapters/process/node-api.ts'
import { NODE_PROCESS_FLAGS } from '../../src/adapters/process/node-flags.ts'
import { readProc } from '../../src/adapters/process/probe.ts'
import { encodeNetworkConfig } from '../../src/core/net/network-config.ts'
import { JOIN_GRACE_MS } from '../../src/core/rollout/admission.ts'
import { afterProbe, HEALTH_TIMEOUT_MS } from '../../src/core/rollout/health.ts'
import { makeTempDir, removeDir, type Started, startConvoy } from '../cli/helpers.ts'
import {
  anchorBytes,
  artifactFile,
  MAINTAINERS,
  NETWORK,
  networkConfig,
  release,
  waitFor,
} from '../net/harness.ts'
import type { FlooderConfig } from './flooder.ts'

const PEERS = Number(process.env.CONVOY_FLOOD_PEERS ?? 24)
const SECONDS = Number(process.env.CONVOY_FLOOD_SECONDS ?? 60)
/** Only these kinds of flood, comma-separated (a researcher's knob); every kind by default. */
const KINDS = process.env.CONVOY_FLOOD_KINDS?.split(',')
/** Where heap snapshots go (a researcher's knob); none are taken without it. */
const HEAP_DIR = process.env.CONVOY_FLOOD_HEAP
/** A node whose ArrayBuffers pass this many MiB during the flood is snapshotted then. */
const HEAP_AT_MIB = 40
const FLOODER = fileURLToPath(new URL('./flooder.ts', import.meta.url))
const MiB = 1024 * 1024
const ARTIFACT_BYTES = 20_000_000
/**
 * The RSS growth allowed, MiB: issue 12's bar. Before uploads waited for their stream's write
 * buffer (artifact-upload.ts, `drained`), growth was 41 to 125 MiB over 18 runs, the top being
 * a node that read the 20 MB artifact into write buffers for slow readers; since, 38 to 72 MiB
 * over ten runs, five of them with a busy loop taking one of the two cores
 * (docs/benchmarks.md).
 */
const RSS_BOUND_MIB = 100

interface Honest {
  name: string
  dir: string
  started: Started
  running: RunningFile
  rssBase: number
  rssMax: number
  rssTrace: string[]
  heapTrace: string[]
  cpuBase: number
  cpuEnd: number
  misses: number
  healthFailed: number
  probes: number
  slowestProbeMs: number
  verifiedMs?: number
  heldMs?: number
  statusBytes: number
  statusMs: number
  /** True once a heap snapshot was asked of it during the flood (CONVOY_FLOOD_HEAP). */
  snapped?: boolean
}

/** Reads `/status` of a node: its size and how long it took; undefined when it did not answer. */
async function statusOf(
  api: string,
): Promise<{ body: NodeStatus; bytes: number; ms: number } | undefined> {
  const t0 = Date.now()
  try {
    const res = await fetch(`http://${api}/status`, { signal: AbortSignal.timeout(5000) })
    const text = await res.text()
    return { body: JSON.parse(text), bytes: text.length, ms: Date.now() - t0 }
  } catch {
    return undefined
  }
}

/**
 * Makes `dataDir` a node that met its network 11 minutes ago. Admission waives its rule 2
 * (reporters must be known before the release) for {@link JOIN_GRACE_MS} after a node joins: a
 * node that just joined cannot tell old reporters from keys made since. A flood on a network
 * that young halts releases with fresh identities, which is the documented limit of the rule
 * (docs/threat-model.md); the flood suite tests the settled network the rule protects.
 */
async function settled(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true })
  await writeFile(
    join(dataDir, REPORTER_BOOK_FILE),
    JSON.stringify({ reporters: [], releases: {}, joinedAt: Date.now() - JOIN_GRACE_MS - 60_000 }),
  )
}

/**
 * Asks every node for a heap snapshot (`--heapsnapshot-signal`: written into `dir`, the nodes'
 * working directory, named with the pid) and copies every snapshot there into `to` once each
 * node's latest has stopped growing.
 */
async function snapshotAll(honest: Honest[], dir: string, to: string): Promise<void> {
  const snaps = async () => (await readdir(dir)).filter((f) => f.endsWith('.heapsnapshot'))
  const before = new Set(await snaps())
  for (const h of honest) h.started.child.kill('SIGUSR2')
  await waitFor(
    'a heap snapshot of every node',
    async () => {
      const fresh = (await snaps()).filter((f) => !before.has(f))
      if (!honest.every((h) => fresh.some((f) => f.includes(`.${h.started.child.pid}.`))))
        return false
      const sizes = async () => Promise.all(fresh.map(async (f) => (await stat(join(dir, f))).size))
      const a = await sizes()
      await new Promise((r) => setTimeout(r, 2000))
      return (await sizes()).every((n, i) => n === a[i] && n > 0)
    },
    180_000,
    500,
  )
  await mkdir(to, { recursive: true })
  for (const f of await snaps()) await copyFile(join(dir, f), join(to, f))
  console.log(`heap snapshots in ${to}: ${(await snaps()).join(', ')}`)
}

describe('the flood suite', { timeout: (SECONDS + 180) * 1000 }, () => {
  let dir = ''
  let publisher: ConvoyNode | undefined
  const honest: Honest[] = []
  let flooder: ChildProcess | undefined
  after(async () => {
    if (flooder?.exitCode === null) flooder.kill('SIGKILL')
    for (const h of honest) if (h.started.child.exitCode === null) h.started.child.kill('SIGKILL')
    await publisher?.stop().catch(() => {})
    await removeDir(dir)
  })

  it(`${PEERS} hostile peers for ${SECONDS} s: honest nodes verify, fetch, stay healthy and small`, async () => {
    dir = await makeTempDir('flood')
    const first = await artifactFile(dir, 4 * MiB)
    const big = await artifactFile(dir, ARTIFACT_BYTES)
    // The publisher: an honest node in this process, the network's bootstrap, never flooded.
    // Its upload budget is three copies of the first artifact and one of the big one.
    await settled(join(dir, 'publisher'))
    publisher = await ConvoyNode.create({
      network: networkConfig([]),
      dataDir: join(dir, 'publisher'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      version: '9.0.0',
      lookupIntervalMs: 2000,
      artifactOptions: { uploadBudgetBytes: 3 * first.pin.length + big.pin.length },
    })
    await publisher.start()
    const networkPath = join(dir, 'network.json')
    await writeFile(
      networkPath,
      encodeNetworkConfig(anchorBytes, NETWORK, [publisher.libp2p.getMultiaddrs()[0]!.toString()]),
    )
    for (let i = 0; i < 3; i++) {
      const home = join(dir, `honest${i}`)
      await settled(home)
      const started = startConvoy(
        [
          'node',
          'start',
          '--network',
          networkPath,
          '--data-dir',
          home,
          '--listen',
          '/ip4/127.0.0.1/tcp/0',
          '--api',
          '127.0.0.1:0',
          '--lookup-interval',
          '2s',
        ],
        {
          cwd: dir,
          // The flags the supervisor starts every node with (node-flags.ts).
          execArgv: [...NODE_PROCESS_FLAGS, ...(HEAP_DIR ? ['--heapsnapshot-signal=SIGUSR2'] : [])],
        },
      )
      let running: RunningFile | undefined
      await waitFor(`honest${i} to start`, async () => {
        if (started.child.exitCode !== null)
          throw new Error(`honest${i} exited: ${started.output()}`)
        running = await readRunning(home)
        return running !== undefined
      })
      honest.push({
        name: `honest${i}`,
        dir: home,
        started,
        running: running!,
        rssBase: 0,
        rssMax: 0,
        rssTrace: [],
        heapTrace: [],
        cpuBase: 0,
        cpuEnd: 0,
        misses: 0,
        healthFailed: 0,
        probes: 0,
        slowestProbeMs: 0,
        statusBytes: 0,
        statusMs: 0,
      })
    }

    // Release 1, before the flood: what the flooder re-puts under aliases and reports on.
    const rel1 = release('9.0.0', 1, MAINTAINERS.slice(0, 2), { artifacts: { node: first.pin } })
    await publisher.libp2p.services.artifacts.import(first.path, first.pin)
    await publisher.publish(rel1)
    for (const h of honest) {
      await waitFor(
        `${h.name} to verify release 1 and hold its artifact`,
        async () => {
          const s = await statusOf(h.running.api)
          return s?.body.manifests?.some((m) => m.sequence === 1 && m.artifactHeld) === true
        },
        60_000,
        250,
      )
    }
    // Settled: the baseline RSS.
    await new Promise((r) => setTimeout(r, 2000))
    for (const h of honest) {
      const p = (await readProc(h.started.child.pid!, Date.now()))!
      h.rssBase = p.rss
      h.rssMax = p.rss
      h.cpuBase = p.cpuSeconds
    }

    const config: FlooderConfig = {
      network: NETWORK,
      peers: PEERS,
      seconds: SECONDS,
      targets: honest.flatMap((h) =>
        h.running.addresses
          .filter((a) => a.includes('/tcp/'))
          .slice(0, 1)
          .map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${h.running.peerId}`)),
      ),
      manifest: Buffer.from(rel1).toString('base64'),
      channel: 'stable',
      sequence: 1,
      slowReadEveryMs: 4800,
      ...(KINDS ? { kinds: KINDS } : {}),
    }
    const configPath = join(dir, 'flooder.json')
    await writeFile(configPath, JSON.stringify(config))
    flooder = spawn(process.execPath, [FLOODER, configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let flooderOut = ''
    flooder.stdout!.setEncoding('utf8').on('data', (c) => {
      flooderOut += c
    })
    flooder.stderr!.setEncoding('utf8').on('data', (c) => {
      flooderOut += c
    })
    const floodStart = Date.now()

    // Every second, each node: health the supervisor's way, RSS; every 5 s its status.
    let watching = true
    const watch = (async () => {
      let tick = 0
      while (watching) {
        tick++
        await Promise.all(
          honest.map(async (h) => {
            const t0 = Date.now()
            const answered = await answersHealth(h.running.api, HEALTH_TIMEOUT_MS)
            h.slowestProbeMs = Math.max(h.slowestProbeMs, Date.now() - t0)
            h.probes++
            const r = afterProbe(h.misses, answered)
            h.misses = r.misses
            if (r.failed) h.healthFailed++
            const proc = await readProc(h.started.child.pid!, Date.now())
            if (proc) {
              h.rssMax = Math.max(h.rssMax, proc.rss)
              h.cpuEnd = proc.cpuSeconds
            }
            if (HEAP_DIR && !h.snapped) {
              const ab = (await fetchHealth(h.running.api, 2000))?.memory?.arrayBuffers ?? 0
              if (ab > HEAP_AT_MIB * MiB) {
                h.snapped = true
                console.log(`${h.name}: ${Math.round(ab / MiB)} MiB of ArrayBuffers, snapshot`)
                h.started.child.kill('SIGUSR2')
              }
            }
            if (tick % 5 === 0) {
              if (proc) h.rssTrace.push(`${Math.round(proc.rss / MiB)}`)
              const m = (await fetchHealth(h.running.api, 2000))?.memory
              if (m)
                h.heapTrace.push(
                  `${Math.round(m.heapUsed / MiB)}/${Math.round(m.heapTotal / MiB)}/${Math.round(m.arrayBuffers / MiB)}`,
                )
              const s = await statusOf(h.running.api)
              if (s) {
                h.statusBytes = Math.max(h.statusBytes, s.bytes)
                h.statusMs = Math.max(h.statusMs, s.ms)
              }
            }
          }),
        )
        await new Promise((r) => setTimeout(r, 1000))
      }
    })()

    // A third of the way in, release 2 with the 20 MB artifact.
    await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 3))
    const rel2 = release('9.1.0', 2, MAINTAINERS.slice(0, 2), { artifacts: { node: big.pin } })
    await publisher.libp2p.services.artifacts.import(big.path, big.pin)
    const publishedAt = Date.now()
    // Waited on while the publish runs: its DHT puts go through hostile DHT servers too.
    const putting = publisher.publish(rel2).then(() => Date.now() - publishedAt)
    await Promise.all(
      honest.map(async (h) => {
        await waitFor(
          `${h.name} to verify release 2`,
          async () => (await statusOf(h.running.api))?.body.latest?.sequence === 2,
          30_000,
          50,
        )
        h.verifiedMs = Date.now() - publishedAt
        await waitFor(
          `${h.name} to hold the 20 MB artifact`,
          async () =>
            (await statusOf(h.running.api))?.body.manifests?.some(
              (m) => m.sequence === 2 && m.artifactHeld,
            ) === true,
          SECONDS * 1000 + 60_000,
          250,
        )
        h.heldMs = Date.now() - publishedAt
      }),
    )
    const putMs = await putting
    const [code] = (
      flooder.exitCode !== null ? [flooder.exitCode] : await once(flooder, 'exit')
    ) as [number]
    watching = false
    await watch
    const floodMs = Date.now() - floodStart
    assert.equal(code, 0, `the flooder failed:\n${flooderOut}`)
    const counts = (
      JSON.parse(flooderOut.trim().split('\n').at(-1)!) as { counts: Record<string, number> }
    ).counts
    const finalStatus = await Promise.all(honest.map((h) => statusOf(h.running.api)))

    const lines = [
      `flood: ${PEERS} hostile peers x ${config.targets.length} honest nodes for ${SECONDS} s (${floodMs} ms with the tail)`,
      `release 2 put into the DHT in ${putMs} ms (the publisher waits on hostile DHT servers too)`,
      `rss every 5 s (MiB): ${honest.map((h) => `${h.name} ${h.rssTrace.join(' ')}`).join('; ')}`,
      `heap used/total and ArrayBuffers every 5 s (MiB): ${honest.map((h) => `${h.name} ${h.heapTrace.join(' ')}`).join('; ')}`,
      `flooder sent: ${Object.entries(counts)
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      ...honest.map(
        (h, i) =>
          `${h.name}: rss ${(h.rssBase / MiB).toFixed(0)} -> max ${(h.rssMax / MiB).toFixed(0)} MiB (+${((h.rssMax - h.rssBase) / MiB).toFixed(1)}), cpu ${(h.cpuEnd - h.cpuBase).toFixed(1)} s; release 2 verified in ${h.verifiedMs} ms, 20 MB held in ${h.heldMs} ms; health ${h.probes} probes, slowest ${h.slowestProbeMs} ms, failures ${h.healthFailed}; status max ${h.statusBytes} B in ${h.statusMs} ms; counters ${JSON.stringify(
            {
              budget_refused: finalStatus[i]?.body.counters?.budget_refused,
              records_rejected: finalStatus[i]?.body.counters?.records_rejected,
              dht_store_refused: finalStatus[i]?.body.counters?.dht_store_refused,
              dht_store_providers: finalStatus[i]?.body.counters?.dht_store_providers,
              uploads_too_slow: finalStatus[i]?.body.counters?.artifact_uploads_too_slow,
            },
          )}`,
      ),
    ]
    console.log(lines.join('\n'))
    if (process.env.CONVOY_FLOOD_DUMP)
      for (const h of honest)
        await writeFile(`${process.env.CONVOY_FLOOD_DUMP}-${h.name}.txt`, h.started.output())
    await writeFile(join(process.cwd(), '.flood-result.txt'), `${lines.join('\n')}\n`).catch(
      () => {},
    )

    if (HEAP_DIR) await snapshotAll(honest, dir, HEAP_DIR)
    for (const h of honest) {
      assert.equal(h.started.child.exitCode, null, `${h.name} exited:\n${h.started.output()}`)
      assert.ok(h.verifiedMs! <= 10_000, `${h.name} verified release 2 in ${h.verifiedMs} ms`)
      assert.ok(
        HEAP_DIR !== undefined || h.rssMax - h.rssBase < RSS_BOUND_MIB * MiB,
        `${h.name} RSS grew by ${((h.rssMax - h.rssBase) / MiB).toFixed(1)} MiB, over ${RSS_BOUND_MIB}`,
      )
      assert.equal(h.healthFailed, 0, `${h.name} failed its health ${h.healthFailed} time(s)`)
      const held = join(h.dir, 'artifacts', big.pin.sha256)
      assert.equal((await hashFile(held).catch(() => undefined))?.sha256, big.pin.sha256, held)
    }
    // Reports from fresh identities halt nothing on a settled network.
    for (const h of honest)
      assert.doesNotMatch(
        h.started.output(),
        /halted releases: [0-9a-f]/,
        `${h.name} halted a release`,
      )
    // The flood was real: each kind was sent in numbers.
    for (const kind of KINDS ?? ['hello', 'reports', 'put', 'provide', 'manifest', 'slowread']) {
      const sent = (counts[`${kind}.done`] ?? 0) + (counts[`${kind}.refused`] ?? 0)
      assert.ok(sent >= PEERS, `${kind}: only ${sent} sent`)
    }
    for (const h of honest) {
      h.started.child.kill('SIGTERM')
      const [c] = (await once(h.started.child, 'exit')) as [number | null]
      assert.equal(c, 0, `${h.name} did not stop cleanly:\n${h.started.output().slice(-2000)}`)
    }
  })
})
