/**
 * The local API refuses web pages: a real server on loopback, requests made with node:http so
 * that Host and Origin can be whatever a hostile page would send.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { startApi } from '../../src/adapters/http/api.ts'
import type { NodeStatus } from '../../src/adapters/libp2p/status.ts'
import { checkApiRequest } from '../../src/core/net/api-guard.ts'

let api: Awaited<ReturnType<typeof startApi>>
let submitted = 0

function call(
  path: string,
  headers: Record<string, string>,
  method = 'GET',
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: api.address.port, path, method, headers, setHost: false },
      (res) => {
        let text = ''
        res.on('data', (c: Buffer) => {
          text += c.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe('local API guard', () => {
  before(async () => {
    const status = async () => ({ peerId: 'me' }) as unknown as NodeStatus
    api = await startApi({ host: '127.0.0.1', port: 0 }, status, {
      reports: {
        submit: () => {
          submitted++
          return { ok: false, code: 'malformed', reason: 'not a report' }
        },
        reportsFor: () => [],
      },
    })
  })
  after(() => api.close())

  it('answers its own host, by address or by localhost', async () => {
    const port = api.address.port
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const r = await call('/status', { host })
      assert.equal(r.status, 200, host)
      assert.match(r.text, /"peerId": "me"/)
    }
  })

  it('refuses a DNS-rebinding host name, another port, and no Host at all', async () => {
    const port = api.address.port
    for (const host of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, 'localhost']) {
      const r = await call('/status', { host })
      assert.equal(r.status, 421, host)
      assert.match(r.text, /use http:\/\/127\.0\.0\.1:|Host header with a port/)
      assert.doesNotMatch(r.text, /peerId/)
    }
    // Node's HTTP server refuses an HTTP/1.1 request without Host itself (400); never 200.
    const none = await call('/status', {})
    assert.ok([400, 421].includes(none.status), `no Host: ${none.status}`)
  })

  it('refuses a page on another origin, and a text/plain POST (no preflight needed)', async () => {
    const host = `127.0.0.1:${api.address.port}`
    const before = submitted
    const cross = await call(
      '/reports',
      { host, origin: 'https://evil.example', 'content-type': 'application/json' },
      'POST',
      '{}',
    )
    assert.equal(cross.status, 403)
    const plain = await call('/reports', { host, 'content-type': 'text/plain' }, 'POST', '{}')
    assert.equal(plain.status, 415)
    assert.match(plain.text, /application\/json/)
    assert.equal(submitted, before, 'nothing reached the report service')
    // The control: the same POST as the supervisor makes it reaches the service.
    const good = await call('/reports', { host, 'content-type': 'application/json' }, 'POST', '{}')
    assert.equal(good.status, 400)
    assert.equal(submitted, before + 1)
  })

  it('the rule: any host on a bind the runner exposed, never a foreign origin', () => {
    const bind = { host: '0.0.0.0', port: 7070 }
    const get = { method: 'GET', origin: undefined, contentType: undefined }
    assert.equal(checkApiRequest({ ...get, host: 'node1.lan:7070' }, bind), undefined)
    assert.equal(
      checkApiRequest({ ...get, host: 'node1.lan:7070', origin: 'http://node1.lan:7070' }, bind),
      undefined,
    )
    assert.equal(
      checkApiRequest({ ...get, host: 'node1.lan:7070', origin: 'http://evil.example' }, bind)
        ?.status,
      403,
    )
    assert.equal(
      checkApiRequest({ ...get, host: '[::1]:7070' }, { host: '::1', port: 7070 }),
      undefined,
    )
  })
})

describe('local API token and /health', () => {
  let tokened: Awaited<ReturnType<typeof startApi>>
  let posted = 0
  const token = 'ab'.repeat(32)
  before(async () => {
    tokened = await startApi(
      { host: '127.0.0.1', port: 0 },
      async () => ({ peerId: 'me' }) as unknown as NodeStatus,
      {
        token,
        health: () => ({
          status: 'ok',
          version: '1.2.3',
          peerId: 'me',
          role: 'node',
          connections: 0,
        }),
        reports: {
          submit: () => {
            posted++
            return { ok: false, code: 'malformed', reason: 'malformed: test' }
          },
          reportsFor: () => [],
        },
      },
    )
  })
  after(() => tokened.close())

  const post = (headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${tokened.address.port}/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
    })

  it('a POST without the token, or with a wrong one, is 401 and never reaches the node', async () => {
    for (const h of [
      {},
      { authorization: `Bearer ${'cd'.repeat(32)}` },
      { authorization: token },
      { authorization: `Bearer ${token}x` },
    ] as Record<string, string>[]) {
      const r = await post(h)
      assert.equal(r.status, 401, JSON.stringify(h))
      assert.match(await r.text(), /api\.token/)
    }
    assert.equal(posted, 0)
    const good = await post({ authorization: `Bearer ${token}` })
    assert.equal(good.status, 400, 'reaches the node, which judges the body')
    assert.equal(posted, 1)
  })

  it('GET /health answers small and without building the status', async () => {
    const r = await fetch(`http://127.0.0.1:${tokened.address.port}/health`)
    assert.equal(r.status, 200)
    assert.deepEqual(await r.json(), {
      status: 'ok',
      version: '1.2.3',
      peerId: 'me',
      role: 'node',
      connections: 0,
    })
  })
})
