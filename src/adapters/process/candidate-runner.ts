/**
 * Getting a target release ready beside the live node: the fetch (the node fetches the artifact
 * from peers; this waits until it holds it), the stage (install it into the home) and the shadow
 * run (shadow.ts). Each answers the rollout machine with an input, unless the machine has moved
 * on from that target meanwhile.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ReleaseSigned } from '../../core/manifest/release.ts'
import type { RolloutInput, RolloutState, Target } from '../../core/rollout/machine.ts'
import type { ProcessSample } from '../../core/shadow/verdict.ts'
import { readPackInfo } from '../build/pack.ts'
import { readApiToken } from '../fs/api-token.ts'
import { exists, type Home } from '../fs/home.ts'
import type { PidFile } from './child-pids.ts'
import { hasMigration, rehearseMigration } from './migration.ts'
import { postPeerCheck } from './node-api.ts'
import { runShadow } from './shadow.ts'
import type { SupervisorInit } from './supervisor-types.ts'
import { sleep } from './timing.ts'

/** What the candidate runs need from the supervisor. */
export interface CandidateRunnerHost {
  home: Home
  init: SupervisorInit
  /** Channel followed. */
  channel: string
  log: (line: string) => void
  /** Runs work in the background, logging a failure. */
  background: (what: string, work: Promise<unknown>) => void
  /** Queues one input for the machine. */
  feed: (input: RolloutInput) => void
  /** True while the machine is in `phase` for target `t`. */
  targetIs: (t: Target, phase: RolloutState['phase']) => boolean
  /** The live node's pid and API, when it runs and has said where its API is. */
  live: () => Promise<{ pid: number; api: string } | undefined>
  /** Multiaddrs the nodes of this supervisor listened on so far (a shadow may reach them). */
  formerAddresses?: () => string[]
  /** A manifest the node verified and stored, by sequence on the followed channel. */
  readManifest: (sequence: number) => Promise<ReleaseSigned | undefined>
  /** Records children's pids in pids.json. */
  savePids: (update: Partial<PidFile>) => Promise<void>
  /** Keeps the live node's samples of a passed shadow run: probation's baseline. */
  keepBaseline?: (digest: string, samples: readonly ProcessSample[]) => void
}

/** Fetch, stage and shadow run of the target release; one fetch and one shadow run at a time. */
export class CandidateRunner {
  private readonly home: Home
  private readonly init: SupervisorInit
  private readonly channel: string
  private readonly log: (line: string) => void
  private readonly background: (what: string, work: Promise<unknown>) => void
  private readonly feed: (input: RolloutInput) => void
  private readonly targetIs: (t: Target, phase: RolloutState['phase']) => boolean
  private readonly live: () => Promise<{ pid: number; api: string } | undefined>
  private readonly readManifest: (sequence: number) => Promise<ReleaseSigned | undefined>
  private readonly savePids: (update: Partial<PidFile>) => Promise<void>
  private fetchAbort?: AbortController
  private shadowAbort?: AbortController
  private shadowRunning?: Promise<void>
  private readonly host: CandidateRunnerHost

  constructor(host: CandidateRunnerHost) {
    this.host = host
    this.home = host.home
    this.init = host.init
    this.channel = host.channel
    this.log = host.log
    this.background = host.background
    this.feed = host.feed
    this.targetIs = host.targetIs
    this.live = host.live
    this.readManifest = host.readManifest
    this.savePids = host.savePids
  }

  /** Aborts the fetch and the shadow run, and waits until the shadow run has stopped. */
  async stop(): Promise<void> {
    this.fetchAbort?.abort()
    this.shadowAbort?.abort()
    await this.shadowRunning?.catch(() => {})
  }

  /** Aborts the shadow run, if one runs. */
  stopShadow(): void {
    this.shadowAbort?.abort()
  }

  /** The node fetches the artifact from peers (hash-checked); this waits until it holds it. */
  async doFetch(t: Target): Promise<void> {
    this.fetchAbort?.abort()
    const abort = new AbortController()
    this.fetchAbort = abort
    const fail = (reason: string) => {
      if (this.targetIs(t, 'fetching')) this.feed({ type: 'fetched', ok: false, reason })
    }
    const signed = await this.readManifest(t.sequence)
    if (signed === undefined) return fail('the node no longer holds the manifest')
    const pin = signed.artifacts.node
    if (pin === undefined) return fail(`${t.version} has no artifact for platform "node"`)
    const path = join(this.home.dataDir, 'artifacts', pin.sha256)
    while (!abort.signal.aborted && this.targetIs(t, 'fetching')) {
      // The node renames a file into its store only once its length and sha256 match the pin.
      if (await exists(path)) {
        this.feed({ type: 'fetched', ok: true })
        return
      }
      await sleep(250)
    }
  }

  async doStage(t: Target): Promise<void> {
    try {
      const signed = await this.readManifest(t.sequence)
      const pin = signed?.artifacts.node
      if (pin === undefined) throw new Error('the manifest pins no artifact for platform "node"')
      const bytes = new Uint8Array(await readFile(join(this.home.dataDir, 'artifacts', pin.sha256)))
      const info = readPackInfo(bytes)
      if (info.version !== t.version)
        throw new Error(
          `the artifact is a build of ${info.version}, the manifest says ${t.version}`,
        )
      await this.home.install(t.version, bytes, pin)
      if (this.targetIs(t, 'staged')) this.feed({ type: 'staged', ok: true })
    } catch (e) {
      if (this.targetIs(t, 'staged'))
        this.feed({ type: 'staged', ok: false, reason: (e as Error).message })
    }
  }

  /**
   * The migration's rehearsal on the shadow's copy of the data (migration.ts), when the release
   * ships one: a reason when it fails, undefined when it passed or there is none.
   */
  private async rehearse(t: Target, data: string): Promise<string | undefined> {
    const dir = this.home.releaseDir(t.version)
    if (!(await hasMigration(dir, 'up'))) return undefined
    const from = (await this.home.current()) ?? '0.0.0'
    const deadlineMs = this.init.migrationTimeoutMs ?? 120_000
    const budget = t.policy.maxDowntimeSeconds
    // Past the budget the verdict is known: no need to wait for the deadline.
    const r = await rehearseMigration(
      dir,
      data,
      from,
      t.version,
      budget === undefined
        ? { deadlineMs }
        : { deadlineMs: Math.min(deadlineMs, budget * 1000), budgetMs: budget * 1000 },
    )
    if (!r.verdict.ok) return r.verdict.reason
    this.log(
      `migration ${from} -> ${t.version} rehearsed on a copy in ${r.upMs} ms${r.reversible ? '; its reverse too' : ''}`,
    )
    return undefined
  }

  doShadow(t: Target, durationMs: number): void {
    this.shadowAbort?.abort()
    const abort = new AbortController()
    this.shadowAbort = abort
    const previous = this.shadowRunning ?? Promise.resolve()
    this.shadowRunning = previous.then(async () => {
      if (abort.signal.aborted) return
      try {
        const run = await runShadow({
          entry: join(this.home.releaseDir(t.version), 'convoy.mjs'),
          liveDataDir: this.home.dataDir,
          workDir: this.home.shadowDir,
          networkPath: this.init.networkPath,
          channel: this.channel,
          bootstrap: this.init.network.bootstrap,
          formerAddresses: this.host.formerAddresses?.() ?? [],
          live: () => this.live(),
          confirmPeer: async (hostPort) => {
            const live = await this.live()
            if (live === undefined)
              return { peer: false, reason: 'the live node is not running', unanswered: true }
            return postPeerCheck(live.api, hostPort, await readApiToken(this.home.dataDir))
          },
          prepare: (data) => this.rehearse(t, data),
          durationMs,
          signal: abort.signal,
          onPid: (pid) =>
            this.background('recording the shadow pid', this.savePids({ shadow: pid })),
          log: (l) => this.log(l),
        })
        if (run.aborted || !this.targetIs(t, 'shadow')) return
        const v = run.verdict
        if (v.verdict === 'pass') this.host.keepBaseline?.(t.digest, run.observation.baseline)
        this.log(
          `shadow verdict for ${t.version}: ${v.verdict} (${v.reason}); ${run.observation.candidate.length} samples`,
        )
        // Which containment the run had goes with the verdict, into status and the report.
        this.feed({
          type: 'shadow-result',
          verdict: v.verdict,
          reason: `${v.reason} [${run.containment}]`,
        })
      } catch (e) {
        if (this.targetIs(t, 'shadow'))
          this.feed({
            type: 'shadow-result',
            verdict: 'inconclusive',
            reason: `the shadow run could not be carried out: ${(e as Error).message}`,
          })
      }
    })
  }
}
