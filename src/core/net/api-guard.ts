/**
 * Who may talk to the node's local HTTP API. A web page the runner visits can reach
 * 127.0.0.1:7070 too: a `text/plain` POST needs no CORS preflight, and a DNS-rebinding page
 * reads responses under its own host name. So, for every request:
 *
 * - `Host` must name the API itself: on a loopback bind, `localhost`, a 127.0.0.0/8 address or
 *   `[::1]`, with the bound port (a rebinding page's host name is none of these). On a bind the
 *   runner chose to expose (`--api 0.0.0.0:7070`), any host name is allowed.
 * - `Origin`, when a browser sends one, must be that same `http://<Host>`; any other origin is
 *   a page elsewhere, refused.
 * - A POST must be `application/json`: a browser cannot send that cross-origin without a
 *   preflight, and the API answers no preflight (OPTIONS is 405).
 * - A POST must carry the API token (`authorization: Bearer <token>`), when the node has one:
 *   the token sits in the data dir, mode 0600, so only the node's own user (its supervisor) can
 *   post, whatever the network or the browser lets through.
 *
 * Pure: the adapter passes the headers and the bound address.
 */

export interface ApiRequestHeaders {
  method: string
  host: string | undefined
  origin: string | undefined
  contentType: string | undefined
  /** The `authorization` header. */
  authorization?: string | undefined
}

export interface ApiBind {
  /** The address the API listens on, as given (`127.0.0.1`, `::1`, `0.0.0.0`...). */
  host: string
  port: number
}

/** Refused: the HTTP status and one line saying what was wrong and what to do. */
export interface ApiRefusal {
  status: 401 | 403 | 415 | 421
  reason: string
}

function isLoopbackName(name: string): boolean {
  return (
    name === 'localhost' ||
    name === '[::1]' ||
    /^127\.(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){2}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/.test(name)
  )
}

/** True when the API is bound to loopback only. */
export function isLoopbackBind(host: string): boolean {
  return host === '::1' || host === 'localhost' || isLoopbackName(host)
}

/** `name:port` of a Host header, lower-cased; undefined when it has no port or is malformed. */
function splitHost(host: string): { name: string; port: number } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):(\d{1,5})$/.exec(host.toLowerCase())
  return m === null ? undefined : { name: m[1]!, port: Number(m[2]) }
}

/** Equality of two strings in time that depends only on the length (which is public). */
function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/** Where the token is, for the refusal message. */
export const API_TOKEN_FILE = 'api.token'

/**
 * Undefined when the request may proceed; otherwise why not. `token`, when given, is what a
 * POST must present as `authorization: Bearer <token>`.
 */
export function checkApiRequest(
  req: ApiRequestHeaders,
  bind: ApiBind,
  token?: string,
): ApiRefusal | undefined {
  const host = req.host === undefined ? undefined : splitHost(req.host)
  if (host === undefined) {
    return { status: 421, reason: 'a Host header with a port is required (e.g. 127.0.0.1:7070)' }
  }
  if (isLoopbackBind(bind.host) && (!isLoopbackName(host.name) || host.port !== bind.port)) {
    return {
      status: 421,
      reason: `Host ${req.host} is not this API: use http://127.0.0.1:${bind.port} or http://localhost:${bind.port}`,
    }
  }
  if (
    req.origin !== undefined &&
    req.origin.toLowerCase() !== `http://${req.host!.toLowerCase()}`
  ) {
    return {
      status: 403,
      reason: `Origin ${req.origin} is another site: the API answers only its own origin`,
    }
  }
  if (req.method === 'POST') {
    const type = (req.contentType ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/json') {
      return { status: 415, reason: 'a POST must have content-type: application/json' }
    }
    if (token !== undefined) {
      const m = /^Bearer ([!-~]{1,256})$/.exec(req.authorization ?? '')
      if (m === null || !sameSecret(m[1]!, token)) {
        return {
          status: 401,
          reason: `a POST needs the API token: send authorization: Bearer <the contents of ${API_TOKEN_FILE} in the node's data dir>`,
        }
      }
    }
  }
  return undefined
}
