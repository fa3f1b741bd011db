/**
 * The supervisor: it owns a home directory (see fs/home.ts), runs the node from `current` as a
 * child process and keeps it running, and carries out the rollout that the pure state machine in
 * src/core/rollout decides. Each input (a verified manifest seen by the node, a fetched artifact,
 * a shadow verdict, evidence from the network, a health check, a tick of the clock) goes through
 * `step`; the new state is persisted (write, fsync, rename) before any of its effects run, so a
 * supervisor killed at any point resumes from the last persisted state and re-issues that phase's
 * effect. Effects that touch the node process (switch, rollback, reinstall) run one at a time and
 * are idempotent: a switch journal (switch.json) records the backup it made, so a switch resumed
 * after a crash first undoes a half-run migration.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { HEALTH_TIMEOUT_MS } from '../../core/rollout/health.ts'
import {
  initialRollout,
  inWatch,
  type RolloutEffect,
  type RolloutInput,
  type RolloutState,
  step,
  type Target,
} from '../../core/rollout/machine.ts'
import { MAX_REPORT_REASON } from '../../core/rollout/report.ts'
import {
  DEFAULT_MAX_RESTART_MS,
  DEFAULT_RESTART_MS,
  type RestartBackoff,
  restartAfterCrash,
} from '../../core/rollout/restart.ts'
import { readPackInfo } from '../build/pack.ts'
import { Home, HomeError, SWITCH_JOURNAL } from '../fs/home.ts'
import { NodeStore } from '../fs/node-store.ts'
import { signReport } from '../libp2p/reports.ts'
import { CandidateRunner } from './candidate-runner.ts'
import { ChildPids } from './child-pids.ts'
import { answersHealth, fetchStatus, REUSE_PORT_ENV, readRunning } from './node-api.ts'
import { NODE_PROCESS_FLAGS } from './node-flags.ts'
import { NodeSwitch } from './node-switch.ts'
import { NodeWatch } from './node-watch.ts'
import { ProbationMeasure } from './probation-measure.ts'
import { ReportOutbox } from './report-outbox.ts'
import { stopChild } from './shadow.ts'
import type { SupervisorInit, SupervisorStatus } from './supervisor-types.ts'
import { sleep } from './timing.ts'

export type { SupervisorInit, SupervisorStatus } from './supervisor-types.ts'

/** Most former listen addresses a supervisor remembers. */
const MAX_FORMER_ADDRESSES = 64

/** Runs the node from a home's `current` release, keeps it running and upgrades it. */
export class Supervisor {
  readonly home: Home
  private readonly init: SupervisorInit
  private readonly now: () => number
  private child?: ChildProcess
  /** The node of the release being replaced, draining beside its successor (a handover). */
  private draining?: ChildProcess
  /** Set while the supervisor itself stops the node: that exit is not a crash. */
  private expectedExit = new WeakSet<ChildProcess>()
  private stopping = false
  private restarts = 0
  private readonly restartBounds: RestartBackoff
  private backoff: number
  private restartTimer?: NodeJS.Timeout
  private tickTimer?: NodeJS.Timeout
  private ticking = false
  private state!: RolloutState
  private queue: Promise<void> = Promise.resolve()
  private procLock: Promise<void> = Promise.resolve()
  private identity?: PrivateKey
  private readonly pids: ChildPids
  /** Listen addresses of the nodes this supervisor ran (bounded), for shadow allow-lists. */
  private readonly formerAddresses = new Set<string>()
  private readonly candidate: CandidateRunner
  private readonly outbox: ReportOutbox
  private readonly switcher: NodeSwitch
  private readonly watch: NodeWatch
  private readonly measure = new ProbationMeasure()
  /** How the node last died unexpectedly, for the probation verdict. */
  private lastExit?: string

  constructor(init: SupervisorInit) {
    this.init = init
    this.home = new Home(init.home)
    this.restartBounds = {
      firstMs: init.restartMs ?? DEFAULT_RESTART_MS,
      maxMs: init.maxRestartMs ?? DEFAULT_MAX_RESTART_MS,
    }
    this.backoff = this.restartBounds.firstMs
    this.now = init.now ?? Date.now
    const log = (line: string) => this.log(line)
    const feed = (input: RolloutInput) => this.feed(input)
    const live = () => this.live()
    this.pids = new ChildPids(this.home, log)
    this.outbox = new ReportOutbox(live, log, this.home.dataDir)
    this.watch = new NodeWatch({
      home: this.home,
      channel: this.channel,
      feed,
      state: () => this.state,
      lastExit: () => this.lastExit,
      anchor: init.network.anchor,
    })
    this.candidate = new CandidateRunner({
      home: this.home,
      init,
      channel: this.channel,
      log,
      background: (what, work) => this.background(what, work),
      feed,
      targetIs: (t, phase) => this.targetIs(t, phase),
      live,
      formerAddresses: () => [...this.formerAddresses],
      readManifest: (sequence) => this.watch.readManifest(sequence),
      savePids: (update) => this.pids.savePids(update),
      keepBaseline: (digest, samples) => this.measure.keepBaseline(digest, samples),
    })
    this.switcher = new NodeSwitch({
      home: this.home,
      init,
      log,
      stopNode: () => this.stopNode(),
      drainNode: () => this.drainNode(),
      stopDrained: () => this.stopDrained(),
      spawnNode: () => this.spawnNode(),
      waitReady: (child) => this.waitReady(child),
      crashAt: (point) => this.crashAt(point),
      state: () => this.state,
    })
  }

  /** ms the node refused connections during the last switch (stop -> new node ready). */
  get lastDowntimeMs(): number | undefined {
    return this.switcher.lastDowntimeMs
  }

  private log(line: string): void {
    this.init.log?.(line)
  }

  /**
   * Runs work in the background: a failure (a full disk, a vanished file) is logged, never left
   * as an unhandled rejection that would take the supervisor down with its node still running.
   */
  private background(what: string, work: Promise<unknown>): void {
    work.catch((e: Error) => this.log(`${what} failed: ${e.message}`))
  }

  private get channel(): string {
    return this.init.channel ?? 'stable'
  }

  // ------------------------------------------------------------------ start and stop

  /**
   * Opens the home, reaps children a killed supervisor left behind, installs the first release if
   * needed, loads or creates the state, starts the node (unless a switch or rollback in flight
   * will), and resumes the rollout where the persisted state says it was.
   */
  async start(): Promise<void> {
    await this.home.open()
    await this.pids.reapOrphans()
    let version = await this.home.current()
    if (version === undefined) {
      if (this.init.initialRelease === undefined) {
        throw new HomeError(
          `${this.init.home} has no current release: pass --release convoy-<version>.tgz (from \`convoy release pack\`) for the first start`,
        )
      }
      const bytes = new Uint8Array(await readFile(this.init.initialRelease))
      const info = readPackInfo(bytes)
      // The operator chose this file for the first start: its own hash is the pin.
      const pin = { sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length }
      await this.home.install(info.version, bytes, pin)
      await this.home.switchCurrent(info.version)
      version = info.version
      this.log(
        `installed ${info.version} from ${this.init.initialRelease} (sha256 ${pin.sha256.slice(0, 12)})`,
      )
    }
    this.identity = await this.ensureIdentity()
    const nodeId = peerIdFromPrivateKey(this.identity).toString()
    const loaded = await this.home.loadState<RolloutState>()
    let state = loaded ?? initialRollout(nodeId, version, this.init.settings)
    if (state.nodeId !== nodeId) state = { ...state, nodeId }
    if (this.init.settings)
      state = { ...state, settings: { ...state.settings, ...this.init.settings } }
    this.state = state
    await this.home.saveState(this.state)
    // In these phases the resumed effect (re)starts the node itself, on the right version.
    const effectOwnsNode = ['switching', 'rolled-back', 'probation'].includes(state.phase)
    if (!effectOwnsNode) {
      // A switch journal outlives its switch only if the supervisor died before cleaning up.
      await this.home.removeFile(SWITCH_JOURNAL)
      if ((await this.home.current()) !== state.current) {
        // The state is the truth: it was persisted before the pointer could move.
        this.log(`current pointed at ${await this.home.current()}; the state says ${state.current}`)
        await this.home.switchCurrent(state.current)
      }
      await this.spawnNode()
    }
    if (loaded !== undefined) this.feed({ type: 'resume' })
    this.tickTimer = setInterval(() => void this.tick(), this.init.tickMs ?? 1000)
  }

  /** Stops the rollout clock, any shadow run, and the node (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    this.stopping = true
    if (this.tickTimer) clearInterval(this.tickTimer)
    if (this.restartTimer) clearTimeout(this.restartTimer)
    await this.candidate.stop()
    await this.queue.catch(() => {})
    await this.procLock.catch(() => {})
    await this.stopNode()
  }

  /** Where the supervisor is. */
  async status(): Promise<SupervisorStatus> {
    const version = await this.home.current()
    return {
      ...(version ? { version } : {}),
      ...(this.child?.pid ? { pid: this.child.pid } : {}),
      restarts: this.restarts,
      phase: this.state?.phase ?? 'idle',
      reason: this.state?.reason ?? 'starting',
    }
  }

  /** The rollout state (a snapshot). */
  rollout(): RolloutState {
    return this.state
  }

  /**
   * The node's identity, made here on the first start if the node has none yet (the node store's
   * own rule, the same file), so the slot is known before the node runs.
   */
  private ensureIdentity(): Promise<PrivateKey> {
    return new NodeStore(this.home.dataDir).identity()
  }

  // ------------------------------------------------------------------ the node process

  private async spawnNode(): Promise<ChildProcess> {
    const version = (await this.home.current())!
    const entry = join(this.home.dir, 'releases', version, 'convoy.mjs')
    const args = [
      entry,
      'node',
      'start',
      '--data-dir',
      this.home.dataDir,
      '--network',
      this.init.networkPath,
      '--channel',
      this.channel,
      ...this.init.nodeArgs,
    ]
    const child = spawn(process.execPath, [...NODE_PROCESS_FLAGS, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.init.nodeEnv, [REUSE_PORT_ENV]: '1' },
    })
    this.child = child
    this.lastExit = undefined
    const startedAt = Date.now()
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') this.log(`node: ${line}`)
    }
    child.stdout?.on('data', forward)
    child.stderr?.on('data', forward)
    this.log(`started node ${version} pid ${child.pid}`)
    await this.pids.savePids({ node: child.pid })
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined
      if (this.stopping || this.expectedExit.has(child)) return
      const how = signal ?? `code ${code}`
      this.lastExit = how
      if (this.state.phase === 'probation') {
        this.feed({ type: 'health', ok: false, reason: `the node exited (${how})` })
        return
      }
      if (this.state.phase === 'switching' || this.state.phase === 'rolled-back') return
      // Within the watch after commit, the machine judges a crash loop (machine-watch.ts).
      if (this.state.phase === 'committed')
        this.feed({ type: 'exited', reason: `the node exited (${how})` })
      // The backoff and its reset after a healthy run: core/rollout/restart.ts.
      const restart = restartAfterCrash(this.backoff, Date.now() - startedAt, this.restartBounds)
      this.backoff = restart.nextMs
      this.restarts++
      this.log(`node exited (${how}); restarting in ${restart.waitMs} ms`)
      this.restartTimer = setTimeout(() => {
        if (!this.stopping && this.child === undefined)
          this.background('restarting the node', this.spawnNode())
      }, restart.waitMs)
    })
    return child
  }

  /** Stops the node (and a draining one): SIGTERM, then SIGKILL after the deadline. */
  private async stopNode(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer)
    const child = this.child
    await Promise.all([this.stopDrained(), child === undefined ? undefined : this.stopOne(child)])
    if (child === undefined) return
    if (this.child === child) this.child = undefined
    await this.pids.savePids({ node: undefined })
  }

  private async stopOne(child: ChildProcess): Promise<void> {
    this.expectedExit.add(child)
    const grace = this.init.stopTimeoutMs ?? 10_000
    const killTimer = setTimeout(
      () => this.log(`node pid ${child.pid} did not stop within ${grace} ms; killing it`),
      grace,
    )
    await stopChild(child, grace)
    clearTimeout(killTimer)
  }

  /**
   * The first half of a handover: SIGUSR2 asks the node (which said it listens with reusePort) to
   * let go of its API and data dir; it keeps listening on its port until {@link stopDrained}.
   * Returns the draining process once its data-dir lock is gone, or undefined when there is no
   * node or it did not drain within the stop deadline (it is stopped then, as in a plain stop).
   */
  private async drainNode(): Promise<ChildProcess | undefined> {
    if (this.restartTimer) clearTimeout(this.restartTimer)
    const child = this.child
    if (child === undefined) return undefined
    this.expectedExit.add(child)
    this.child = undefined
    this.draining = child
    await this.pids.savePids({ node: undefined, draining: child.pid })
    const deadline = Date.now() + (this.init.stopTimeoutMs ?? 10_000)
    try {
      child.kill('SIGUSR2')
      while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
        const holder = await readFile(join(this.home.dataDir, 'lock'), 'utf8').catch(() => '')
        if (Number(holder.trim()) !== child.pid) return child
        await sleep(10)
      }
    } catch {}
    this.log(`node pid ${child.pid} did not drain; stopping it`)
    await this.stopDrained()
    return undefined
  }

  /** Stops the draining node, if any: it closes its listener and connections, and exits. */
  private async stopDrained(): Promise<void> {
    const child = this.draining
    if (child === undefined) return
    await this.stopOne(child)
    if (this.draining === child) this.draining = undefined
    await this.pids.savePids({ draining: undefined })
  }

  /** Waits until the node just spawned wrote running.json and answers /status. */
  private async waitReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + (this.init.readyTimeoutMs ?? 30_000)
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the node exited (${child.signalCode ?? `code ${child.exitCode}`})`)
      const r = await readRunning(this.home.dataDir)
      if (r !== undefined && r.pid === child.pid && (await fetchStatus(r.api, 1000)) !== undefined)
        return
      await sleep(25)
    }
    throw new Error(`the node was not ready within ${this.init.readyTimeoutMs ?? 30_000} ms`)
  }

  /** The live node's pid and API, when it runs and has said where its API is. */
  private async live(): Promise<{ pid: number; api: string } | undefined> {
    const pid = this.child?.pid
    if (pid === undefined) return undefined
    const r = await readRunning(this.home.dataDir)
    if (r?.pid !== pid) return undefined
    // Every address a node of this supervisor listened on: a later shadow may still reach one.
    for (const a of r.addresses ?? []) {
      this.formerAddresses.add(a)
      if (this.formerAddresses.size > MAX_FORMER_ADDRESSES)
        this.formerAddresses.delete(this.formerAddresses.values().next().value as string)
    }
    return { pid, api: r.api }
  }

  // ------------------------------------------------------------------ the rollout loop

  /** Queues one input for the machine; inputs are stepped one at a time, in order. */
  feed(input: RolloutInput): void {
    this.queue = this.queue.then(
      () => this.apply(input),
      () => this.apply(input),
    )
  }

  private async apply(input: RolloutInput): Promise<void> {
    if (this.stopping) return
    const r = step(this.state, input, this.now())
    if (r.state !== this.state) {
      try {
        await this.home.saveState(r.state)
      } catch (e) {
        // Nothing is carried out that is not persisted: the machine stays where it was, and its
        // deadlines bring the input's consequences back once the disk takes writes again.
        this.log(
          `cannot persist the rollout state (${(e as Error).message}); ${input.type} not applied`,
        )
        return
      }
      this.state = r.state
      if (this.crashAt(`phase:${r.state.phase}`)) return
    }
    for (const e of r.effects) this.carryOut(e)
  }

  /** Test fault injection: dies here, with SIGKILL, if told to. */
  private crashAt(point: string): boolean {
    if (!this.init.crashAt?.includes(point)) return false
    this.log(`CONVOY_TEST_CRASH: killing the supervisor at ${point}`)
    process.kill(process.pid, 'SIGKILL')
    return true
  }

  /** Carries out one effect; long ones run in the background and answer with an input. */
  private carryOut(e: RolloutEffect): void {
    switch (e.type) {
      case 'log':
        this.log(`rollout: ${e.message}`)
        return
      case 'fetch':
        this.background('fetch', this.candidate.doFetch(e.target))
        return
      case 'stage':
        this.background('stage', this.candidate.doStage(e.target))
        return
      case 'start-shadow':
        this.candidate.doShadow(e.target, e.durationMs)
        return
      case 'stop-shadow':
        this.candidate.stopShadow()
        return
      case 'report':
        this.background('report', this.doReport(e))
        return
      case 'switch':
        this.exclusive('switched', () => this.switcher.doSwitch(e.from, e.target))
        return
      case 'rollback':
        this.exclusive('rolled-back', () => this.switcher.doRollback(e.from, e.to))
        return
      case 'reinstall':
        this.exclusive('reinstalled', () => this.switcher.doReinstall(e.version))
        return
      case 'commit':
        this.exclusive(undefined, () => this.switcher.doCommit(e.version, e.previous))
        return
    }
  }

  /** Runs process work one job at a time; answers with `answer` ok or failed (with the reason). */
  private exclusive(
    answer: 'switched' | 'rolled-back' | 'reinstalled' | undefined,
    work: () => Promise<void>,
  ): void {
    this.procLock = this.procLock.then(async () => {
      if (this.stopping) return
      try {
        await work()
        if (answer) this.feed({ type: answer, ok: true })
      } catch (err) {
        const reason = (err as Error).message
        this.log(`${answer ?? 'commit'} failed: ${reason}`)
        if (answer) this.feed({ type: answer, ok: false, reason })
      }
    })
  }

  private targetIs(t: Target, phase: RolloutState['phase']): boolean {
    return this.state.phase === phase && this.state.target?.digest === t.digest
  }

  private async doReport(e: Extract<RolloutEffect, { type: 'report' }>): Promise<void> {
    if (this.identity === undefined) return
    const bytes = signReport(this.identity, {
      type: 'convoy-report',
      network: this.init.network.network,
      reporter: this.state.nodeId,
      release: e.target.digest,
      version: e.target.version,
      stage: e.stage,
      verdict: e.verdict,
      at: this.now(),
      reason: e.reason.slice(0, MAX_REPORT_REASON),
    })
    await this.outbox.push(bytes, `${e.stage} ${e.verdict} for ${e.target.version}`)
  }

  // ------------------------------------------------------------------ the clock

  /**
   * One turn of the rollout clock: learn the node's newest verified manifest, read the evidence
   * it holds, check the node's health on probation, pick up approvals, then tick the machine.
   */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopping) return
    this.ticking = true
    try {
      const live = await this.live()
      const status = live ? await fetchStatus(live.api, 2000) : undefined
      // A revocation first: a manifest of the revoked version then finds it marked bad.
      await this.watch.noticeRevocations(status)
      if (status) await this.watch.noticeManifest(status)
      if (live && this.state.target && this.state.phase !== 'bad')
        await this.watch.readEvidence(live.api)
      // Health is the cheap `/health`, asked on its own: a slow status never fails a node.
      const answered = (): Promise<boolean> =>
        live ? answersHealth(live.api, HEALTH_TIMEOUT_MS) : Promise.resolve(false)
      if (this.state.phase === 'probation') {
        this.watch.checkHealth(live !== undefined, await answered())
        // Probation measures: the new node against its own samples from before the switch.
        const t = this.state.target
        const measured = live && t ? await this.measure.sample(t.digest, live, status) : undefined
        if (measured !== undefined)
          this.feed({ type: 'health', ok: false, reason: `probation measured: ${measured}` })
      }
      // After commit, within the watch: a running node that stops answering (exits are fed as
      // they happen, and a restart in progress is not a miss).
      else if (live !== undefined && inWatch(this.state, this.now()))
        this.watch.checkHealth(true, await answered())
      await this.watch.readApprovals()
      if (this.outbox.length > 0) await this.outbox.flushOutbox()
      this.feed({ type: 'tick' })
    } catch (e) {
      this.log(`tick failed: ${(e as Error).message}`)
    } finally {
      this.ticking = false
    }
  }
}
