/**
 * `convoy node start`, `convoy status`, `convoy release publish`: running and watching nodes.
 *
 * `node start --role shadow` runs a candidate build beside the live node for the supervisor: it
 * starts on the data dir it is given (the supervisor's copy, without identity.key, so it gets a
 * fresh identity of its own), carries no reports, makes no DHT puts or provider records and
 * fetches no artifacts.
 */
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getHeapStatistics } from 'node:v8'
import { multiaddr } from '@multiformats/multiaddr'
import { ensureApiToken } from '../../adapters/fs/api-token.ts'
import { writeFileAtomic } from '../../adapters/fs/atomic.ts'
import { DataDirError } from '../../adapters/fs/errors.ts'
import { type Health, parseApiAddress, startApi } from '../../adapters/http/api.ts'
import {
  ConvoyNode,
  type ConvoyNodeInit,
  RecordRejectedError,
  routingTableSize,
} from '../../adapters/libp2p/node.ts'
import type { NodeStatus } from '../../adapters/libp2p/status.ts'
import { REUSE_PORT_ENV } from '../../adapters/process/node-api.ts'
import { sleep } from '../../adapters/process/timing.ts'
import { prettyJson } from '../../core/manifest/canonical.ts'
import { decodeRelease, MAX_RELEASE_BYTES } from '../../core/manifest/release.ts'
import { MAX_ROOT_BYTES } from '../../core/manifest/root.ts'
import { DEFAULT_ROLE } from '../../core/net/hello.ts'
import { reusePortAvailable } from '../../core/net/reuse-port.ts'
import { BANDWIDTH_OPTIONS, BANDWIDTH_USAGE, bandwidthLine, nodeBandwidth } from '../bandwidth.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  parse,
  parseDuration,
  parseNumber,
  readCapped,
  required,
  stamp,
} from '../io.ts'
import { readNetworkFile } from './network.ts'
import { isRevocationPath, readRevocationFile } from './revoke.ts'

const START_USAGE = `convoy node start --network network.json --data-dir DIR [--role node|shadow] [--channel stable] [--listen MULTIADDR ...] [--api 127.0.0.1:PORT] [--max-connections N] [--lookup-interval 60s] [--peer MULTIADDR ...] ${BANDWIDTH_USAGE}`
const STATUS_USAGE = 'convoy status [--api 127.0.0.1:PORT] [--json]'
const PUBLISH_USAGE =
  'convoy release publish release.json --network network.json [--root root-N.json ...] [--artifact FILE] [--seed-copies 2] [--seed-timeout 10m] [--listen MULTIADDR]'

function explainStartError(e: unknown, listen: string[]): never {
  if (e instanceof DataDirError) throw new CliError(e.message)
  const msg = (e as Error).message ?? String(e)
  if (/EADDRINUSE|address already in use/i.test(msg)) {
    throw new CliError(
      `a listen address is already in use (${listen.join(', ')}): stop the other process or pick another port with --listen`,
    )
  }
  if (/EADDRNOTAVAIL|EACCES/i.test(msg))
    throw new CliError(`cannot listen on ${listen.join(', ')}: ${msg}`)
  throw e
}

/** How long a drained node waits for SIGTERM before it stops by itself, ms. */
const DRAIN_MAX_MS = 60_000

/** `node start`: runs until SIGINT or SIGTERM (after SIGUSR2, when it listens with reusePort). */
export async function nodeStart(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(
    argv,
    {
      network: { type: 'string' },
      'data-dir': { type: 'string' },
      channel: { type: 'string' },
      listen: { type: 'string', multiple: true },
      api: { type: 'string' },
      'max-connections': { type: 'string' },
      'lookup-interval': { type: 'string' },
      role: { type: 'string' },
      peer: { type: 'string', multiple: true },
      ...BANDWIDTH_OPTIONS,
    },
    START_USAGE,
  )
  const role = values.role ?? DEFAULT_ROLE
  if (role !== 'node' && role !== 'shadow')
    throw new CliError(`--role "${role}" must be node or shadow\nusage: ${START_USAGE}`, 2)
  const bandwidth = nodeBandwidth(values, ctx.env)
  const fromFile = await readNetworkFile(required(values.network, '--network', START_USAGE))
  // --peer: more peers to dial at start, beside the network file's bootstrap peers (a shadow
  // candidate is handed its live node's peers this way, so a bootstrap node's candidate finds some).
  const peers = (values.peer ?? []).slice(0, 64)
  for (const p of peers) {
    try {
      multiaddr(p)
    } catch {
      throw new CliError(`--peer "${p}" is not a multiaddr like /ip4/127.0.0.1/tcp/4001`, 2)
    }
  }
  const network = { ...fromFile, bootstrap: [...fromFile.bootstrap, ...peers] }
  const dataDir = required(values['data-dir'], '--data-dir', START_USAGE)
  const listen = values.listen ?? ['/ip4/0.0.0.0/tcp/4001']
  let api: ReturnType<typeof parseApiAddress>
  try {
    api = parseApiAddress(values.api ?? '127.0.0.1:7070')
  } catch (e) {
    throw new CliError((e as Error).message, 2)
  }
  const log = (line: string) => process.stdout.write(`${stamp()} ${line}\n`)
  // `convoy run` asks its node to share the port with the node of the next release (SO_REUSEPORT)
  // so that a switch refuses no connection; granted where this platform and Node have it. A node
  // started by hand binds its port alone, so a second node on it fails with EADDRINUSE.
  const reusePort =
    role === 'node' &&
    process.env[REUSE_PORT_ENV] === '1' &&
    reusePortAvailable({ platform: process.platform, nodeVersion: process.versions.node })
  let node: ConvoyNode
  try {
    node = await ConvoyNode.create({
      network,
      dataDir,
      role,
      channel: values.channel ?? 'stable',
      listen,
      reusePort,
      ...(bandwidth ? { bandwidth } : {}),
      ...(values['max-connections']
        ? {
            maxConnections: parseNumber(
              values['max-connections'],
              '--max-connections',
              1,
              100_000,
              true,
            ),
          }
        : {}),
      ...(values['lookup-interval']
        ? {
            lookupIntervalMs:
              Math.max(1, parseDuration(values['lookup-interval'], '--lookup-interval')) * 1000,
          }
        : {}),
      now: ctx.now,
      log,
    })
  } catch (e) {
    explainStartError(e, listen)
  }
  try {
    await node.start()
  } catch (e) {
    await node.stop().catch(() => {})
    explainStartError(e, listen)
  }
  let server: Awaited<ReturnType<typeof startApi>>
  try {
    server = await startApi(api, () => node.status(), {
      token: await ensureApiToken(dataDir),
      health: () => ({
        status: 'ok',
        version: node.version,
        peerId: node.libp2p.peerId.toString(),
        role: node.role,
        connections: node.libp2p.getConnections().length,
        memory: memoryNow(),
      }),
      peerCheck: (hostPort) => node.isPeerAt(hostPort),
      reports: {
        submit: (bytes) => node.submitReport(bytes),
        reportsFor: (digest) => node.reportsFor(digest),
        notCounted: (digest) => {
          const c = node.countedReports(digest)
          return { held: c.held, electorate: c.electorate, notCounted: c.notCounted }
        },
      },
    })
  } catch (e) {
    await node.stop().catch(() => {})
    const code = (e as NodeJS.ErrnoException).code
    throw new CliError(
      `cannot serve the API on ${api.host}:${api.port} (${code ?? (e as Error).message}); pick another with --api`,
    )
  }
  const status = await node.status()
  const running = join(dataDir, 'running.json')
  await writeFileAtomic(
    running,
    prettyJson({
      pid: process.pid,
      peerId: status.peerId,
      addresses: status.addresses,
      api: `${server.address.host}:${server.address.port}`,
      // It listens with reusePort and drains on SIGUSR2: the supervisor may hand its port over.
      ...(reusePort ? { reusePort: true } : {}),
    }),
  )
  log(
    `convoy ${status.version} ${role === 'shadow' ? 'shadow ' : ''}node ${status.peerId} on network "${status.network}", channel ${status.channel}`,
  )
  for (const a of status.addresses) log(`listening on ${a}`)
  log(`api on http://${server.address.host}:${server.address.port}/status, /metrics and /reports`)
  let closeApi: Promise<void> | undefined
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: stopping`)
      resolve()
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
    // The handover of a release switch: the API and the data dir go now (the next node needs
    // both), the p2p port stays open beside the next node's until SIGTERM, or DRAIN_MAX_MS.
    if (reusePort)
      process.once('SIGUSR2', () => {
        log('SIGUSR2: draining: releasing the data dir and the API; still listening')
        closeApi = server.close()
        void closeApi
          .then(() => unlink(running).catch(() => {}))
          .then(() => node.release())
          .then(() => log('drained: the data dir is free'))
          .catch((e: Error) => log(`draining failed: ${e.message}`))
        setTimeout(() => stop('drain deadline'), DRAIN_MAX_MS).unref()
      })
  })
  await (closeApi ?? server.close())
  await node.stop()
  // A drained node's running.json went at SIGUSR2; the one there now is the next node's. And
  // whatever the file says, it is removed only while it names this process: a node stopped late
  // (an orphan of a killed supervisor, reaped by the next) must not delete its successor's.
  if (closeApi === undefined) await unlinkIfOurs(running)
  return { text: `${stamp()} stopped cleanly`, json: { stopped: true, peerId: status.peerId } }
}

/** Removes `running.json` only while it names this process. */
async function unlinkIfOurs(path: string): Promise<void> {
  try {
    const r = JSON.parse(await readFile(path, 'utf8')) as { pid?: unknown }
    if (r.pid === process.pid) await unlink(path)
  } catch {
    // Gone already, or half-written by the next node: not ours either way.
  }
}

/** The process's memory for `/health`: microseconds to read. */
function memoryNow(): NonNullable<Health['memory']> {
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
  const v = getHeapStatistics()
  return {
    rss,
    heapUsed,
    heapTotal,
    external,
    arrayBuffers,
    v8Malloced: v.malloced_memory,
    v8Peak: v.peak_malloced_memory,
  }
}

/** Renders a status for a person: a header and a short table of peers by version. */
export function renderStatus(s: NodeStatus): string {
  const lines = [
    `node ${s.peerId}  convoy ${s.version}  network ${s.network}  channel ${s.channel}  root v${s.rootVersion}`,
    `latest verified: ${s.latest ? `${s.latest.version} (sequence ${s.latest.sequence})` : 'none yet'}`,
  ]
  const told = Object.entries(s.toldWeAre)
  if (told.length > 0)
    lines.push(`peers say this node is: ${told.map(([k, v]) => `${k} (${v})`).join(', ')}`)
  for (const f of s.freeze)
    if (f.suspected) lines.push(`FREEZE SUSPECTED on ${f.channel}: ${f.reason}`)
  for (const r of s.revoked ?? [])
    lines.push(
      `REVOKED by the maintainers: ${r.channel} ${r.version} (sequence ${r.sequence}): ${r.reason}`,
    )
  const connected = s.peers.filter((p) => p.connected)
  const byVersion = new Map<string, number>()
  for (const p of connected)
    byVersion.set(p.version ?? '?', (byVersion.get(p.version ?? '?') ?? 0) + 1)
  lines.push(
    `peers: ${connected.length} connected (${[...byVersion].map(([v, n]) => `${n} on ${v}`).join(', ') || 'none'})`,
  )
  if (connected.length > 0 || s.peers.length > 0) {
    lines.push('  PEER          VERSION    RANK        BEHIND  NOTES')
    const order = { deranked: 0, suspicious: 1, unverified: 2, pending: 3, normal: 4 } as const
    for (const p of [...s.peers].sort((a, b) => order[a.rank] - order[b.rank])) {
      const notes = [
        ...p.reasons,
        ...(p.misbehaviour ? [`${p.misbehaviour} fault(s)`] : []),
        ...(p.connected ? [] : ['disconnected']),
      ].join('; ')
      lines.push(
        `  ${p.peerId.slice(-12).padEnd(12)}  ${(p.version ?? '?').padEnd(9)}  ${p.rank.padEnd(10)}  ${String(p.behind ?? '-').padEnd(6)}  ${notes}`,
      )
    }
  }
  if (s.bandwidth) lines.push(bandwidthLine(s.bandwidth))
  for (const m of s.manifests) {
    const e = s.evidence?.[m.digest]
    lines.push(
      `manifest ${m.channel} ${m.version} seq ${m.sequence}${m.expired ? ' (expired)' : ''}${m.artifactHeld ? ', artifact held' : ''}${e ? `, reports: ${e.passing} pass, ${e.failing} fail` : ''}`,
    )
  }
  return lines.join('\n')
}

/** `status`: asks a running node's API. */
export async function status(argv: string[]): Promise<CommandOutput> {
  const { values } = parse(argv, { api: { type: 'string' } }, STATUS_USAGE)
  let api: ReturnType<typeof parseApiAddress>
  try {
    api = parseApiAddress(values.api ?? '127.0.0.1:7070')
  } catch (e) {
    throw new CliError((e as Error).message, 2)
  }
  const host = api.host.includes(':') ? `[${api.host}]` : api.host
  let s: NodeStatus
  try {
    const res = await fetch(`http://${host}:${api.port}/status`, {
      signal: AbortSignal.timeout(5000),
    })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    s = (await res.json()) as NodeStatus
  } catch (e) {
    throw new CliError(
      `no node answers on ${api.host}:${api.port} (${(e as Error).cause ? ((e as Error).cause as Error).message : (e as Error).message}); is it running? pass its --api address`,
    )
  }
  return { text: renderStatus(s), json: s as unknown as Record<string, unknown> }
}

/**
 * Runs `work` on a publisher node joined to `network` (its DHT routing table filled, or 15 s),
 * then stops it and removes its temporary data dir. Refused when no bootstrap peer answers.
 */
async function asPublisher<T>(
  network: Awaited<ReturnType<typeof readNetworkFile>>,
  options: Pick<ConvoyNodeInit, 'artifactOptions'> & { listen?: string[] | undefined },
  ctx: CliContext,
  work: (node: ConvoyNode, log: (line: string) => void) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'convoy-publish-'))
  const log = (line: string) => process.stderr.write(`${stamp()} ${line}\n`)
  const node = await ConvoyNode.create({
    network,
    dataDir: dir,
    role: 'publisher',
    ...(options.artifactOptions ? { artifactOptions: options.artifactOptions } : {}),
    listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    now: ctx.now,
    log,
    fetchArtifacts: false,
  })
  try {
    await node.start()
    const deadline = Date.now() + 15_000
    while (routingTableSize(node.libp2p.services.dht) === 0 && Date.now() < deadline)
      await sleep(100)
    if (node.libp2p.getConnections().length === 0)
      throw new CliError(
        'could not reach any bootstrap peer: check the network file and that its peers are running',
      )
    return await work(node, log)
  } finally {
    await node.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

/** `release publish revoke.json`: pushes a revocation to the network's peers and the DHT. */
async function publishRevocation(
  file: string,
  network: Awaited<ReturnType<typeof readNetworkFile>>,
  listen: string[] | undefined,
  ctx: CliContext,
): Promise<CommandOutput> {
  const bytes = (await readRevocationFile(file)).bytes
  return asPublisher(network, { listen }, ctx, async (node) => {
    let r: Awaited<ReturnType<ConvoyNode['publishRevocation']>>
    try {
      r = await node.publishRevocation(bytes)
    } catch (e) {
      if (e instanceof RecordRejectedError) throw new CliError(`${file}: ${e.message}`)
      throw e
    }
    return {
      text: `published the revocation of ${r.revoked.version} (${r.revoked.channel}, sequence ${r.revoked.sequence}): pushed to ${r.pushed} peer(s), stored by ${r.stored} in the DHT; every node that hears of it rolls back off ${r.revoked.version}`,
      json: {
        version: r.revoked.version,
        channel: r.revoked.channel,
        sequence: r.revoked.sequence,
        pushed: r.pushed,
        stored: r.stored,
      },
    }
  })
}

/** `release publish`: joins briefly, puts the manifest and roots, optionally seeds the artifact. */
export async function releasePublish(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(
    argv,
    {
      network: { type: 'string' },
      root: { type: 'string', multiple: true },
      artifact: { type: 'string' },
      'seed-copies': { type: 'string' },
      'seed-timeout': { type: 'string' },
      listen: { type: 'string', multiple: true },
    },
    PUBLISH_USAGE,
  )
  const file = required(positionals[0], 'release.json', PUBLISH_USAGE)
  const network = await readNetworkFile(required(values.network, '--network', PUBLISH_USAGE))
  if (network.bootstrap.length === 0)
    throw new CliError('the network file lists no bootstrap peers: there is nobody to publish to')
  if (await isRevocationPath(file)) return publishRevocation(file, network, values.listen, ctx)
  const releaseBytes = await readCapped(file, MAX_RELEASE_BYTES)
  const roots = await Promise.all((values.root ?? []).map((p) => readCapped(p, MAX_ROOT_BYTES)))
  const seedCopies = values['seed-copies']
    ? parseNumber(values['seed-copies'], '--seed-copies', 0, 1000, true)
    : 2
  const seedTimeout = parseDuration(values['seed-timeout'] ?? '10m', '--seed-timeout') * 1000
  // --seed-copies is a cap: the publisher uploads at most that many copies, then peers serve peers.
  const decoded = decodeRelease(releaseBytes)
  const pinLength = decoded.ok ? (decoded.value.signed.artifacts.node?.length ?? 0) : 0
  const artifactOptions =
    values.artifact !== undefined && pinLength > 0 && seedCopies > 0
      ? { uploadBudgetBytes: seedCopies * pinLength }
      : undefined
  return asPublisher(
    network,
    { listen: values.listen, ...(artifactOptions ? { artifactOptions } : {}) },
    ctx,
    async (node, log) => {
      let seeded: { uploaded: number; copies: number } | undefined
      let result: Awaited<ReturnType<ConvoyNode['publish']>>
      try {
        result = await node.publish(releaseBytes, roots)
      } catch (e) {
        if (e instanceof RecordRejectedError) throw new CliError(`${file}: ${e.message}`)
        throw e
      }
      const s = result.release
      const latestLabel = `${s.channel} latest`
      if ((result.confirmations[latestLabel] ?? 0) === 0)
        throw new CliError(
          `no peer confirmed storing ${file}; is the network up? (${JSON.stringify(result.confirmations)})`,
        )
      if (values.artifact !== undefined) {
        const pin = s.artifacts[node.platform]
        if (pin === undefined)
          throw new CliError(`${file} pins no artifact for platform ${node.platform}`)
        try {
          await node.libp2p.services.artifacts.import(values.artifact, pin)
        } catch (e) {
          throw new CliError(`--artifact ${values.artifact}: ${(e as Error).message}`)
        }
        await node.fetchReleaseArtifact(s)
        const until = Date.now() + seedTimeout
        log(`seeding ${values.artifact} until ${seedCopies} copies are uploaded`)
        while (Date.now() < until) {
          const st = node.libp2p.services.artifacts.stats()
          if (st.bytesUploaded >= seedCopies * pin.length && st.uploadsActive === 0) break
          await sleep(200)
        }
        const up = node.libp2p.services.artifacts.stats().bytesUploaded
        seeded = { uploaded: up, copies: up / pin.length }
      }
      // Without --artifact, somebody must already hold the bytes, or every node waits in
      // `fetching` until its fetch deadline.
      let holders: number | undefined
      if (values.artifact === undefined) {
        const pin = s.artifacts[node.platform]
        holders = pin ? (await node.artifactProviders(pin.sha256)).length : 0
        if (holders === 0)
          ctx.warn?.(
            `no peer holds the artifact of ${s.version}${pin ? ` (sha256 ${pin.sha256.slice(0, 12)}…)` : ''}, and none was given: nodes will wait in fetching until it appears. Publish again with --artifact convoy-${s.version}.tgz to seed it (the manifest is already stored; publishing it again is harmless)`,
          )
      }
      const lines = [`published ${s.network}/${s.channel} ${s.version} (sequence ${s.sequence})`]
      for (const [label, n] of Object.entries(result.confirmations))
        lines.push(`  ${label}: stored by ${n} peer(s)`)
      if (seeded)
        lines.push(
          `  artifact: uploaded ${seeded.uploaded} bytes (${seeded.copies.toFixed(2)} copies)`,
        )
      if (holders !== undefined) lines.push(`  artifact: held by ${holders} other peer(s)`)
      return {
        text: lines.join('\n'),
        json: {
          published: true,
          version: s.version,
          sequence: s.sequence,
          confirmations: result.confirmations,
          ...(seeded ? { seeded } : {}),
          ...(holders !== undefined ? { artifactHolders: holders } : {}),
        },
      }
    },
  )
}
