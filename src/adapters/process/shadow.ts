/**
 * The shadow run: the candidate build runs beside the live node, in shadow mode (`--role shadow`:
 * a fresh identity, its own ports, a copy of the data dir, no DHT puts, no provider records), and
 * both are sampled from /proc over the policy's window. Its egress is judged from outside: every
 * connect and datagram of every process it runs is traced (egress-trace.ts) and checked against
 * the network file and the live node's state, never against what the candidate says
 * (core/shadow/egress.ts); anything else is "phone home". The samples go to the core's
 * `judgeShadow`, which gives the verdict; their cadence and the candidate's memory limit are
 * core/shadow/sampling.ts's.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cp, mkdir, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { API_TOKEN_FILE } from '../../core/net/api-guard.ts'
import { memoryLimitBytes, sampleMs, sampleWaitMs } from '../../core/shadow/sampling.ts'
import {
  judgeShadow,
  type ProcessSample,
  type ShadowObservation,
  type ShadowVerdict,
} from '../../core/shadow/verdict.ts'
import { hostPortMultiaddr, type PeerCheck } from '../libp2p/peer-check.ts'
import type { NodeStatus } from '../libp2p/status.ts'
import { EgressTrace, hostResolvers, tracedArgs, tracee, tracerProblem } from './egress-trace.ts'
import { EgressWatch } from './egress-watch.ts'
import { fetchStatus, readRunning } from './node-api.ts'
import { NODE_PROCESS_FLAGS } from './node-flags.ts'
import {
  cpuShare,
  multiaddrHostPort,
  outboundRemotes,
  type ProcReading,
  readProc,
  tcpSockets,
} from './probe.ts'
import { sleep } from './timing.ts'

/** Options of {@link runShadow}. */
export interface ShadowRunInit {
  /** The candidate's `convoy.mjs`. */
  entry: string
  /** The live node's data dir, copied (without its identity, lock and artifacts) for the candidate. */
  liveDataDir: string
  /** Scratch directory of the run; emptied before and removed after. */
  workDir: string
  /** The network file, passed to the candidate. */
  networkPath: string
  channel: string
  /** Bootstrap multiaddrs from the network file: always legitimate destinations. */
  bootstrap: string[]
  /**
   * Multiaddrs this node listened on before (an earlier release, before a switch): legitimate
   * too. The DHT still hands them out under this node's peer id for a while, and a candidate that
   * dials one finds nothing there, which the live node cannot confirm. @default []
   */
  formerAddresses?: string[]
  /** The live node's pid and API address, read at each sample (it may restart meanwhile). */
  live: () => Promise<{ pid: number; api: string } | undefined>
  /**
   * How long to wait for the live node when it is not running as the run begins (a restart):
   * past it the run is inconclusive, and the candidate is not started. @default 30000
   */
  liveWaitMs?: number
  durationMs: number
  /** Sampling period, ms. @default durationMs / 24, within [200, 10000] */
  sampleMs?: number
  /** Kill the candidate past this resident memory. @default max(4 x live RSS, 512 MiB) */
  memoryLimitBytes?: number
  /** Aborts the run (a newer release, the supervisor stopping): the candidate is stopped. */
  signal?: AbortSignal
  /**
   * Run on the copy of the data before the candidate starts on it (the migration's rehearsal):
   * a reason fails the run without starting the candidate.
   */
  prepare?: (dataDir: string) => Promise<string | undefined>
  /**
   * Whether the live node confirms a convoy peer at a host:port the candidate reached that it
   * did not know (POST /peer-check). Without it, every unknown destination is phone home.
   */
  confirmPeer?: (hostPort: string) => Promise<PeerCheck>
  /** Told the candidate's pid as soon as it exists (so a restarted supervisor can reap it). */
  onPid?: (pid: number | undefined) => void
  log?: (line: string) => void
}

/** The result of a shadow run. */
export interface ShadowRun {
  observation: ShadowObservation
  verdict: ShadowVerdict
  /** True when the run was aborted before its window ended (its verdict must not be used). */
  aborted: boolean
  /** The containment the run had, in a few words (named in status and in the report). */
  containment: string
}

/** Addresses the live node learned from the network: its peers and its peer store. */
function learned(s: NodeStatus | undefined): string[] {
  if (s === undefined) return []
  const addrs = [...s.peers.map((p) => p.addr ?? ''), ...s.addresses]
  // knownAddrs: absent from the status of a node older than it.
  return [...addrs.map(multiaddrHostPort).filter((x) => x !== undefined), ...(s.knownAddrs ?? [])]
}

/** The containment every shadow run has, named in its verdict's reason. */
export const SANDBOX_NAME =
  'sandbox: node --permission (fs to its dirs, no child processes), own process group'

/** How the run's egress was watched, named beside {@link SANDBOX_NAME}. */
function egressName(problem: string | undefined): string {
  return problem === undefined
    ? 'egress: every connect and datagram traced (strace)'
    : `egress: TCP sockets sampled only (${problem})`
}

/** The permission flags a candidate runs under: what its sandbox lets it touch. */
export function sandboxFlags(
  init: Pick<ShadowRunInit, 'entry' | 'workDir' | 'networkPath'>,
): string[] {
  return [
    '--permission',
    `--allow-fs-read=${dirname(init.entry)}`,
    `--allow-fs-read=${init.workDir}`,
    `--allow-fs-read=${init.networkPath}`,
    `--allow-fs-write=${init.workDir}`,
  ]
}

/** What a candidate's output says its sandbox refused (Node names the flag that would allow it). */
function refusals(text: string): string[] {
  if (
    !text.includes('ERR_ACCESS_DENIED') &&
    !text.includes('Access to this API has been restricted')
  )
    return []
  const out: string[] = []
  const kinds: Array<[string, string]> = [
    ['allow-fs-read', 'a file read outside its release and shadow dirs'],
    ['allow-fs-write', 'a file write outside its shadow dir'],
    ['allow-child-process', 'a child process'],
    ['allow-worker', 'a worker thread'],
    ['allow-addons', 'a native addon'],
  ]
  for (const [flag, what] of kinds) if (text.includes(flag)) out.push(what)
  return out.length > 0 ? out : ['an access its sandbox does not allow']
}

/** Most peer addresses a candidate is handed. */
const MAX_HANDED_PEERS = 16

/**
 * Stops a child: SIGTERM (to `target` when given: the process the child runs for, such as
 * strace's tracee), then SIGKILL to the child after `graceMs`.
 */
export async function stopChild(
  child: ChildProcess,
  graceMs: number,
  target?: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  try {
    if (target !== undefined) process.kill(target, 'SIGTERM')
    else child.kill('SIGTERM')
  } catch {}
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(t)
}

/** The live node, waited for up to `ms` (it may be restarting); undefined if it never came. */
async function liveWithin(
  init: ShadowRunInit,
  ms: number,
): Promise<{ pid: number; api: string } | undefined> {
  const end = Date.now() + ms
  for (;;) {
    const live = await init.live()
    if (live !== undefined || Date.now() >= end || init.signal?.aborted) return live
    await sleep(Math.min(500, end - Date.now()), init.signal)
  }
}

/** The run of a candidate that was never started: judged on why alone. */
function unstarted(
  init: ShadowRunInit,
  why: Pick<ShadowObservation, 'noLiveNode' | 'migration'>,
): ShadowRun {
  const observation: ShadowObservation = {
    baseline: [],
    candidate: [],
    ready: false,
    phoneHome: [],
    ...why,
  }
  return {
    observation,
    verdict: judgeShadow(observation),
    aborted: init.signal?.aborted === true,
    containment: SANDBOX_NAME,
  }
}

/** Runs the candidate beside the live node for `durationMs` and judges it. */
export async function runShadow(init: ShadowRunInit): Promise<ShadowRun> {
  const log = init.log ?? (() => {})
  // Without a live node there is no baseline, and no one to ask about a destination.
  const liveNow = await liveWithin(init, init.liveWaitMs ?? 30_000)
  if (liveNow === undefined) return unstarted(init, { noLiveNode: true })
  const data = join(init.workDir, 'data')
  await rm(init.workDir, { recursive: true, force: true })
  await mkdir(init.workDir, { recursive: true })
  // A copy of the live data (trust floor, roots, manifests) so the candidate starts where the node
  // is; never its identity (the candidate must not speak as the node), its API token (it must
  // not post to the live node's API), lock or artifacts.
  const skip = new Set(['identity.key', API_TOKEN_FILE, 'lock', 'running.json', 'artifacts'])
  await cp(init.liveDataDir, data, {
    recursive: true,
    filter: (src) => {
      const rel = src.slice(init.liveDataDir.length + 1)
      return rel === '' || !skip.has(rel.split('/')[0]!)
    },
  })
  // The candidate finds peers as the live node does: it is handed the addresses its live node
  // learned from the network, so the candidate of a node with no bootstrap peers (a network's
  // first node) reaches peers too.
  const liveStatus0 = await fetchStatus(liveNow.api, 2000)
  const handed = [
    ...(liveStatus0?.addresses ?? []),
    ...(liveStatus0?.knownAddrs ?? []).map(hostPortMultiaddr).filter((x) => x !== undefined),
  ].slice(0, MAX_HANDED_PEERS)
  const problem = await init.prepare?.(data)
  if (problem !== undefined) {
    await rm(init.workDir, { recursive: true, force: true }).catch(() => {})
    return unstarted(init, { migration: problem })
  }
  const args = [
    init.entry,
    'node',
    'start',
    '--role',
    'shadow',
    '--data-dir',
    data,
    '--network',
    init.networkPath,
    '--channel',
    init.channel,
    '--listen',
    '/ip4/127.0.0.1/tcp/0',
    '--api',
    '127.0.0.1:0',
    ...handed.flatMap((a) => ['--peer', a]),
  ]
  // The sandbox (Node's permission model): reads of its own release, its shadow dir and the
  // network file only, writes to its shadow dir only, no child processes, workers or addons.
  const sandbox = sandboxFlags(init)
  // Egress from outside: under strace, every connect and datagram of every process the
  // candidate runs is written to a file outside its write path. Without a tracer, its TCP
  // sockets are sampled, and the verdict says so.
  const untraced = await tracerProblem()
  const traceDir = join(dirname(init.workDir), 'egress-trace')
  const traceFile = join(traceDir, 'trace')
  const argv = [process.execPath, ...NODE_PROCESS_FLAGS, ...sandbox, ...args]
  if (untraced === undefined) {
    await rm(traceDir, { recursive: true, force: true })
    await mkdir(traceDir, { recursive: true, mode: 0o700 })
  }
  const containment = `${SANDBOX_NAME}; ${egressName(untraced)}`
  const child =
    untraced === undefined
      ? spawn('strace', tracedArgs(traceFile, argv), {
          stdio: ['ignore', 'pipe', 'pipe'],
          // Its own process group (strace and everything it traces): ended whole with the run.
          detached: true,
        })
      : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  init.onPid?.(child.pid)
  let tail = ''
  const refused = new Set<string>()
  const keep = (c: Buffer) => {
    const text = c.toString('utf8')
    tail = (tail + text).slice(-2000)
    for (const what of refusals(text)) if (refused.size < 8) refused.add(what)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let exited: string | undefined
  child.on('exit', (code, sig) => {
    exited = sig ?? `exit code ${code}`
  })
  child.on('error', (e) => {
    exited ??= `could not be started: ${e.message}`
  })
  // The candidate itself: strace's child running `argv`, or the child.
  const pid = untraced === undefined ? await tracee(child.pid!, argv) : child.pid
  const watch = new EgressWatch({
    ...(untraced === undefined ? { trace: new EgressTrace(traceFile) } : {}),
    resolvers: await hostResolvers(),
    ...(init.confirmPeer !== undefined ? { confirm: init.confirmPeer } : {}),
    log,
  })
  // Legitimate destinations: the network file's bootstrap peers, and what the live node told
  // the candidate at its start (so a sample whose live status read timed out on a busy machine
  // cannot make the candidate's first connections look like phone home), then whatever the
  // live node learns during the run. Never anything the candidate says.
  watch.allow(
    [...init.bootstrap, ...handed, ...(init.formerAddresses ?? [])].map(multiaddrHostPort),
  )
  watch.allow(learned(liveStatus0))
  const baseline: ProcessSample[] = []
  const candidate: ProcessSample[] = []
  let phoneHome: string[] = []
  let ready = false
  let outOfMemory = false
  const started = Date.now()
  const period = init.sampleMs ?? sampleMs(init.durationMs)
  let prevC: ProcReading | undefined
  let prevB: ProcReading | undefined
  let candidateApi: string | undefined
  let lastPeers = 0
  let lastHandshakes = 0
  let exitedDuring: string | undefined
  try {
    for (let k = 1; Date.now() - started < init.durationMs && !init.signal?.aborted; k++) {
      // A fixed cadence: a slow sample (a busy machine) does not push every later one back.
      await sleep(sampleWaitMs(started, k, period, Date.now()), init.signal)
      if (init.signal?.aborted) break
      if (exited !== undefined || pid === undefined) break
      const now = Date.now()
      const live = await init.live()
      if (candidateApi === undefined) {
        const r = await readRunning(data)
        if (r !== undefined && r.pid === pid) candidateApi = r.api
      }
      // One sample's reads run together: under load, serial reads would stretch the period and
      // leave too few samples for a verdict.
      const [liveStatus, cStatus, sockets, c, b] = await Promise.all([
        live ? fetchStatus(live.api, 1000) : undefined,
        candidateApi ? fetchStatus(candidateApi, 1000) : undefined,
        untraced === undefined ? [] : tcpSockets(pid),
        readProc(pid, now),
        live ? readProc(live.pid, now) : undefined,
      ])
      watch.allow(learned(liveStatus))
      if (cStatus !== undefined && !ready) {
        ready = true
        log(`shadow candidate ready after ${now - started} ms`)
      }
      // Checked on every sample, ready or not: a build may phone home before it listens.
      watch.sawSockets(outboundRemotes(sockets))
      await watch.poll()
      phoneHome = watch.phoneHome()
      if (phoneHome.length > 0 || refused.size > 0) break
      if (c === undefined) continue
      const limit = init.memoryLimitBytes ?? memoryLimitBytes(b?.rss)
      if (c.rss > limit) {
        outOfMemory = true
        log(`shadow candidate uses ${Math.round(c.rss / 2 ** 20)} MiB, over its limit: killing it`)
        break
      }
      if (cStatus !== undefined) {
        lastPeers = cStatus.peers.filter((p) => p.connected).length
        lastHandshakes = cStatus.counters.hello_ok ?? 0
      }
      // Samples count from readiness on: start-up costs are not the build's steady behaviour.
      if (ready && prevC !== undefined && b !== undefined && prevB !== undefined) {
        candidate.push({
          rss: c.rss,
          cpu: cpuShare(prevC, c),
          fds: c.fds,
          peers: lastPeers,
          handshakes: lastHandshakes,
        })
        const ls = liveStatus
        baseline.push({
          rss: b.rss,
          cpu: cpuShare(prevB, b),
          fds: b.fds,
          peers: ls ? ls.peers.filter((p) => p.connected).length : 0,
          handshakes: ls?.counters.hello_ok ?? 0,
        })
      }
      prevC = c
      prevB = b
    }
  } finally {
    // Record how the candidate ended before stopping it ourselves (that exit is not its fault).
    exitedDuring = exited
    // SIGTERM to the candidate itself (to strace it would mean: detach and let it run on).
    await stopChild(child, 3000, pid)
    // Whatever it left in its process group goes with it.
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
    } catch {}
    init.onPid?.(undefined)
    await rm(init.workDir, { recursive: true, force: true }).catch(() => {})
  }
  if (pid === undefined && exitedDuring === undefined)
    throw new Error('strace started no candidate within 10 s')
  // The last of the trace, and the answers still out: only a confirmation excuses a destination.
  await watch.poll().catch(() => {})
  if (init.signal?.aborted !== true) await watch.settle(10_000)
  phoneHome = watch.phoneHome(true)
  const unconfirmed = watch.unconfirmed()
  await rm(traceDir, { recursive: true, force: true }).catch(() => {})
  if (phoneHome.length > 0) log(`shadow candidate phoned home: ${phoneHome.join(', ')}`)
  const observation: ShadowObservation = {
    baseline,
    candidate,
    ready,
    phoneHome: [...phoneHome].sort(),
    ...(exitedDuring !== undefined && !outOfMemory && phoneHome.length === 0
      ? { exited: exitedDuring }
      : {}),
    ...(outOfMemory ? { outOfMemory } : {}),
    ...(refused.size > 0 ? { refused: [...refused] } : {}),
    ...(unconfirmed.length > 0 ? { unconfirmed } : {}),
  }
  const verdict = judgeShadow(observation)
  if (verdict.verdict === 'fail' && exitedDuring !== undefined && tail.trim() !== '')
    log(
      `shadow candidate output before it exited: ${tail.trim().split('\n').slice(-3).join(' | ')}`,
    )
  return { observation, verdict, aborted: init.signal?.aborted === true, containment }
}
