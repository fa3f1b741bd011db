/** The artifact service's options with every default filled in and every value checked. */
import { DEFAULT_CHUNK_PARALLEL } from '../../core/net/chunk-plan.ts'
import { DEFAULT_UPLOAD_PACE, type PaceLimits } from '../../core/net/pace.ts'
import { DEFAULT_TICKET_IDLE_MS } from '../../core/net/uploads.ts'
import type { ArtifactsInit, BandwidthGate } from './artifact-types.ts'
import { positiveField, stringField } from './init-check.ts'

const DEFAULT_MAX_UPLOADS = 4
export const DEFAULT_MIN_BYTES_PER_SECOND: number = 256 * 1024
const DEFAULT_RATE_GRACE_MS = 2000
const DEFAULT_RATE_WINDOW_MS = 3000
const DEFAULT_STALL_TIMEOUT_MS = 5000
const DEFAULT_REQUEST_TIMEOUT_MS = 5000

/** {@link ArtifactsInit} with every default filled in. */
export interface ResolvedInit {
  network: string
  storeDir: string
  maxUploads: number
  uploadBudgetBytes: number
  ticketIdleMs: number
  minBytesPerSecond: number
  rateGraceMs: number
  rateWindowMs: number
  /** The pace a requester must take an upload at. */
  uploadPace: PaceLimits
  stallTimeoutMs: number
  requestTimeoutMs: number
  /** Chunk requests in flight at most in a chunked fetch. */
  chunkParallel: number
  bandwidth?: BandwidthGate
}

/** Fills in the defaults and checks every value; throws a TypeError on a bad one. */
export function resolveInit(init: ArtifactsInit): ResolvedInit {
  const positive = (field: keyof ArtifactsInit, value: number, integer = false): number =>
    positiveField('artifacts', field, value, integer)
  return {
    network: stringField('artifacts', 'network', init.network),
    storeDir: stringField('artifacts', 'storeDir', init.storeDir, 'path'),
    // Under an upload cap, fewer slots, so that each upload stays above the fetchers' floor.
    maxUploads: slotsUnder(
      init.bandwidth,
      positive('maxUploads', init.maxUploads ?? DEFAULT_MAX_UPLOADS, true),
    ),
    uploadBudgetBytes:
      init.uploadBudgetBytes === undefined
        ? Number.POSITIVE_INFINITY
        : positive('uploadBudgetBytes', init.uploadBudgetBytes),
    ticketIdleMs: positive('ticketIdleMs', init.ticketIdleMs ?? DEFAULT_TICKET_IDLE_MS),
    minBytesPerSecond: positive(
      'minBytesPerSecond',
      init.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND,
    ),
    rateGraceMs: positive('rateGraceMs', init.rateGraceMs ?? DEFAULT_RATE_GRACE_MS),
    rateWindowMs: positive('rateWindowMs', init.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS),
    uploadPace: {
      minBytesPerSecond: positive(
        'uploadMinBytesPerSecond',
        init.uploadMinBytesPerSecond ?? DEFAULT_UPLOAD_PACE.minBytesPerSecond,
      ),
      graceMs: positive('uploadRateGraceMs', init.uploadRateGraceMs ?? DEFAULT_UPLOAD_PACE.graceMs),
      windowMs: positive(
        'uploadRateWindowMs',
        init.uploadRateWindowMs ?? DEFAULT_UPLOAD_PACE.windowMs,
      ),
    },
    stallTimeoutMs: positive('stallTimeoutMs', init.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS),
    requestTimeoutMs: positive(
      'requestTimeoutMs',
      init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    ),
    chunkParallel: positive('chunkParallel', init.chunkParallel ?? DEFAULT_CHUNK_PARALLEL, true),
    ...(init.bandwidth === undefined ? {} : { bandwidth: init.bandwidth }),
  }
}

function slotsUnder(bandwidth: BandwidthGate | undefined, configured: number): number {
  return bandwidth === undefined
    ? configured
    : Math.max(1, bandwidth.uploadSlots(configured, DEFAULT_MIN_BYTES_PER_SECOND))
}
