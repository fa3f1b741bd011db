/**
 * The node's local HTTP API. Binds to loopback unless told otherwise.
 *
 *   GET  /health                 a small, cheap liveness answer (JSON, {@link Health})
 *   GET  /status                 the node's status (JSON, {@link NodeStatus})
 *   GET  /metrics                Prometheus text format
 *   GET  /reports?release=HEX    `{ release, reports: Report[], held, electorate,
 *                                notCounted }`: the verified reports that count (reporter
 *                                admission), how many are held, how many reporters the node
 *                                knew before the release, and why the others do not count
 *   POST /reports                one signed report (JSON, at most 4 KiB): 202 when accepted or
 *                                already held, 400 with the one-line reason when refused, 413
 *                                over the cap
 *   POST /peer-check             `{"addr": "host:port"}` (at most 256 bytes): the node dials it
 *                                and answers `{ peer, reason }`, peer true only once a convoy
 *                                hello on this network completed; one check at a time (429
 *                                while one runs). The supervisor asks it about addresses its
 *                                shadow candidate reached that the node did not know.
 *
 * Every request passes {@link checkApiRequest} first (core/net/api-guard.ts): a Host naming this
 * API, no foreign Origin, and on a POST `application/json` and the API token (when the node
 * has one, `options.token`: `convoy node start` always does); refused with 421, 403, 415 or
 * 401 and one line saying what to do. That shuts out web pages (CSRF, DNS rebinding) and
 * other local users.
 *
 * POST /reports and POST /peer-check are the only requests whose body is read. Neither changes
 * anything the node trusts: /reports takes only reports signed by the key of the peer id they
 * name, so a local process without the node's identity key cannot forge the node's verdict (nor
 * anyone else's); /peer-check only makes the node dial an address (the token is required).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { checkApiRequest } from '../../core/net/api-guard.ts'
import type { Report } from '../../core/rollout/evidence.ts'
import type { PeerCheck } from '../libp2p/peer-check.ts'
import type { SubmitResult } from '../libp2p/reports.ts'
import type { NodeStatus } from '../libp2p/status.ts'

/** Largest `POST /reports` body read, bytes; a larger one is answered 413 unread. */
export const MAX_REPORT_BODY_BYTES = 4096
/** Largest `POST /peer-check` body read, bytes. */
export const MAX_PEER_CHECK_BODY_BYTES = 256
/** Deadline to receive a request body, ms. */
const BODY_TIMEOUT_MS = 5000
const DIGEST_RE = /^[0-9a-f]{64}$/

/** What `/reports` needs from the node; without it `/reports` answers 404. */
export interface ReportsApi {
  /** Checks, holds and spreads one encoded signed report. Never throws. */
  submit(bytes: Uint8Array): SubmitResult
  /** The verified reports that count on a release digest. */
  reportsFor(digest: string): Report[]
  /** How many are held and why the others do not count (core/rollout/admission.ts). */
  notCounted?(digest: string): {
    held: number
    electorate: number
    notCounted: Record<string, number>
  }
}

/** What `/health` answers: enough to tell the node runs and who it is, built in microseconds. */
export interface Health {
  status: 'ok'
  version: string
  peerId: string
  role: string
  connections: number
  /** The process's memory, bytes (Node's `process.memoryUsage()`). */
  memory?: {
    rss: number
    heapUsed: number
    heapTotal: number
    external: number
    arrayBuffers: number
    /** Memory V8 allocated outside its heap (compiler zones and the like), and its peak. */
    v8Malloced: number
    v8Peak: number
  }
}

/** Options of {@link startApi}. */
export interface ApiOptions {
  /** Serves `/reports` when given. */
  reports?: ReportsApi
  /** Serves `/health` when given; called per request, so it must be cheap. */
  health?: () => Health
  /** Serves `POST /peer-check` when given: whether a convoy peer answers at a host:port. */
  peerCheck?: (hostPort: string) => Promise<PeerCheck>
  /** What a POST must present as `authorization: Bearer <token>`. @default none needed */
  token?: string
}

/** Where the API listens. */
export interface ApiAddress {
  host: string
  port: number
}

/** Parses "127.0.0.1:8080", "[::1]:8080" or ":8080" (loopback). Throws a TypeError naming the problem. */
export function parseApiAddress(text: string): ApiAddress {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text)
  if (m === null) throw new TypeError(`--api "${text}" must look like 127.0.0.1:8080`)
  const port = Number(m[3])
  if (port > 65535) throw new TypeError(`--api port ${port} is out of range`)
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port }
}

/** Renders status as Prometheus text exposition format. */
export function renderMetrics(s: NodeStatus): string {
  const lines: string[] = []
  const metric = (
    name: string,
    help: string,
    type: 'gauge' | 'counter',
    samples: Array<[Record<string, string>, number]>,
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, value] of samples) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`)
        .join(',')
      lines.push(`${name}${l ? `{${l}}` : ''} ${value}`)
    }
  }
  const byRank: Record<string, number> = {
    normal: 0,
    unverified: 0,
    suspicious: 0,
    deranked: 0,
    pending: 0,
  }
  const byVersion: Record<string, number> = {}
  for (const p of s.peers) {
    if (!p.connected) continue
    byRank[p.rank] = (byRank[p.rank] ?? 0) + 1
    if (p.version) byVersion[p.version] = (byVersion[p.version] ?? 0) + 1
  }
  metric(
    'convoy_peers',
    'Connected peers by rank.',
    'gauge',
    Object.entries(byRank).map(([rank, n]) => [{ rank }, n]),
  )
  metric(
    'convoy_peers_by_version',
    'Connected peers by the version they claim.',
    'gauge',
    Object.entries(byVersion).map(([version, n]) => [{ version }, n]),
  )
  metric('convoy_root_version', 'Version of the trusted key set.', 'gauge', [[{}, s.rootVersion]])
  metric(
    'convoy_manifest_sequence',
    'Highest verified manifest sequence on the followed channel.',
    'gauge',
    [[{ channel: s.channel }, s.latest?.sequence ?? 0]],
  )
  metric(
    'convoy_freeze_suspected',
    '1 when peers claim a newer manifest than this node can verify.',
    'gauge',
    s.freeze.map((f) => [{ channel: f.channel }, f.suspected ? 1 : 0]),
  )
  metric(
    'convoy_freeze_claimed_sequence',
    'Highest manifest sequence claimed by peers.',
    'gauge',
    s.freeze.map((f) => [{ channel: f.channel }, f.claimedSequence]),
  )
  metric(
    'convoy_told_we_are',
    'What peers say about this node, by status.',
    'gauge',
    Object.entries(s.toldWeAre).map(([status, n]) => [{ status }, n]),
  )
  for (const [name, value] of Object.entries(s.counters).sort()) {
    metric(`convoy_${name}_total`, `Counter ${name.replace(/_/g, ' ')}.`, 'counter', [[{}, value]])
  }
  const evidence = Object.entries(s.evidence ?? {})
  metric(
    'convoy_reports_held',
    'Signed shadow and probation reports held, per release digest (one per reporter).',
    'gauge',
    evidence.map(([release, e]) => [{ release }, e.reporters]),
  )
  metric(
    'convoy_reports_failing',
    'Reporters whose latest report fails the release, per release digest.',
    'gauge',
    evidence.map(([release, e]) => [{ release }, e.failing]),
  )
  metric('convoy_uptime_seconds', 'Seconds since the node started.', 'gauge', [
    [{}, Math.round((s.now - s.startedAt) / 1000)],
  ])
  return `${lines.join('\n')}\n`
}

/** The body of a request, or why it was not read: over `max` bytes, or too slow. */
async function readBody(
  req: IncomingMessage,
  max: number,
): Promise<{ ok: true; bytes: Uint8Array } | { ok: false; status: 408 | 413 }> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > max) return { ok: false, status: 413 }
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let length = 0
    let done = false
    const finish = (r: { ok: true; bytes: Uint8Array } | { ok: false; status: 408 | 413 }) => {
      if (done) return
      done = true
      clearTimeout(timer)
      req.removeAllListeners('data')
      if (!r.ok) req.resume()
      resolve(r)
    }
    const timer = setTimeout(() => finish({ ok: false, status: 408 }), BODY_TIMEOUT_MS)
    req.on('data', (c: Buffer) => {
      length += c.length
      if (length > max) finish({ ok: false, status: 413 })
      else chunks.push(c)
    })
    req.on('end', () => finish({ ok: true, bytes: new Uint8Array(Buffer.concat(chunks)) }))
    req.on('error', () => finish({ ok: false, status: 408 }))
  })
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' }).end(`${body}\n`)
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(`${JSON.stringify(body, null, 2)}\n`)
}

/** `POST /peer-check`: one check at a time, a small JSON body naming one TCP host:port. */
function peerCheck(
  req: IncomingMessage,
  res: ServerResponse,
  check: NonNullable<ApiOptions['peerCheck']>,
  busy: { checking: boolean },
): void {
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' }).end('only POST\n')
    return
  }
  if (busy.checking) {
    req.resume()
    text(res, 429, 'a peer check is running: ask again once it answered')
    return
  }
  busy.checking = true
  void readBody(req, MAX_PEER_CHECK_BODY_BYTES)
    .then(async (body) => {
      if (!body.ok) {
        res.setHeader('connection', 'close')
        text(
          res,
          body.status,
          `the body must be at most ${MAX_PEER_CHECK_BODY_BYTES} bytes, sent within ${BODY_TIMEOUT_MS} ms`,
        )
        return
      }
      let addr: unknown
      try {
        addr = (JSON.parse(Buffer.from(body.bytes).toString('utf8')) as { addr?: unknown }).addr
      } catch {}
      if (typeof addr !== 'string') {
        text(res, 400, 'the body must be {"addr": "host:port"}')
        return
      }
      json(res, 200, await check(addr))
    })
    .catch((e: Error) => text(res, 500, `peer check failed: ${e.message}`))
    .finally(() => {
      busy.checking = false
    })
}

/**
 * Starts the API. `status` is called per `/status` or `/metrics` request; `/reports` is served
 * when `options.reports` is given. Resolves once listening.
 */
export async function startApi(
  address: ApiAddress,
  status: () => Promise<NodeStatus>,
  options: ApiOptions = {},
): Promise<{ server: Server; address: ApiAddress; close: () => Promise<void> }> {
  let bound: ApiAddress = address
  const busy = { checking: false }
  const server = createServer((req, res) => {
    const refused = checkApiRequest(
      {
        method: req.method ?? 'GET',
        host: req.headers.host,
        origin: req.headers.origin,
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
      },
      bound,
      options.token,
    )
    if (refused !== undefined) {
      res.setHeader('connection', 'close')
      text(res, refused.status, refused.reason)
      if (req.method === 'POST') req.resume()
      return
    }
    const url = new URL(req.url ?? '/', 'http://localhost')
    const path = url.pathname
    const reports = options.reports
    if (path === '/health' && options.health !== undefined) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET' }).end('only GET\n')
        return
      }
      json(res, 200, options.health())
      return
    }
    if (path === '/peer-check' && options.peerCheck !== undefined) {
      peerCheck(req, res, options.peerCheck, busy)
      return
    }
    if (path === '/reports' && reports !== undefined) {
      if (req.method === 'POST') {
        void readBody(req, MAX_REPORT_BODY_BYTES).then((body) => {
          if (!body.ok) {
            res.setHeader('connection', 'close')
            if (body.status === 413)
              text(res, 413, `too large: a report body is at most ${MAX_REPORT_BODY_BYTES} bytes`)
            else text(res, 408, `the body did not arrive within ${BODY_TIMEOUT_MS} ms`)
            return
          }
          const r = reports.submit(body.bytes)
          if (r.ok) json(res, 202, { accepted: true, new: r.value.isNew, report: r.value.report })
          else text(res, 400, r.reason)
        })
        return
      }
      if (req.method === 'GET' || req.method === 'HEAD') {
        const release = url.searchParams.get('release') ?? ''
        if (!DIGEST_RE.test(release)) {
          text(res, 400, 'release must be a manifest digest: 64 lower-case hex digits')
          return
        }
        json(res, 200, {
          release,
          reports: reports.reportsFor(release),
          ...(reports.notCounted?.(release) ?? {}),
        })
        return
      }
      res.writeHead(405, { allow: 'GET, POST' }).end('only GET or POST\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end('only GET\n')
      return
    }
    status()
      .then((s) => {
        if (path === '/status') {
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(`${JSON.stringify(s, null, 2)}\n`)
        } else if (path === '/metrics') {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderMetrics(s))
        } else {
          res
            .writeHead(404, { 'content-type': 'text/plain' })
            .end(
              `not found: try /status or /metrics${options.health ? ' or /health' : ''}${reports ? ' or /reports' : ''}\n`,
            )
        }
      })
      .catch((e: Error) =>
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`status failed: ${e.message}\n`),
      )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const info = server.address() as AddressInfo
  bound = { host: address.host, port: info.port }
  return {
    server,
    address: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
