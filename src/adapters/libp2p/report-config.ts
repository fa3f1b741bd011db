/**
 * The report service's settings: {@link ReportsInit} checked and filled in with the defaults.
 */
import { DEFAULT_MAX_FUTURE_MS } from '../../core/rollout/report.ts'
import { opensslVerify } from '../crypto/ed25519.ts'
import { integerField, stringField } from './init-check.ts'
import type { ReportsInit } from './report-types.ts'

const DEFAULTS = {
  // 8 x 4,096 reports of at most 2 KiB: well inside the node's heap budget (node-flags.ts).
  maxReleases: 8,
  maxReportersPerRelease: 4096,
  fanout: 8,
  syncReleases: 4,
  syncMaxReports: 2048,
  maxReportsPerStream: 512,
  readTimeoutMs: 5000,
  streamTimeoutMs: 30_000,
  maxFutureMs: DEFAULT_MAX_FUTURE_MS,
  maxQueuedPerPeer: 4096,
} as const

type Hooks = 'isKnownRelease' | 'onMisbehaviour' | 'standing' | 'onAccepted'

export type Resolved = Required<Omit<ReportsInit, Hooks>> &
  Pick<ReportsInit, Hooks> & { maxQueuedPerPeer: number }

export function resolveInit(init: ReportsInit): Resolved {
  const int = (field: keyof typeof DEFAULTS, min: number): number =>
    integerField(
      'reports',
      field,
      (init as unknown as Record<string, unknown>)[field] ?? DEFAULTS[field],
      min,
    )
  return {
    network: stringField('reports', 'network', init.network),
    relay: init.relay ?? true,
    maxReleases: int('maxReleases', 1),
    maxReportersPerRelease: int('maxReportersPerRelease', 1),
    fanout: int('fanout', 0),
    syncReleases: int('syncReleases', 0),
    syncMaxReports: int('syncMaxReports', 0),
    maxReportsPerStream: int('maxReportsPerStream', 1),
    readTimeoutMs: int('readTimeoutMs', 1),
    streamTimeoutMs: int('streamTimeoutMs', 1),
    maxFutureMs: int('maxFutureMs', 0),
    maxQueuedPerPeer: DEFAULTS.maxQueuedPerPeer,
    now: init.now ?? Date.now,
    verify: init.verify ?? opensslVerify,
    isKnownRelease: init.isKnownRelease,
    onMisbehaviour: init.onMisbehaviour,
    standing: init.standing,
    onAccepted: init.onAccepted,
  }
}
