/**
 * Who a node uploads an artifact to: upload slots, one slot per peer, and an upload budget
 * counted in copies, not in bytes pushed into streams.
 *
 * Why copies. A seeder with a budget of two copies must end with two peers holding the whole
 * artifact, whatever the timing. Counting bytes written into streams broke that: a transfer cut
 * by the requester (stalled on a loaded machine, or a peer that left) had charged the seeder for
 * everything queued in the stream's window, often the whole file, although the requester held a
 * fraction of it. Two cut transfers spent the budget, no peer held a whole copy, every fetcher
 * was answered "busy" for ever (the bench:net stall).
 *
 * So a requester admitted gets a ticket for the rest of the artifact from the offset it asked
 * at, charged once. Coming back to resume (at any offset) costs nothing more. A ticket ends
 * when the peer has been sent the last byte (the charge stays: a copy was delivered) or when
 * it has been idle for `ticketIdleMs` (the peer left): the first abandoned ticket of a peer for
 * an artifact is refunded, so peers that leave cannot spend a seeder's budget on copies nobody
 * holds; a peer's later abandoned tickets stay charged, so one identity cannot drain a seeder by
 * starting and leaving again. Sybil identities each get one refund; the per-peer budgets of the
 * hostile-network work bound how fast they can come.
 *
 * A ranged request (a run of chunks, core/net/chunks.ts) is charged differently: exactly its
 * range while it is in flight, kept when the requester confirms it, refunded at once when the
 * transfer is cut. So the budget counts bytes delivered, however many providers share a copy and however
 * often a chunk is asked again, and a seeder of a chunked artifact can be given a budget of a
 * little more than one copy.
 *
 * A budgeted ledger also keeps room for the first copy (first-copy.ts): a ranged request is
 * admitted only if the budget still covers, after it, every byte never delivered outside it.
 *
 * Pure: the caller passes the time and carries the decision out.
 */
import { FirstCopy } from './first-copy.ts'

/** Why an upload was refused; carried to the requester in the "busy" reply. */
export type UploadRefusal = 'slots' | 'budget' | 'quota'

export interface UploadLimits {
  /** Uploads served at the same time. */
  maxUploads: number
  /** Bytes this node will spend on tickets over its lifetime (Infinity: no budget). */
  budgetBytes: number
  /** A ticket with no transfer for this long is abandoned, in ms. */
  ticketIdleMs: number
  /** Tickets remembered at most; the oldest ended ones are forgotten first. */
  maxTickets: number
  /** Files of at most this many bytes are served free of charge. @default UNCHARGED_BYTES */
  unchargedBytes?: number
}

/**
 * Files this small are served without a charge to the budget: a chunk index (at most 4,096
 * hashes, core/net/chunks.ts) is metadata every fetcher of a chunked artifact asks for first,
 * and a publisher whose budget is one copy must still hand it to everyone.
 */
export const UNCHARGED_BYTES: number = 4096 * 67 + 512

/** @default ticketIdleMs 30 s, maxTickets 4096 */
export const DEFAULT_TICKET_IDLE_MS = 30_000
export const DEFAULT_MAX_TICKETS = 4096

interface Ticket {
  peer: string
  artifact: string
  /** Bytes charged to the budget for this ticket. */
  charge: number
  /** Transfers of this ticket in progress. */
  active: number
  /** Last time a transfer of this ticket started or ended. */
  touched: number
  /** Sent the last byte: a delivered copy. */
  delivered: boolean
  /** A ranged ticket: charged for its range only, refunded when cut, ended when it ends. */
  ranged?: boolean
  /** Where a ranged ticket's range starts, to mark what it delivered. */
  start?: number
}

/** Artifacts whose first copy a budgeted ledger tracks at most (the oldest is forgotten). */
const MAX_FIRST_COPIES = 16

/** What {@link UploadLedger.admit} decided. */
export type UploadDecision =
  | { admit: true; ticket: string; charged: number }
  | { admit: false; reason: UploadRefusal }

/** Upload slots and the copy budget of one node. */
export class UploadLedger {
  private readonly limits: UploadLimits
  /** Open and delivered tickets, by `${peer} ${artifact}`, in insertion order. */
  private readonly tickets = new Map<string, Ticket>()
  /** `${peer} ${artifact}` pairs whose one refund was used. */
  private readonly refunded = new Set<string>()
  private charged = 0
  private active = 0
  /** Per artifact, the bytes delivered at least once (a budgeted seeder owes a first copy). */
  private readonly firstCopies = new Map<string, FirstCopy>()

  constructor(limits: UploadLimits) {
    this.limits = limits
  }

  /** Bytes charged to the budget so far (delivered copies and open tickets). */
  get chargedBytes(): number {
    return this.charged
  }

  /** Uploads in progress. */
  get activeUploads(): number {
    return this.active
  }

  /**
   * May `peer` be sent `artifact` (of `length` bytes) from `offset` (to `end`, for a ranged
   * request)? Admitted uploads take a slot until {@link finish}. One slot per peer: a second
   * concurrent request is "slots".
   */
  admit(
    peer: string,
    artifact: string,
    length: number,
    offset: number,
    now: number,
    end?: number,
  ): UploadDecision {
    this.expire(now)
    if (this.active >= this.limits.maxUploads) return { admit: false, reason: 'slots' }
    for (const t of this.tickets.values()) {
      if (t.peer === peer && t.active > 0) return { admit: false, reason: 'slots' }
    }
    const free = length <= (this.limits.unchargedBytes ?? UNCHARGED_BYTES)
    if (end !== undefined || free) {
      const stop = end ?? length
      const charge = free ? 0 : Math.max(0, Math.min(stop, length) - Math.min(offset, length))
      // The budget keeps room for the bytes never delivered outside this range (first-copy.ts).
      const owed = free
        ? 0
        : (this.firstCopy(artifact, length)?.undeliveredOutside(offset, stop) ?? 0)
      if (this.charged + charge + owed > this.limits.budgetBytes)
        return { admit: false, reason: 'budget' }
      if (!this.makeRoom()) return { admit: false, reason: 'slots' }
      const key = `${peer} ${artifact} ${offset}-${stop} ${now}`
      this.tickets.set(key, {
        peer,
        artifact,
        charge,
        active: 1,
        touched: now,
        delivered: false,
        ranged: true,
        start: offset,
      })
      this.charged += charge
      this.active++
      return { admit: true, ticket: key, charged: charge }
    }
    const key = `${peer} ${artifact}`
    let ticket = this.tickets.get(key)
    if (ticket?.delivered === true && offset < length) {
      // It had a whole copy and asks again: a new copy, charged anew.
      this.tickets.delete(key)
      ticket = undefined
    }
    if (ticket === undefined) {
      const charge = Math.max(0, length - Math.min(offset, length))
      if (this.charged + charge > this.limits.budgetBytes) return { admit: false, reason: 'budget' }
      // Full of open tickets (a flood of requesters within ticketIdleMs): no room for one more.
      if (!this.makeRoom()) return { admit: false, reason: 'slots' }
      ticket = { peer, artifact, charge, active: 0, touched: now, delivered: false }
      this.charged += charge
      this.tickets.set(key, ticket)
    }
    ticket.active++
    ticket.touched = now
    this.active++
    return { admit: true, ticket: key, charged: ticket.charge }
  }

  /** An admitted upload ended; `complete` when the last byte of the artifact (or range) was sent. */
  finish(ticketKey: string, complete: boolean, now: number): void {
    this.active = Math.max(0, this.active - 1)
    const t = this.tickets.get(ticketKey)
    if (t === undefined) return
    t.active = Math.max(0, t.active - 1)
    t.touched = now
    if (t.ranged === true) {
      // A range is done either way: delivered (the charge stays) or cut (refunded).
      this.tickets.delete(ticketKey)
      if (complete) {
        const start = t.start ?? 0
        this.firstCopies.get(t.artifact)?.mark(start, start + t.charge)
      } else {
        // Cut: refunded. What the requester took of it is not counted as delivered either,
        // since a fetcher keeps only whole verified chunks; otherwise a cut could strand a chunk.
        this.charged -= t.charge
      }
      return
    }
    if (complete) t.delivered = true
  }

  /** Ends tickets idle for `ticketIdleMs`: refunds a peer's first abandoned one per artifact. */
  expire(now: number): void {
    for (const [key, t] of this.tickets) {
      if (t.delivered || t.active > 0 || now - t.touched < this.limits.ticketIdleMs) continue
      this.tickets.delete(key)
      if (!this.refunded.has(key)) {
        this.charged -= t.charge
        this.refunded.add(key)
        if (this.refunded.size > this.limits.maxTickets) {
          this.refunded.delete(this.refunded.values().next().value as string)
        }
      }
    }
  }

  /** The first-copy record of `artifact`, kept only under a finite budget. */
  private firstCopy(artifact: string, length: number): FirstCopy | undefined {
    if (!Number.isFinite(this.limits.budgetBytes)) return undefined
    let fc = this.firstCopies.get(artifact)
    if (fc === undefined || fc.length !== length) {
      fc = new FirstCopy(length)
      this.firstCopies.set(artifact, fc)
      if (this.firstCopies.size > MAX_FIRST_COPIES)
        this.firstCopies.delete(this.firstCopies.keys().next().value as string)
    }
    return fc
  }

  /** True when a ticket fits; forgets the oldest delivered one if needed (its charge stays). */
  private makeRoom(): boolean {
    if (this.tickets.size < this.limits.maxTickets) return true
    for (const [k, t] of this.tickets) {
      if (t.delivered && t.active === 0) {
        this.tickets.delete(k)
        return true
      }
    }
    return false
  }
}
