/**
 * The supervisor's view of a node it runs: the node's `running.json` (pid, peer id, API address)
 * and its local HTTP API (status, reports). Every call has a deadline; a node that does not answer
 * is "not ready", never a hang.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Report } from '../../core/rollout/evidence.ts'
import type { Health } from '../http/api.ts'
import type { PeerCheck } from '../libp2p/peer-check.ts'
import type { NodeStatus } from '../libp2p/status.ts'

/** What `convoy node start` writes into its data dir once it listens and serves its API. */
export interface RunningFile {
  pid: number
  peerId: string
  addresses: string[]
  /** host:port of the API. */
  api: string
  /** It listens with reusePort and drains on SIGUSR2, so a switch can hand its port over. */
  reusePort?: boolean
}

/**
 * Set to "1" in the environment of the node `convoy run` starts: listen with reusePort (where
 * core/net/reuse-port.ts finds it) and drain on SIGUSR2. An environment variable, not a flag, so
 * an older release that knows neither starts as before (and binds its port alone).
 */
export const REUSE_PORT_ENV = 'CONVOY_REUSE_PORT'

/**
 * The bandwidth budgets `convoy run` hands its node, as JSON (`{"uploadBytesPerSecond": N, ...}`,
 * core/net/bandwidth.ts; a budget left out is no limit). An environment variable, not flags, for
 * the same reason as {@link REUSE_PORT_ENV}: a release from before budgets (a rollback target)
 * would refuse the flags and never start.
 */
export const BANDWIDTH_ENV = 'CONVOY_BANDWIDTH'

/** Reads `<dataDir>/running.json`; undefined when missing or half-written. */
export async function readRunning(dataDir: string): Promise<RunningFile | undefined> {
  try {
    const r = JSON.parse(await readFile(join(dataDir, 'running.json'), 'utf8')) as RunningFile
    return typeof r.pid === 'number' && typeof r.api === 'string' ? r : undefined
  } catch {
    return undefined
  }
}

function url(api: string, path: string): string {
  return `http://${api}${path}`
}

/** GET /status, or undefined when the node does not answer within `timeoutMs`. */
export async function fetchStatus(api: string, timeoutMs = 2000): Promise<NodeStatus | undefined> {
  try {
    const res = await fetch(url(api, '/status'), { signal: AbortSignal.timeout(timeoutMs) })
    if (!res.ok) return undefined
    return (await res.json()) as NodeStatus
  } catch {
    return undefined
  }
}

/** GET /health: `route` false when the node has no such route (older than it). */
async function askHealth(
  api: string,
  timeoutMs: number,
): Promise<{ route: boolean; health?: Health } | undefined> {
  try {
    const res = await fetch(url(api, '/health'), { signal: AbortSignal.timeout(timeoutMs) })
    if (res.status === 404) return { route: false }
    if (!res.ok) return { route: true }
    const h = (await res.json()) as Health
    return h.status === 'ok' ? { route: true, health: h } : { route: true }
  } catch {
    return undefined
  }
}

/** GET /health, or undefined when the node does not answer within `timeoutMs`. */
export async function fetchHealth(api: string, timeoutMs = 1000): Promise<Health | undefined> {
  return (await askHealth(api, timeoutMs))?.health
}

/**
 * True when the node answers `/health` within `timeoutMs`. A node older than `/health` (it
 * answers 404) is asked for `/status` instead, so a supervisor never fails an older node it
 * rolled back to for lacking a route.
 */
export async function answersHealth(api: string, timeoutMs: number): Promise<boolean> {
  const r = await askHealth(api, timeoutMs)
  if (r === undefined) return false
  if (!r.route) return (await fetchStatus(api, timeoutMs)) !== undefined
  return r.health !== undefined
}

/** The version the node running from `dataDir` reports through its API, if it runs and answers. */
export async function runningVersion(dataDir: string): Promise<string | undefined> {
  const r = await readRunning(dataDir)
  if (r === undefined) return undefined
  try {
    process.kill(r.pid, 0)
  } catch {
    return undefined
  }
  return (await fetchStatus(r.api))?.version
}

/**
 * GET /reports?release=DIGEST: the verified reports that count on one release at the node, and
 * the electorate their shares are taken over (0 from a node that predates admission).
 */
export async function fetchReports(
  api: string,
  digest: string,
  timeoutMs = 2000,
): Promise<{ reports: Report[]; electorate: number } | undefined> {
  try {
    const res = await fetch(url(api, `/reports?release=${digest}`), {
      signal: AbortSignal.timeout(timeoutMs),
    })
    if (!res.ok) return undefined
    const body = (await res.json()) as { reports?: Report[]; electorate?: unknown }
    if (!Array.isArray(body.reports)) return undefined
    const e = body.electorate
    return {
      reports: body.reports,
      electorate: Number.isSafeInteger(e) && (e as number) >= 0 ? (e as number) : 0,
    }
  } catch {
    return undefined
  }
}

/** A POST of a JSON body to the node's API, with its token (the API's guard wants both). */
function postJson(
  api: string,
  path: string,
  body: Uint8Array | string,
  token: string | undefined,
  timeoutMs: number,
): Promise<Response> {
  return fetch(url(api, path), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  })
}

/** The outcome of handing a signed report to the node. */
export type PostOutcome = { ok: true } | { ok: false; retry: boolean; reason: string }

/**
 * POST /reports with a signed report and the node's API token (`<dataDir>/api.token`, read by
 * the caller with readApiToken). `retry` says whether trying again later can help.
 */
export async function postReport(
  api: string,
  signed: Uint8Array,
  timeoutMs = 2000,
  token?: string,
): Promise<PostOutcome> {
  try {
    const res = await postJson(api, '/reports', signed, token, timeoutMs)
    if (res.ok) return { ok: true }
    const text = (await res.text()).trim()
    // 401: the token was missing or stale; the caller reads it again for the next try.
    return {
      ok: false,
      retry: res.status >= 500 || res.status === 401,
      reason: `HTTP ${res.status}: ${text}`,
    }
  } catch (e) {
    return { ok: false, retry: true, reason: (e as Error).message }
  }
}

/**
 * POST /peer-check: whether the live node confirms a convoy peer at `hostPort`. An older node
 * without the route (404): not confirmed, with the reason. A busy node (429), a server error or
 * no answer at all: `unanswered`, so the address is asked about again.
 */
export async function postPeerCheck(
  api: string,
  hostPort: string,
  token: string | undefined,
  timeoutMs = 10_000,
): Promise<PeerCheck> {
  try {
    const res = await postJson(
      api,
      '/peer-check',
      JSON.stringify({ addr: hostPort }),
      token,
      timeoutMs,
    )
    if (!res.ok)
      return {
        peer: false,
        reason: `HTTP ${res.status}: ${(await res.text()).trim()}`,
        ...(res.status === 429 || res.status >= 500 ? { unanswered: true } : {}),
      }
    const r = (await res.json()) as { peer?: unknown; reason?: unknown }
    return { peer: r.peer === true, reason: typeof r.reason === 'string' ? r.reason : '' }
  } catch (e) {
    return { peer: false, reason: (e as Error).message, unanswered: true }
  }
}
