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
import { once } from 'node:events'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decodeRelease, type ReleaseSigned } from '../../core/manifest/release.ts'
import { documentDigest } from '../../core/manifest/signing.ts'
import type { NetworkConfig } from '../../core/net/network-config.ts'
import { type EvidenceSummary, summarize } from '../../core/rollout/evidence.ts'
import {
  initialRollout,
  type OperatorSettings,
  type RolloutEffect,
  type RolloutInput,
  type RolloutState,
  step,
  type Target,
} from '../../core/rollout/machine.ts'
import { readPackInfo } from '../build/pack.ts'
import { readApiToken } from '../fs/api-token.ts'
import { exists, Home, HomeError } from '../fs/home.ts'
import { isAlive, NodeStore } from '../fs/node-store.ts'
import { signReport } from '../libp2p/reports.ts'
import { fetchReports, fetchStatus, postReport, readRunning } from './node-api.ts'
import { cmdlineIncludes } from './probe.ts'
import { runShadow, stopChild } from './shadow.ts'

/** Options of {@link Supervisor}. */
export interface SupervisorInit {
  /** The home directory (releases, current, state, backups, data). */
  home: string
  /** Path of the network file (passed to every node and shadow run). */
  networkPath: string
  /** The decoded network file: its name signs reports, its bootstrap peers are legitimate. */
  network: NetworkConfig
  /** Channel followed. @default "stable" */
  channel?: string
  /** Extra arguments for `node start` (listen, api, limits), after --data-dir, --network, --channel. */
  nodeArgs: string[]
  /** A `convoy release pack` artifact to install when the home has no current release. */
  initialRelease?: string
  /** Operator settings; stored in the rollout state and re-applied on every start. */
  settings?: Partial<OperatorSettings>
  /** First restart delay, ms; doubles up to `maxRestartMs`. @default 1000 */
  restartMs?: number
  /** @default 30000 */
  maxRestartMs?: number
  /** How long a stopping node gets after SIGTERM before SIGKILL, ms. @default 10000 */
  stopTimeoutMs?: number
  /** Period of the rollout clock: status polls, evidence, health checks, ticks, ms. @default 1000 */
  tickMs?: number
  /** How long a started node has to write running.json and answer /status, ms. @default 30000 */
  readyTimeoutMs?: number
  /** How long a release's migration script may run, ms. @default 120000 */
  migrationTimeoutMs?: number
  /** Backups of the data dir kept. @default 3 */
  keepBackups?: number
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number
  /**
   * Fault injection for tests: names of points (`phase:<phase>` after a state with that phase is
   * persisted, or `switch:stopped|backed-up|migrated|pointer`) at which the supervisor kills
   * itself with SIGKILL. `convoy run` reads it from CONVOY_TEST_CRASH.
   */
  crashAt?: string[]
  log?: (line: string) => void
}

/** What `status()` reports. */
export interface SupervisorStatus {
  version?: string
  pid?: number
  restarts: number
  phase: RolloutState['phase']
  reason: string
}

/** The journal of a switch in flight. */
interface SwitchJournal {
  from: string
  to: string
  backup: string
}

/** Pids of children, so a supervisor restarted after SIGKILL can stop the orphans. */
interface PidFile {
  node?: number
  shadow?: number
}

/** A signed report not yet accepted by the node (it may be restarting). */
interface Outgoing {
  bytes: Uint8Array
  label: string
  tries: number
}

/** Runs the node from a home's `current` release, keeps it running and upgrades it. */
export class Supervisor {
  readonly home: Home
  private readonly init: SupervisorInit
  private readonly now: () => number
  private child?: ChildProcess
  /** Set while the supervisor itself stops the node: that exit is not a crash. */
  private expectedExit = new WeakSet<ChildProcess>()
  private stopping = false
  private restarts = 0
  private backoff: number
  private restartTimer?: NodeJS.Timeout
  private tickTimer?: NodeJS.Timeout
  private ticking = false
  private state!: RolloutState
  private queue: Promise<void> = Promise.resolve()
  private procLock: Promise<void> = Promise.resolve()
  private identity?: PrivateKey
  private pids: PidFile = {}
  private fetchAbort?: AbortController
  private shadowAbort?: AbortController
  private shadowRunning?: Promise<void>
  private outbox: Outgoing[] = []
  private flushing = false
  private lastManifest?: string
  private lastEvidence?: string
  private healthFailures = 0
  /** How the node last died unexpectedly, for the probation verdict. */
  private lastExit?: string
  /** ms the node refused connections during the last switch (stop -> new node ready). */
  lastDowntimeMs?: number

  constructor(init: SupervisorInit) {
    this.init = init
    this.home = new Home(init.home)
    this.backoff = init.restartMs ?? 1000
    this.now = init.now ?? Date.now
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
    await this.reapOrphans()
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
      await this.home.removeFile('switch.json')
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
    this.fetchAbort?.abort()
    this.shadowAbort?.abort()
    await this.shadowRunning?.catch(() => {})
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

  /** Stops node and shadow processes a killed supervisor of this home left running. */
  private async reapOrphans(): Promise<void> {
    const pids = (await this.home.readJson<PidFile>('pids.json')) ?? {}
    for (const [what, pid] of Object.entries(pids)) {
      if (typeof pid !== 'number' || !(await cmdlineIncludes(pid, this.home.dir))) continue
      this.log(`stopping the ${what} (pid ${pid}) a previous supervisor left running`)
      try {
        process.kill(pid, 'SIGTERM')
      } catch {
        continue
      }
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50)
      if (isAlive(pid)) process.kill(pid, 'SIGKILL')
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(20)
    }
    this.pids = {}
    await this.home.writeJson('pids.json', this.pids)
  }

  private async savePids(update: Partial<PidFile>): Promise<void> {
    this.pids = { ...this.pids, ...update }
    for (const k of Object.keys(this.pids) as Array<keyof PidFile>)
      if (this.pids[k] === undefined) delete this.pids[k]
    await this.home.writeJson('pids.json', this.pids)
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
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
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
    await this.savePids({ node: child.pid })
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
      // A node that ran a minute was healthy: the next crash starts the backoff afresh.
      if (Date.now() - startedAt > 60_000) this.backoff = this.init.restartMs ?? 1000
      this.restarts++
      this.log(`node exited (${how}); restarting in ${this.backoff} ms`)
      this.restartTimer = setTimeout(() => {
        if (!this.stopping && this.child === undefined)
          this.background('restarting the node', this.spawnNode())
      }, this.backoff)
      this.backoff = Math.min(this.backoff * 2, this.init.maxRestartMs ?? 30_000)
    })
    return child
  }

  /** Stops the node: SIGTERM, then SIGKILL after the deadline. */
  private async stopNode(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer)
    const child = this.child
    if (child === undefined) return
    this.expectedExit.add(child)
    const grace = this.init.stopTimeoutMs ?? 10_000
    const killTimer = setTimeout(
      () => this.log(`node did not stop within ${grace} ms; killing it`),
      grace,
    )
    await stopChild(child, grace)
    clearTimeout(killTimer)
    if (this.child === child) this.child = undefined
    await this.savePids({ node: undefined })
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
    return r?.pid === pid ? { pid, api: r.api } : undefined
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
        this.background('fetch', this.doFetch(e.target))
        return
      case 'stage':
        this.background('stage', this.doStage(e.target))
        return
      case 'start-shadow':
        this.doShadow(e.target, e.durationMs)
        return
      case 'stop-shadow':
        this.shadowAbort?.abort()
        return
      case 'report':
        this.background('report', this.doReport(e))
        return
      case 'switch':
        this.exclusive('switched', () => this.doSwitch(e.from, e.target))
        return
      case 'rollback':
        this.exclusive('rolled-back', () => this.doRollback(e.to))
        return
      case 'reinstall':
        this.exclusive('reinstalled', () => this.doReinstall(e.version))
        return
      case 'commit':
        this.exclusive(undefined, () => this.doCommit(e.version, e.previous))
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

  /** The node fetches the artifact from peers (hash-checked); this waits until it holds it. */
  private async doFetch(t: Target): Promise<void> {
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

  private async doStage(t: Target): Promise<void> {
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

  private doShadow(t: Target, durationMs: number): void {
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
          live: () => this.live(),
          durationMs,
          signal: abort.signal,
          onPid: (pid) =>
            this.background('recording the shadow pid', this.savePids({ shadow: pid })),
          log: (l) => this.log(l),
        })
        if (run.aborted || !this.targetIs(t, 'shadow')) return
        const v = run.verdict
        this.log(
          `shadow verdict for ${t.version}: ${v.verdict} (${v.reason}); ${run.observation.candidate.length} samples`,
        )
        this.feed({ type: 'shadow-result', verdict: v.verdict, reason: v.reason })
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
      reason: e.reason.slice(0, 200),
    })
    this.outbox.push({ bytes, label: `${e.stage} ${e.verdict} for ${e.target.version}`, tries: 0 })
    await this.flushOutbox()
  }

  /** Hands signed reports to the node; those it cannot take now are retried at the next tick. */
  private async flushOutbox(): Promise<void> {
    if (this.flushing) return
    const live = await this.live()
    if (live === undefined || this.outbox.length === 0) return
    this.flushing = true
    const batch = this.outbox
    this.outbox = []
    const left: Outgoing[] = []
    try {
      // Read each flush: the node makes its token on first start, and keeps it.
      const token = await readApiToken(this.home.dataDir)
      for (const o of batch) {
        const r = await postReport(live.api, o.bytes, 2000, token)
        if (r.ok) this.log(`reported ${o.label}`)
        else if (r.retry && ++o.tries < 600) left.push(o)
        else this.log(`report ${o.label} dropped: ${r.reason}`)
      }
    } finally {
      // Reports queued meanwhile stay behind the ones that could not go yet.
      this.outbox = [...left, ...this.outbox]
      this.flushing = false
    }
  }

  // ------------------------------------------------------------------ switch, rollback

  /** Runs `<release>/migrate.mjs` if the release ships one, with a deadline. */
  private async migrate(version: string, from: string): Promise<void> {
    const script = join(this.home.releaseDir(version), 'migrate.mjs')
    try {
      await access(script)
    } catch {
      return
    }
    const child = spawn(
      process.execPath,
      [script, '--data-dir', this.home.dataDir, '--from', from, '--to', version],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    const keep = (c: Buffer) => {
      out = (out + c.toString('utf8')).slice(-1000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const limit = this.init.migrationTimeoutMs ?? 120_000
    const timer = setTimeout(() => child.kill('SIGKILL'), limit)
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null]
    clearTimeout(timer)
    if (code !== 0) {
      const last = out.trim().split('\n').at(-1) ?? ''
      throw new Error(
        `the migration to ${version} failed (${signal === 'SIGKILL' ? `killed after ${limit} ms` : (signal ?? `exit code ${code}`)})${last ? `: ${last}` : ''}`,
      )
    }
    this.log(`migration ${from} -> ${version} done`)
  }

  private async doSwitch(from: string, t: Target): Promise<void> {
    const stoppedAt = Date.now()
    const lap = laps()
    await this.stopNode()
    lap('stop')
    if (this.crashAt('switch:stopped')) return
    const journal = await this.home.readJson<SwitchJournal>('switch.json')
    if (journal?.from === from && journal.to === t.version && (await exists(journal.backup))) {
      // Resumed after a crash: the data dir may hold half a migration. Start again from the backup.
      this.log(`resuming the switch to ${t.version}: restoring the data from ${journal.backup}`)
      await this.home.restore(journal.backup)
    } else {
      const backup = await this.home.backup(from, { keep: this.init.keepBackups ?? 3 })
      await this.home.writeJson('switch.json', { from, to: t.version, backup })
    }
    lap('backup')
    if (this.crashAt('switch:backed-up')) return
    await this.migrate(t.version, from)
    lap('migration')
    if (this.crashAt('switch:migrated')) return
    await this.home.switchCurrent(t.version)
    if (this.crashAt('switch:pointer')) return
    const child = await this.spawnNode()
    await this.waitReady(child)
    lap('start')
    this.lastDowntimeMs = Date.now() - stoppedAt
    this.log(
      `switched ${from} -> ${t.version}; the node was down ${this.lastDowntimeMs} ms (${lap.summary()})`,
    )
  }

  /** Back to `to`: its data as it left it (the switch's backup), its release, the node restarted. */
  private async doRollback(to: string): Promise<void> {
    await this.stopNode()
    const journal = await this.home.readJson<SwitchJournal>('switch.json')
    const backup =
      journal?.from === to && (await exists(journal.backup))
        ? journal.backup
        : await this.home.latestBackup(to)
    if (backup !== undefined) {
      await this.home.restore(backup)
      this.log(`restored the data of ${to} from ${backup}`)
    }
    await this.home.switchCurrent(to)
    const child = await this.spawnNode()
    await this.waitReady(child)
    await this.home.removeFile('switch.json')
    this.log(`rolled back to ${to}`)
  }

  /** The last resort: unpack the last good release again from the archive and start it. */
  private async doReinstall(version: string): Promise<void> {
    await this.stopNode()
    await this.home.reinstall(version)
    const backup = await this.home.latestBackup(version)
    if (backup !== undefined) await this.home.restore(backup)
    await this.home.switchCurrent(version)
    const child = await this.spawnNode()
    await this.waitReady(child)
    await this.home.removeFile('switch.json')
    this.log(`reinstalled ${version}`)
  }

  private async doCommit(version: string, previous: string): Promise<void> {
    await this.home.removeFile('switch.json')
    const removed = await this.home.prune([version, previous, this.state.lastGood])
    this.log(
      `committed ${version}; kept ${previous} for rollback${removed.length ? `, removed ${removed.join(', ')}` : ''}`,
    )
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
      if (status) await this.noticeManifest(status)
      if (live && this.state.target && this.state.phase !== 'bad') await this.readEvidence(live.api)
      if (this.state.phase === 'probation') this.checkHealth(live !== undefined, status)
      await this.readApprovals()
      if (this.outbox.length > 0) await this.flushOutbox()
      this.feed({ type: 'tick' })
    } catch (e) {
      this.log(`tick failed: ${(e as Error).message}`)
    } finally {
      this.ticking = false
    }
  }

  private async noticeManifest(status: NonNullable<Awaited<ReturnType<typeof fetchStatus>>>) {
    const latest = status.latest
    if (latest === undefined) return
    const m = status.manifests.find(
      (x) => x.channel === this.channel && x.sequence === latest.sequence,
    )
    // An expired manifest never starts an upgrade (it never stops a node either).
    if (m === undefined || m.expired || m.digest === this.lastManifest) return
    const s = await this.readManifest(m.sequence)
    // The digest fixes the slot and names the release in reports: computed here, not taken on trust.
    if (s === undefined || documentDigest(s) !== m.digest) return
    this.lastManifest = m.digest
    this.feed({
      type: 'manifest',
      // The nodes it knows, for the canary rule (every release has a canary): peers that said
      // in their hello that they are nodes, not shadows or publishers.
      peers: status.peers.filter((p) => p.role === 'node').map((p) => p.peerId),
      target: {
        version: s.version,
        sequence: s.sequence,
        digest: m.digest,
        minVersion: s.minVersion,
        policy: s.rollout,
      },
    })
  }

  /** A manifest the node verified and stored, by sequence on the followed channel. */
  private async readManifest(sequence: number): Promise<ReleaseSigned | undefined> {
    const bytes = await readFile(
      join(this.home.dataDir, 'manifests', this.channel, `${sequence}.json`),
    ).catch(() => undefined)
    const d = bytes ? decodeRelease(new Uint8Array(bytes)) : undefined
    return d?.ok ? d.value.signed : undefined
  }

  private async readEvidence(api: string): Promise<void> {
    const t = this.state.target!
    const reports = await fetchReports(api, t.digest)
    if (reports === undefined) return
    const summary: EvidenceSummary = summarize(reports, t.policy)
    const key = `${t.digest}:${JSON.stringify(summary)}`
    if (key === this.lastEvidence) return
    this.lastEvidence = key
    this.feed({ type: 'evidence', digest: t.digest, summary })
  }

  /** Probation health: the node runs and answers its API; three misses in a row fail it. */
  private checkHealth(running: boolean, status: unknown): void {
    if (running && status !== undefined) {
      this.healthFailures = 0
      return
    }
    this.healthFailures++
    if (this.healthFailures >= 3) {
      this.healthFailures = 0
      this.feed({
        type: 'health',
        ok: false,
        reason: running
          ? 'the node stopped answering its API'
          : this.lastExit
            ? `the node exited (${this.lastExit})`
            : 'the node is not running',
      })
    }
  }

  private async readApprovals(): Promise<void> {
    const a = await this.home.readJson<{ approved?: unknown }>('approvals.json')
    if (!Array.isArray(a?.approved)) return
    for (const v of a.approved) {
      if (typeof v === 'string' && !this.state.settings.approved.includes(v))
        this.feed({ type: 'approve', version: v })
    }
  }
}

/** A stopwatch of named laps, for the switch's log line. */
function laps(): ((name: string) => void) & { summary: () => string } {
  let last = Date.now()
  const parts: string[] = []
  const lap = (name: string) => {
    const now = Date.now()
    parts.push(`${name} ${now - last} ms`)
    last = now
  }
  return Object.assign(lap, { summary: () => parts.join(', ') })
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
