/**
 * The node's local HTTP API: `GET /status` (JSON) and `GET /metrics` (Prometheus text format).
 * Binds to loopback unless told otherwise; read-only; no request body is ever read.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { NodeStatus } from '../libp2p/status.ts'

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
  metric('convoy_uptime_seconds', 'Seconds since the node started.', 'gauge', [
    [{}, Math.round((s.now - s.startedAt) / 1000)],
  ])
  return `${lines.join('\n')}\n`
}

/** Starts the API. `status` is called per request. Resolves once listening. */
export async function startApi(
  address: ApiAddress,
  status: () => Promise<NodeStatus>,
): Promise<{ server: Server; address: ApiAddress; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
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
            .end('not found: try /status or /metrics\n')
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
  const bound = server.address() as AddressInfo
  return {
    server,
    address: { host: address.host, port: bound.port },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
