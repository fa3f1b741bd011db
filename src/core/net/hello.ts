/**
 * The hello handshake, as data. Both sides of every new connection exchange a {@link Hello}; the
 * answering side adds its {@link Verdict} on the opener, and the opener closes with its verdict on
 * the answerer. Messages are length-prefixed JSON with a hard size cap; decoding never throws.
 */
import { fromUtf8, utf8 } from '../bytes.ts'
import { SchemaError } from '../errors.ts'
import { schemaFailure } from '../manifest/envelope.ts'
import { CAPABILITY_RE } from '../manifest/release.ts'
import * as s from '../manifest/schema.ts'
import { parseStrictJson } from '../manifest/strict-json.ts'
import { fail, ok, type Result } from '../result.ts'

/** Largest hello message accepted, in bytes. */
export const MAX_HELLO_BYTES = 4096
/** Most channels one hello may report sequences for. */
export const MAX_HELLO_CHANNELS = 16

/** What a node says about itself. */
export interface Hello {
  network: string
  /** convoy version the node runs. */
  version: string
  channel: string
  /** Capabilities the node claims; each should be backed by a protocol it serves. */
  capabilities: string[]
  /** Highest verified manifest sequence per channel. */
  sequences: Record<string, number>
  /** Version of the key set the node trusts. */
  rootVersion: number
  /** "shadow" for a candidate build under test: peers must not count or serve it as a node. */
  role: Role
}

/**
 * What a process speaks as: a node, a shadow (a candidate build under test) or a publisher (a
 * short-lived node that seeds a release).
 */
export type Role = 'node' | 'shadow' | 'publisher'

/** The role of a process that names none: a node, the only one that counts and serves. */
export const DEFAULT_ROLE: Role = 'node'

/** What a node tells a peer about the peer. */
export interface Verdict {
  status: 'ok' | 'outdated' | 'suspicious' | 'unverified'
  /** The newest release the speaker has verified on the speaker's own channel. */
  current?: { version: string; sequence: number }
  reasons: string[]
}

/** One message of the exchange. */
export type HelloMessage =
  | { type: 'hello'; hello: Hello }
  | { type: 'hello-reply'; hello: Hello; verdict: Verdict }
  | { type: 'verdict'; verdict: Verdict }

function parseHello(v: unknown, p: string): Hello {
  const h = s.object(v, p, [
    'network',
    'version',
    'channel',
    'capabilities',
    'sequences',
    'rootVersion',
    'role',
  ])
  const seqs = s.object(
    h.sequences,
    `${p}.sequences`,
    [],
    Object.keys((h.sequences as object) ?? {}),
  )
  const names = Object.keys(seqs)
  if (names.length > MAX_HELLO_CHANNELS)
    throw new SchemaError(`${p}.sequences has more than ${MAX_HELLO_CHANNELS} channels`)
  const sequences: Record<string, number> = {}
  for (const ch of names) {
    s.string(ch, `${p}.sequences channel name`, s.NAME_RE, 64)
    Object.defineProperty(sequences, ch, {
      value: s.integer(seqs[ch], `${p}.sequences.${ch}`, 0),
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  if (h.role !== 'node' && h.role !== 'shadow' && h.role !== 'publisher')
    throw new SchemaError(`${p}.role must be node, shadow or publisher`)
  return {
    network: s.string(h.network, `${p}.network`, s.NAME_RE),
    version: s.version(h.version, `${p}.version`),
    channel: s.string(h.channel, `${p}.channel`, s.NAME_RE),
    capabilities: s.array(h.capabilities, `${p}.capabilities`, 64, (x, q) =>
      s.string(x, q, CAPABILITY_RE, 64),
    ),
    sequences,
    rootVersion: s.integer(h.rootVersion, `${p}.rootVersion`, 1),
    role: h.role,
  }
}

function parseVerdict(v: unknown, p: string): Verdict {
  const d = s.object(v, p, ['status', 'reasons'], ['current'])
  if (
    d.status !== 'ok' &&
    d.status !== 'outdated' &&
    d.status !== 'suspicious' &&
    d.status !== 'unverified'
  ) {
    throw new SchemaError(`${p}.status is not a known status`)
  }
  const verdict: Verdict = {
    status: d.status,
    reasons: s.array(d.reasons, `${p}.reasons`, 8, (x, q) => s.string(x, q, undefined, 256)),
  }
  if (d.current !== undefined) {
    const c = s.object(d.current, `${p}.current`, ['version', 'sequence'])
    verdict.current = {
      version: s.version(c.version, `${p}.current.version`),
      sequence: s.integer(c.sequence, `${p}.current.sequence`, 1),
    }
  }
  return verdict
}

/** Encodes a message (JSON, UTF-8). */
export function encodeHelloMessage(m: HelloMessage): Uint8Array {
  return utf8(JSON.stringify(m))
}

/** Decodes one message; size cap first. Never throws. */
export function decodeHelloMessage(bytes: Uint8Array): Result<HelloMessage> {
  if (bytes.length > MAX_HELLO_BYTES)
    return fail('too-large', `too large: ${bytes.length} bytes, the limit is ${MAX_HELLO_BYTES}`)
  const text = fromUtf8(bytes)
  if (text === undefined) return fail('malformed', 'malformed: not valid UTF-8')
  const parsed = parseStrictJson(text, { maxDepth: 4 })
  if (!parsed.ok) return parsed
  try {
    const m = s.object(parsed.value, 'message', ['type'], ['hello', 'verdict'])
    if (m.type === 'hello') {
      s.object(parsed.value, 'message', ['type', 'hello'])
      return ok({ type: 'hello', hello: parseHello(m.hello, 'hello') })
    }
    if (m.type === 'hello-reply') {
      s.object(parsed.value, 'message', ['type', 'hello', 'verdict'])
      return ok({
        type: 'hello-reply',
        hello: parseHello(m.hello, 'hello'),
        verdict: parseVerdict(m.verdict, 'verdict'),
      })
    }
    if (m.type === 'verdict') {
      s.object(parsed.value, 'message', ['type', 'verdict'])
      return ok({ type: 'verdict', verdict: parseVerdict(m.verdict, 'verdict') })
    }
    return fail('malformed', 'malformed: message.type must be hello, hello-reply or verdict')
  } catch (e) {
    return schemaFailure(e)
  }
}

/**
 * The protocol a capability stands for: capability "name/N" is backed by the protocol
 * "/convoy/<network>/name/N.0.0". Every capability convoy claims today is a protocol it serves;
 * a pure feature without a protocol would count as unbacked, so none is claimed that way.
 */
export function capabilityProtocol(network: string, capability: string): string {
  const at = capability.lastIndexOf('/')
  return protocolId(network, capability.slice(0, at), Number(capability.slice(at + 1)))
}

/**
 * The one spelling of a convoy protocol id: `/convoy/<network>/<name>/<major>.0.0`. The network
 * is in every id, so two networks never speak to each other by accident.
 */
export function protocolId(network: string, name: string, major = 1): string {
  return `${protocolPrefix(network)}${name}/${major}.0.0`
}

/** What every protocol id of `network` starts with. */
export function protocolPrefix(network: string): string {
  return `/convoy/${network}/`
}

/** The capabilities that a peer's protocol list backs, on `network`. */
export function backedCapabilities(network: string, protocols: readonly string[]): string[] {
  const prefix = protocolPrefix(network)
  const out: string[] = []
  for (const p of protocols) {
    if (!p.startsWith(prefix)) continue
    const m = /^(.+)\/(\d+)\.\d+\.\d+$/.exec(p.slice(prefix.length))
    if (m !== null) out.push(`${m[1]}/${m[2]}`)
  }
  return [...new Set(out)].sort()
}
