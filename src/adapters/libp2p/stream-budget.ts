/**
 * The one way an inbound stream goes through its peer's budget (core/net/budget.ts): admitted,
 * or reset unread with a reason, so a peer over its rate or with too many open gets nothing.
 * And the one way a caller's AbortOptions meet a method's own deadline.
 */
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { type Budget, PeerBudgets } from '../../core/net/budget.ts'
import { positiveField } from './init-check.ts'

/**
 * Admits one inbound stream of `peer` at `now`, or aborts it and calls `onRefused` (which counts
 * `budget_refused`). An admitted stream must be ended with `budgets.end(peer)`.
 */
export function admitStream(
  budgets: PeerBudgets,
  peer: string,
  now: number,
  stream: Stream,
  what: string,
  onRefused?: () => void,
): boolean {
  const b = budgets.begin(peer, now)
  if (b.ok) return true
  onRefused?.()
  stream.abort(new Error(`${what} budget spent (${b.reason}): slow down`))
  return false
}

/** The caller's signal (if any) or a deadline `timeoutMs` from now, whichever ends first. */
export function withDeadline(options: AbortOptions, timeoutMs: number): AbortSignal {
  const deadline = AbortSignal.timeout(timeoutMs)
  return options.signal ? AbortSignal.any([options.signal, deadline]) : deadline
}

/** The options a service with a {@link BudgetedHandler} takes for it (its `XInit` documents them). */
export interface BudgetedHandlerOptions {
  onRefused?: () => void
  budget?: Budget
  maxInboundStreams?: number
  now?: () => number
}

/**
 * `init`'s handler options checked, with the defaults: `budget` (the protocol's own), 4 inbound
 * streams per connection, `Date.now`. Errors name `service` and the field.
 */
export function handlerOptions(
  service: string,
  init: BudgetedHandlerOptions,
  budget: Budget,
): Required<Omit<BudgetedHandlerOptions, 'onRefused'>> & Pick<BudgetedHandlerOptions, 'onRefused'> {
  return {
    onRefused: init.onRefused,
    budget: init.budget ?? budget,
    maxInboundStreams: positiveField(
      service,
      'maxInboundStreams',
      init.maxInboundStreams ?? 4,
      true,
    ),
    now: init.now ?? Date.now,
  }
}

/** Where a handler is registered: a service's registrar, or the node's libp2p itself. */
export type Handles = Pick<Registrar, 'handle' | 'unhandle'>

/** What a {@link BudgetedHandler} serves, and under which budget. */
export interface BudgetedHandlerInit {
  protocol: string
  /** Names the protocol in the reset's reason. */
  what: string
  budget: Budget
  maxInboundStreams: number
  now: () => number
  onRefused?: (() => void) | undefined
  /** Serves one admitted stream; what it throws is its own to report (it is dropped here). */
  serve: (stream: Stream, connection: Connection) => Promise<unknown>
}

/**
 * One inbound protocol of a service, every stream through its peer's budget: the part of
 * `start`, `stop` and `forget` that the hello and manifest-exchange services share.
 */
export class BudgetedHandler {
  private readonly budgets: PeerBudgets
  private readonly registrar: Handles
  private readonly init: BudgetedHandlerInit

  constructor(registrar: Handles, init: BudgetedHandlerInit) {
    this.registrar = registrar
    this.init = init
    this.budgets = new PeerBudgets(init.budget)
  }

  async start(): Promise<void> {
    const { budgets, init } = this
    await this.registrar.handle(
      init.protocol,
      (stream, connection) => {
        const peer = connection.remotePeer.toString()
        if (!admitStream(budgets, peer, init.now(), stream, init.what, init.onRefused)) return
        void init
          .serve(stream, connection)
          .catch(() => {})
          .finally(() => budgets.end(peer))
      },
      { maxInboundStreams: init.maxInboundStreams },
    )
  }

  async stop(): Promise<void> {
    await this.registrar.unhandle(this.init.protocol)
  }

  /** Drops the budget kept for `peer` (on disconnect). */
  forget(peer: string): void {
    this.budgets.forget(peer)
  }
}
