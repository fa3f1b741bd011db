/**
 * Revocations at a node: verified (core/trust/revocations.ts), persisted before anything acts
 * on them, shown in `GET /status` for the supervisor to obey, and spread two ways:
 *
 * - **Pushed to every peer at once.** A node that accepts a new revocation sends it to every
 *   connected peer but the one it came from, and each of them does the same, so it crosses the
 *   network in one round trip per hop. A new connection is sent every revocation held (at most
 *   {@link MAX_REVOCATIONS}; usually none, and then nothing is sent).
 * - **In the DHT**, under `/convoy-revoke/<network>/<channel>/<sequence>`, for a node that was
 *   away when it was pushed: each lookup round asks for the revocation of the release the node
 *   runs and of the channel's latest.
 *
 *   protocol /convoy/<network>/revoke/1.0.0: the opener writes up to 64 length-prefixed
 *   revocations (each <= 16 KiB) and closes; the other side reads them within 5 s.
 *
 * A peer's budget is two pushes a second (burst 8); a frame that does not verify ends the
 * stream and counts as misbehaviour. Only t-of-n maintainer keys make a revocation that verifies,
 * so no peer can make a node obey one, only spend its budget.
 */
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { utf8 } from '../../core/bytes.ts'
import { MAX_REVOCATION_BYTES } from '../../core/manifest/revocation.ts'
import { PROTOCOL_BUDGETS } from '../../core/net/budget.ts'
import { formatDhtKey, parseDhtKey } from '../../core/net/dht-keys.ts'
import { protocolId } from '../../core/net/hello.ts'
import {
  acceptRevocation,
  MAX_REVOCATIONS,
  type RevokedRelease,
} from '../../core/trust/revocations.ts'
import { opensslVerify } from '../crypto/ed25519.ts'
import { FrameError, RecordRejectedError } from './errors.ts'
import { readFrame } from './frames.ts'
import type { NodeParts, NodeState } from './node-state.ts'
import { BudgetedHandler } from './stream-budget.ts'

/** Protocol id on `network`. */
export function revokeProtocol(network: string): string {
  return protocolId(network, 'revoke')
}

/** DHT key of the revocation of one manifest. */
export function revocationKey(network: string, channel: string, sequence: number): Uint8Array {
  return utf8(formatDhtKey({ kind: 'revocation', network, channel, sequence }))
}

/** Most revocations on one push stream. */
export const MAX_REVOCATIONS_PER_STREAM = 64
/** Time a push has to arrive whole, ms. */
const PUSH_TIMEOUT_MS = 5000

/** The revocation side of a node. */
export class Revocations {
  /** The revocations this node holds, oldest first. */
  held: RevokedRelease[] = []
  private readonly bytes = new Map<string, Uint8Array>()
  private readonly state: NodeState
  private readonly parts: NodeParts
  private handler: BudgetedHandler | undefined

  constructor(state: NodeState, parts: NodeParts) {
    this.state = state
    this.parts = parts
  }

  /** Serves the revoke protocol on the started libp2p, every stream through its peer's budget. */
  async start(): Promise<void> {
    this.handler = new BudgetedHandler(this.state.libp2p, {
      protocol: revokeProtocol(this.state.network.network),
      what: 'revocation',
      budget: PROTOCOL_BUDGETS.revoke,
      maxInboundStreams: 2,
      now: () => this.state.now(),
      onRefused: () => this.state.counters.budget_refused!++,
      serve: (stream, connection) => this.serve(stream, connection),
    })
    await this.handler.start()
  }

  /** Reads the stored revocations, keeping each that still verifies against this node's trust. */
  async load(): Promise<void> {
    for (const bytes of await this.state.store.readRevocations(MAX_REVOCATIONS)) {
      const r = acceptRevocation(this.state.trust, this.held, bytes, { verify: opensslVerify })
      if (r.ok && r.value.isNew) this.keep(r.value.revoked, bytes)
    }
  }

  private keep(r: RevokedRelease, bytes: Uint8Array): void {
    this.held.push(r)
    this.bytes.set(`${r.channel}/${r.sequence}`, bytes)
  }

  /**
   * Verifies and records a revocation; persists it before it is shown to anyone, then pushes it
   * to every connected peer but `from`. Returns whether it was new here; throws
   * {@link RecordRejectedError} when it does not verify.
   */
  async ingest(bytes: Uint8Array, from?: string): Promise<boolean> {
    const r = acceptRevocation(this.state.trust, this.held, bytes, { verify: opensslVerify })
    if (!r.ok) throw new RecordRejectedError(r.reason)
    if (!r.value.isNew) return false
    const rv = r.value.revoked
    await this.state.store.saveRevocation(rv.channel, rv.sequence, bytes)
    // Checked again after the write: another copy may have been taken meanwhile.
    if (this.held.some((x) => x.channel === rv.channel && x.sequence === rv.sequence)) return false
    this.keep(rv, bytes)
    this.state.counters.revocations_accepted = (this.state.counters.revocations_accepted ?? 0) + 1
    this.state.emit(`revoked: ${rv.channel} ${rv.version} (sequence ${rv.sequence}): ${rv.reason}`)
    for (const conn of this.state.libp2p.getConnections()) {
      if (conn.remotePeer.toString() !== from) void this.push(conn, [bytes])
    }
    return true
  }

  /** Sends `docs` (every revocation held, by default) to the peer of `conn`; faults are dropped. */
  async push(conn: Connection, docs: Uint8Array[] = [...this.bytes.values()]): Promise<void> {
    if (docs.length === 0 || this.state.stopped) return
    const signal = AbortSignal.timeout(PUSH_TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      stream = await conn.newStream(revokeProtocol(this.state.network.network), { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_REVOCATION_BYTES })
      await lp.writeV(docs.slice(0, MAX_REVOCATIONS_PER_STREAM), { signal })
      await stream.close({ signal })
      this.state.counters.revocations_sent = (this.state.counters.revocations_sent ?? 0) + 1
    } catch {
      // A peer without the protocol (an older convoy) or gone: the DHT copy reaches it later.
      stream?.abort(new Error('revocation push failed'))
    }
  }

  /** Reads one push. A frame that does not verify ends the stream; nothing throws out of here. */
  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(PUSH_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_REVOCATION_BYTES })
    try {
      for (let n = 0; ; n++) {
        let bytes: Uint8Array
        try {
          bytes = await readFrame(lp, PUSH_TIMEOUT_MS, MAX_REVOCATION_BYTES, signal)
        } catch (e) {
          if (e instanceof FrameError && e.kind === 'closed') break
          throw e
        }
        if (n >= MAX_REVOCATIONS_PER_STREAM)
          throw new Error(`more than ${MAX_REVOCATIONS_PER_STREAM} revocations on one stream`)
        await this.ingest(bytes, from)
      }
      await stream.close({ signal })
    } catch (e) {
      this.state.counters.misbehaviour!++
      this.parts.peerTable.entry(connection.remotePeer).misbehaviour++
      this.state.emit(`revocation push from ${from} dropped: ${(e as Error).message}`)
      stream.abort(e instanceof Error ? e : new Error(String(e)))
    }
  }

  /** Drops what was kept about a peer that disconnected. */
  forget(peer: string): void {
    this.handler?.forget(peer)
  }

  /** The verdict on a revocation record under `key`, with no side effect. */
  private recordVerdict(key: Uint8Array, value: Uint8Array): string | undefined {
    const k = parseDhtKey(new TextDecoder().decode(key))
    if (k?.kind !== 'revocation' || k.network !== this.state.network.network)
      return 'record key is not a canonical convoy revocation key of this network'
    const r = acceptRevocation(this.state.trust, [], value, { verify: opensslVerify })
    if (!r.ok) return r.reason
    const v = r.value.revoked
    return v.channel === k.channel && v.sequence === k.sequence
      ? undefined
      : 'record key does not match the revocation'
  }

  /** kad-dht validator for /convoy-revoke/<network>/<channel>/<sequence>. Throws to refuse. */
  validateRecord(key: Uint8Array, value: Uint8Array): void {
    const problem = this.recordVerdict(key, value)
    if (problem !== undefined) {
      this.state.counters.records_rejected!++
      throw new RecordRejectedError(problem)
    }
    this.state.counters.records_accepted!++
    queueMicrotask(() => void this.ingest(value).catch(() => {}))
  }

  /** kad-dht selector: the first record that verifies (any two that do say the same). Pure. */
  selectRecord(key: Uint8Array, records: Uint8Array[]): number {
    return Math.max(
      0,
      records.findIndex((r) => this.recordVerdict(key, r) === undefined),
    )
  }

  /** The sequences whose revocation a lookup round asks the DHT for: what runs and what is latest. */
  wanted(): number[] {
    const t = this.state.trust.channels[this.state.channel]
    const running = t?.releases.find((r) => r.version === this.state.version)?.sequence
    const seqs = new Set<number>()
    for (const s of [running, t?.latest?.sequence])
      if (
        s !== undefined &&
        !this.held.some((x) => x.channel === this.state.channel && x.sequence === s)
      )
        seqs.add(s)
    return [...seqs]
  }

  /**
   * Takes a revocation into this node, pushes it to every peer and puts it into the DHT. Returns
   * how many peers it was pushed to and how many confirmed the DHT put.
   */
  async publish(
    bytes: Uint8Array,
    options: AbortOptions = {},
  ): Promise<{ revoked: RevokedRelease; pushed: number; stored: number }> {
    const r = acceptRevocation(this.state.trust, this.held, bytes, { verify: opensslVerify })
    if (!r.ok) throw new RecordRejectedError(r.reason)
    const rv = r.value.revoked
    const conns = this.state.libp2p.getConnections()
    // New here, ingest pushes it to every peer; known already, the publisher pushes it again.
    if (!(await this.ingest(bytes))) await Promise.all(conns.map((c) => this.push(c, [bytes])))
    let stored = 0
    try {
      for await (const ev of this.state.libp2p.services.dht.put(
        revocationKey(this.state.network.network, rv.channel, rv.sequence),
        bytes,
        { signal: options.signal ?? AbortSignal.timeout(20_000) },
      )) {
        if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') stored++
      }
    } catch (e) {
      this.state.emit(`put revocation of ${rv.version}: ${(e as Error).message}`)
    }
    return { revoked: rv, pushed: conns.length, stored }
  }
}
