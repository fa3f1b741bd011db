/**
 * pids.json in a supervisor's home: the pids of the node and shadow processes it runs, so that a
 * supervisor restarted after SIGKILL can stop the orphans its predecessor left running.
 */
import type { Home } from '../fs/home.ts'
import { isAlive } from '../fs/node-store.ts'
import { cmdlineIncludes } from './probe.ts'
import { sleep } from './timing.ts'

/** Pids of children, so a supervisor restarted after SIGKILL can stop the orphans. */
export interface PidFile {
  node?: number
  /** The node of the release being replaced, draining beside its successor (a handover). */
  draining?: number
  shadow?: number
}

/** The home's pids.json, kept in step with the children the supervisor runs. */
export class ChildPids {
  private readonly home: Home
  private readonly log: (line: string) => void
  private pids: PidFile = {}

  constructor(home: Home, log: (line: string) => void) {
    this.home = home
    this.log = log
  }

  /** Stops node and shadow processes a killed supervisor of this home left running. */
  async reapOrphans(): Promise<void> {
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
      // The shadow leads its own process group (strace and its tracee, or the candidate): a
      // SIGTERM to strace only detaches it, so the group goes whole.
      if (what === 'shadow')
        try {
          process.kill(-pid, 'SIGKILL')
        } catch {}
    }
    this.pids = {}
    await this.home.writeJson('pids.json', this.pids)
  }

  async savePids(update: Partial<PidFile>): Promise<void> {
    this.pids = { ...this.pids, ...update }
    for (const k of Object.keys(this.pids) as Array<keyof PidFile>)
      if (this.pids[k] === undefined) delete this.pids[k]
    await this.home.writeJson('pids.json', this.pids)
  }
}
