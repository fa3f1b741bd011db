/**
 * The process work that replaces the node's release: switch (stop, back up, migrate, move the
 * `current` pointer, start), rollback, reinstall and commit. The supervisor runs them one at a
 * time. A switch journal (switch.json) records the backup a switch made, so a switch resumed
 * after a crash first undoes a half-run migration. Every migration is judged by the core's
 * `judgeMigration`, and after every switch the node must still be itself (`selfChanged`): same
 * identity, trust floor not lowered, state files that parse.
 *
 * Where the platform has SO_REUSEPORT and the live node listens with it (core/net/reuse-port.ts),
 * a switch is a handover: the old node drains (lets go of its API and data dir but keeps
 * listening), the backup and migration run, the new node binds the same port beside it, and only
 * once the new node is ready does the old one stop accepting, close and exit. No connection is
 * refused. Elsewhere, or with an older release on either side, the old node stops first.
 */
import type { ChildProcess } from 'node:child_process'
import { switchMode } from '../../core/net/reuse-port.ts'
import type { RolloutState, Target } from '../../core/rollout/machine.ts'
import { type NodeSelf, selfChanged } from '../../core/shadow/migration.ts'
import { exists, type Home, SWITCH_JOURNAL } from '../fs/home.ts'
import { hasMigration, migrateAndJudge, readSelf } from './migration.ts'
import { fetchStatus, readRunning } from './node-api.ts'
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
  /** Stops the node (and a draining one): SIGTERM, then SIGKILL after the deadline. */
  stopNode: () => Promise<void>
  /**
   * Asks the node to drain (SIGUSR2): it lets go of the data dir but keeps its port open. The
   * draining process once the data dir is free, or undefined if it did not drain (then stopped).
   */
  drainNode: () => Promise<ChildProcess | undefined>
  /** Stops the draining node, if any. */
  stopDrained: () => Promise<void>
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

  /** The migration deadline, ms. */
  private get migrationDeadlineMs(): number {
    return this.init.migrationTimeoutMs ?? 120_000
  }

  /**
   * Runs the migration of `version` (from `from`) over the live data if the release ships one,
   * and judges it (`judgeMigration`): it must end in time, exit 0 and keep what makes the node
   * itself as it was in `before`. Throws the reason otherwise.
   */
  private async migrate(version: string, from: string, before: NodeSelf): Promise<void> {
    const dir = this.home.releaseDir(version)
    if (!(await hasMigration(dir, 'up'))) return
    const r = await migrateAndJudge(
      `the migration ${from} -> ${version}`,
      dir,
      'up',
      this.home.dataDir,
      from,
      version,
      { deadlineMs: this.migrationDeadlineMs },
      before,
    )
    if (!r.verdict.ok) throw new Error(r.verdict.reason)
    this.log(`migration ${from} -> ${version} done in ${r.run.elapsedMs} ms`)
  }

  /**
   * After a switch or a rollback, the node must be itself: the supervisor, not the release,
   * owns its identity and its trust floor. The data dir keeps the peer id and the floor of
   * `before`, every state file still parses, and the node that answers says that peer id.
   */
  private async checkSelf(before: NodeSelf, what: string): Promise<void> {
    const changed = selfChanged(before, await readSelf(this.home.dataDir))
    if (changed !== undefined) throw new Error(`${what} ${changed}`)
    const r = await readRunning(this.home.dataDir)
    const status = r ? await fetchStatus(r.api, 2000) : undefined
    if (before.peerId !== undefined && status !== undefined && status.peerId !== before.peerId)
      throw new Error(
        `${what}: the node answers as ${status.peerId}, not as this node (${before.peerId})`,
      )
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
    const live = await readRunning(this.home.dataDir)
    const plan = switchMode({
      platform: process.platform,
      nodeVersion: process.versions.node,
      liveNodeReusesPort: live?.reusePort === true,
    })
    const drained = plan.mode === 'handover' ? await this.host.drainNode() : undefined
    if (drained === undefined) await this.stopNode()
    let goneAt: number | undefined
    drained?.once('exit', () => {
      goneAt ??= Date.now()
    })
    lap(drained ? 'drain' : 'stop')
    if (this.crashAt('switch:stopped')) return
    const journal = await this.home.readJson<SwitchJournal>(SWITCH_JOURNAL)
    if (journal?.from === from && journal.to === t.version && (await exists(journal.backup))) {
      // Resumed after a crash: the data dir may hold half a migration. Start again from the backup.
      this.log(`resuming the switch to ${t.version}: restoring the data from ${journal.backup}`)
      await this.restore(journal.backup, `${t.version}-partial`)
    } else {
      const backup = await this.home.backup(from, { keep: this.init.keepBackups ?? 3 })
      await this.home.writeJson(SWITCH_JOURNAL, { from, to: t.version, backup })
    }
    lap('backup')
    if (this.crashAt('switch:backed-up')) return
    const before = await readSelf(this.home.dataDir)
    await this.migrate(t.version, from, before)
    lap('migration')
    if (this.crashAt('switch:migrated')) return
    await this.home.switchCurrent(t.version)
    if (this.crashAt('switch:pointer')) return
    await this.startBeside(drained !== undefined)
    const readyAt = Date.now()
    lap('start')
    // The old node goes once the new one serves: it stops accepting, closes, exits.
    await this.host.stopDrained()
    if (drained) lap('old node stopped')
    await this.checkSelf(before, `the switch to ${t.version}`)
    const handedOver = drained !== undefined && (goneAt === undefined || goneAt >= readyAt)
    this.lastDowntimeMs = handedOver ? 0 : readyAt - (goneAt ?? stoppedAt)
    this.log(
      `switched ${from} -> ${t.version}; the node was down ${this.lastDowntimeMs} ms (${handedOver ? 'handover, ' : ''}${lap.summary()})${drained ? '' : `; ${plan.reason}`}`,
    )
  }

  /**
   * Starts the node of `current` and waits until it is ready. Beside a draining node, a new node
   * that fails (a release that does not listen with reusePort cannot bind the port: EADDRINUSE)
   * gets one more start once the draining node is stopped: today's switch. A second failure
   * throws, as any failed start does, and the supervisor rolls back.
   */
  private async startBeside(beside: boolean): Promise<void> {
    const child = await this.spawnNode()
    try {
      await this.waitReady(child)
    } catch (e) {
      if (!beside) throw e
      this.log(
        `the new node did not start beside the draining one (${(e as Error).message}); stopping both and starting it alone`,
      )
      await this.stopNode()
      await this.waitReady(await this.spawnNode())
    }
  }

  /**
   * Back to `to` from `from`: its release, the node restarted, and its data. When `from` ran (the
   * pointer had moved to it) and ships a reverse migration, the reverse runs over the live data,
   * so what `from` wrote is migrated back, not lost; otherwise, or if the reverse fails its
   * checks, the data as `to` left it is restored from the switch's backup.
   */
  async doRollback(from: string, to: string): Promise<void> {
    await this.stopNode()
    const journal = await this.home.readJson<SwitchJournal>(SWITCH_JOURNAL)
    const before = await readSelf(this.home.dataDir)
    const ran = (await this.home.current()) === from && from !== to
    let migratedBack = false
    if (ran && (await hasMigration(this.home.releaseDir(from), 'down'))) {
      const r = await migrateAndJudge(
        `the reverse migration ${from} -> ${to}`,
        this.home.releaseDir(from),
        'down',
        this.home.dataDir,
        from,
        to,
        { deadlineMs: this.migrationDeadlineMs },
        before,
      )
      migratedBack = r.verdict.ok
      this.log(
        r.verdict.ok
          ? `migrated the data back ${from} -> ${to} in ${r.run.elapsedMs} ms (migrate-down.mjs)`
          : `${r.verdict.reason}; restoring the backup instead`,
      )
    }
    const backup = migratedBack
      ? undefined
      : journal?.from === to && (await exists(journal.backup))
        ? journal.backup
        : await this.home.latestBackup(to)
    if (backup !== undefined) {
      await this.restore(backup, (await this.home.current()) ?? 'data')
      this.log(`restored the data of ${to} from ${backup}`)
    }
    await this.home.switchCurrent(to)
    const child = await this.spawnNode()
    await this.waitReady(child)
    await this.home.removeFile(SWITCH_JOURNAL)
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
    await this.home.removeFile(SWITCH_JOURNAL)
    this.log(`reinstalled ${version}`)
  }

  async doCommit(version: string, previous: string): Promise<void> {
    await this.home.removeFile(SWITCH_JOURNAL)
    const removed = await this.home.prune([version, previous, this.state.lastGood])
    this.log(
      `committed ${version}; kept ${previous} for rollback${removed.length ? `, removed ${removed.join(', ')}` : ''}`,
    )
  }
}
