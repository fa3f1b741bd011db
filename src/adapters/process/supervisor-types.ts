/** The supervisor's options and the status it reports (supervisor.ts). */
import type { NetworkConfig } from '../../core/net/network-config.ts'
import type { OperatorSettings, RolloutState } from '../../core/rollout/machine.ts'

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
  /** Extra environment for `node start` (the bandwidth budgets: node-api.ts BANDWIDTH_ENV). */
  nodeEnv?: Record<string, string>
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
