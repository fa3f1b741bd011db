/**
 * The process work that replaces the node's release: switch (stop, back up, migrate, move the
 * `current` pointer, start), rollback, reinstall and commit. The supervisor runs them one at a
 * time. A switch journal (switch.json) records the backup a switch made, so a switch resumed
 * after a crash first undoes a half-run migration.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import type { RolloutState, Target } from '../../core/rollout/machine.ts'
import { exists, type Home } from '../fs/home.ts'
import type { SupervisorInit } from './supervisor-types.ts'
import { laps } from './timing.ts'

/** The journal of a switch in flight. */
interface SwitchJournal {
  from: string
  to: string
  backup: string
}

/** What the release switches need from the supervisor that runs the node. */
export interface NodeSwitchHost {
  home: Home
  init: SupervisorInit
  log: (line: string) => void
  /** Stops the node: SIGTERM, then SIGKILL after the deadline. */
  stopNode: () => Promise<void>
  /** Starts the node from the home's `current` release. */
  spawnNode: () => Promise<ChildProcess>
  /** Waits until the node just spawned wrote running.json and answers /status. */
  waitReady: (child: ChildProcess) => Promise<void>
  /** Test fault injection: dies here, with SIGKILL, if told to. */
  crashAt: (point: string) => boolean
  /** The rollout state now. */
  state: () => RolloutState
}

/** Switch, rollback, reinstall and commit of the node's release, in a supervisor's home. */
export class NodeSwitch {
  private readonly home: Home
  private readonly init: SupervisorInit
  private readonly log: (line: string) => void
  private readonly stopNode: () => Promise<void>
  private readonly spawnNode: () => Promise<ChildProcess>
  private readonly waitReady: (child: ChildProcess) => Promise<void>
  private readonly crashAt: (point: string) => boolean
  private readonly host: NodeSwitchHost
  /** ms the node refused connections during the last switch (stop -> new node ready). */
  lastDowntimeMs?: number

  constructor(host: NodeSwitchHost) {
    this.host = host
    this.home = host.home
    this.init = host.init
    this.log = host.log
    this.stopNode = host.stopNode
    this.spawnNode = host.spawnNode
    this.waitReady = host.waitReady
    this.crashAt = host.crashAt
  }

  private get state(): RolloutState {
    return this.host.state()
  }

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

  /** Restores a backup; the data it replaces (as `label` left it) is kept in displaced/. */
  private async restore(backup: string, label: string): Promise<void> {
    const moved = await this.home.restore(backup, {
      label,
      keep: this.init.keepBackups ?? 3,
    })
    if (moved !== undefined) this.log(`kept the data it replaced in ${moved}`)
  }

  async doSwitch(from: string, t: Target): Promise<void> {
    const stoppedAt = Date.now()
    const lap = laps()
    await this.stopNode()
    lap('stop')
    if (this.crashAt('switch:stopped')) return
    const journal = await this.home.readJson<SwitchJournal>('switch.json')
    if (journal?.from === from && journal.to === t.version && (await exists(journal.backup))) {
      // Resumed after a crash: the data dir may hold half a migration. Start again from the backup.
      this.log(`resuming the switch to ${t.version}: restoring the data from ${journal.backup}`)
      await this.restore(journal.backup, `${t.version}-partial`)
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
  async doRollback(to: string): Promise<void> {
    await this.stopNode()
    const journal = await this.home.readJson<SwitchJournal>('switch.json')
    const backup =
      journal?.from === to && (await exists(journal.backup))
        ? journal.backup
        : await this.home.latestBackup(to)
    if (backup !== undefined) {
      await this.restore(backup, (await this.home.current()) ?? 'data')
      this.log(`restored the data of ${to} from ${backup}`)
    }
    await this.home.switchCurrent(to)
    const child = await this.spawnNode()
    await this.waitReady(child)
    await this.home.removeFile('switch.json')
    this.log(`rolled back to ${to}`)
  }

  /** The last resort: unpack the last good release again from the archive and start it. */
  async doReinstall(version: string): Promise<void> {
    await this.stopNode()
    await this.home.reinstall(version)
    const backup = await this.home.latestBackup(version)
    if (backup !== undefined) await this.restore(backup, (await this.home.current()) ?? 'data')
    await this.home.switchCurrent(version)
    const child = await this.spawnNode()
    await this.waitReady(child)
    await this.home.removeFile('switch.json')
    this.log(`reinstalled ${version}`)
  }

  async doCommit(version: string, previous: string): Promise<void> {
    await this.home.removeFile('switch.json')
    const removed = await this.home.prune([version, previous, this.state.lastGood])
    this.log(
      `committed ${version}; kept ${previous} for rollback${removed.length ? `, removed ${removed.join(', ')}` : ''}`,
    )
  }
}
