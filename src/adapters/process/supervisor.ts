/**
 * The supervisor process, first part: it owns a home directory (see fs/home.ts), installs the
 * first release, runs the node from `current` as a child process, restarts it when it dies (with
 * a backoff that resets after a minute of good running), and stops it gracefully (SIGTERM, a
 * deadline, then SIGKILL). It persists the rollout state (src/core/rollout) from the first start,
 * so the upgrade loop that drives `step` can be added without changing the home's layout.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  initialRollout,
  type OperatorSettings,
  type RolloutState,
} from '../../core/rollout/machine.ts'
import { readPackInfo } from '../build/pack.ts'
import { Home, HomeError } from '../fs/home.ts'

/** Options of {@link Supervisor}. */
export interface SupervisorInit {
  /** The home directory (releases, current, state, backups, data). */
  home: string
  /** Arguments after `node start --data-dir <home>/data` for every run of the node. */
  nodeArgs: string[]
  /** A `convoy release pack` artifact to install when the home has no current release. */
  initialRelease?: string
  /** Operator settings stored in the rollout state. */
  settings?: Partial<OperatorSettings>
  /** First restart delay, ms; doubles up to `maxRestartMs`. @default 1000 */
  restartMs?: number
  /** @default 30000 */
  maxRestartMs?: number
  /** How long a stopping node gets after SIGTERM before SIGKILL, ms. @default 10000 */
  stopTimeoutMs?: number
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

/** Runs the node from a home's `current` release and keeps it running. */
export class Supervisor {
  readonly home: Home
  private readonly init: SupervisorInit
  private child?: ChildProcess
  private stopping = false
  private restarts = 0
  private backoff: number
  private restartTimer?: NodeJS.Timeout
  private state?: RolloutState

  constructor(init: SupervisorInit) {
    this.init = init
    this.home = new Home(init.home)
    this.backoff = init.restartMs ?? 1000
  }

  private log(line: string): void {
    this.init.log?.(line)
  }

  /** Opens the home, installs the first release if needed, loads or creates the state, starts the node. */
  async start(): Promise<void> {
    await this.home.open()
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
    this.state =
      (await this.home.loadState<RolloutState>()) ??
      initialRollout('pending-peer-id', version, this.init.settings)
    if (this.init.settings)
      this.state = { ...this.state, settings: { ...this.state.settings, ...this.init.settings } }
    await this.home.saveState(this.state)
    this.spawnNode()
  }

  private spawnNode(): void {
    if (this.stopping) return
    const entry = join(this.home.dir, 'current', 'convoy.mjs')
    const args = [entry, 'node', 'start', '--data-dir', this.home.dataDir, ...this.init.nodeArgs]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    const startedAt = Date.now()
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') this.log(`node: ${line}`)
    }
    child.stdout?.on('data', forward)
    child.stderr?.on('data', forward)
    this.log(`started node pid ${child.pid} from ${entry}`)
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined
      if (this.stopping) return
      // A node that ran a minute was healthy: the next crash starts the backoff afresh.
      if (Date.now() - startedAt > 60_000) this.backoff = this.init.restartMs ?? 1000
      this.restarts++
      this.log(`node exited (${signal ?? `code ${code}`}); restarting in ${this.backoff} ms`)
      this.restartTimer = setTimeout(() => this.spawnNode(), this.backoff)
      this.backoff = Math.min(this.backoff * 2, this.init.maxRestartMs ?? 30_000)
    })
  }

  /** Stops the node: SIGTERM, then SIGKILL after the deadline. */
  async stop(): Promise<void> {
    this.stopping = true
    if (this.restartTimer) clearTimeout(this.restartTimer)
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => {
      this.log(`node did not stop within ${this.init.stopTimeoutMs ?? 10_000} ms; killing it`)
      child.kill('SIGKILL')
    }, this.init.stopTimeoutMs ?? 10_000)
    await exited
    clearTimeout(timer)
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
}
