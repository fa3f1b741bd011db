/**
 * The hello exchange on a libp2p stream: three length-prefixed messages.
 *
 *   opener    -> { type: "hello", hello }
 *   answerer  -> { type: "hello-reply", hello, verdict on the opener }
 *   opener    -> { type: "verdict", verdict on the answerer }
 *
 * Every read has a size cap (MAX_HELLO_BYTES) and a deadline. Any fault throws a
 * {@link HelloFault} naming what the peer did; the caller counts it and closes the connection.
 */
import type { AbortOptions, Connection, Startable, Stream } from '@libp2p/interface'
import { serviceCapabilities } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import { type Budget, PROTOCOL_BUDGETS } from '../../core/net/budget.ts'
import {
  decodeHelloMessage,
  encodeHelloMessage,
  type Hello,
  type HelloMessage,
  MAX_HELLO_BYTES,
  protocolId,
  type Verdict,
} from '../../core/net/hello.ts'
import { type FrameError, HelloFault } from './errors.ts'
import { readFrame } from './frames.ts'
import { hookField, stringField } from './init-check.ts'
import { BudgetedHandler, handlerOptions, withDeadline } from './stream-budget.ts'

/** The protocol id of the hello exchange on `network`. */
export function helloProtocol(network: string): string {
  return protocolId(network, 'hello')
}

async function readMessage(
  lp: LengthPrefixedStream,
  timeoutMs: number,
  expect: HelloMessage['type'],
): Promise<HelloMessage> {
  let bytes: Uint8Array
  try {
    bytes = await readFrame(lp, timeoutMs, MAX_HELLO_BYTES)
  } catch (e) {
    const f = e as FrameError
    if (f.kind === 'oversize')
      throw new HelloFault('oversize', `hello message larger than ${MAX_HELLO_BYTES} bytes`)
    if (f.kind === 'slow')
      throw new HelloFault('slow', `no complete hello message within ${timeoutMs} ms`)
    throw new HelloFault(
      'closed',
      `stream ended during the hello (${f.cause instanceof Error ? f.cause.message : f.message})`,
    )
  }
  const decoded = decodeHelloMessage(bytes)
  if (!decoded.ok) throw new HelloFault('malformed', decoded.reason)
  if (decoded.value.type !== expect)
    throw new HelloFault('malformed', `expected a ${expect} message, got ${decoded.value.type}`)
  return decoded.value
}

/** Callbacks the node supplies: its own hello, and its verdict on a peer's hello. */
export interface HelloSide {
  ownHello: () => Hello
  judge: (peerHello: Hello) => Verdict
  timeoutMs: number
}

/** Result of one exchange, from either side. */
export interface HelloOutcome {
  peerHello: Hello
  /** What the peer said about us. */
  verdictOnUs: Verdict
  /** What we said about the peer. */
  ourVerdict: Verdict
}

function checkNetwork(own: Hello, peer: Hello): void {
  if (peer.network !== own.network) {
    throw new HelloFault(
      'wrong-network',
      `peer is on network "${peer.network}", this node is on "${own.network}"`,
    )
  }
}

/** Runs the opener's side on a fresh stream. */
export async function openHello(stream: Stream, side: HelloSide): Promise<HelloOutcome> {
  const lp = lpStream(stream, { maxDataLength: MAX_HELLO_BYTES })
  const own = side.ownHello()
  await lp.write(encodeHelloMessage({ type: 'hello', hello: own }), {
    signal: AbortSignal.timeout(side.timeoutMs),
  })
  const reply = await readMessage(lp, side.timeoutMs, 'hello-reply')
  if (reply.type !== 'hello-reply') throw new HelloFault('malformed', 'expected hello-reply')
  checkNetwork(own, reply.hello)
  const ourVerdict = side.judge(reply.hello)
  await lp.write(encodeHelloMessage({ type: 'verdict', verdict: ourVerdict }), {
    signal: AbortSignal.timeout(side.timeoutMs),
  })
  await stream.close({ signal: AbortSignal.timeout(side.timeoutMs) }).catch(() => {})
  return { peerHello: reply.hello, verdictOnUs: reply.verdict, ourVerdict }
}

/** Runs the answerer's side on an incoming stream. */
export async function answerHello(stream: Stream, side: HelloSide): Promise<HelloOutcome> {
  const lp = lpStream(stream, { maxDataLength: MAX_HELLO_BYTES })
  const first = await readMessage(lp, side.timeoutMs, 'hello')
  if (first.type !== 'hello') throw new HelloFault('malformed', 'expected hello')
  const own = side.ownHello()
  checkNetwork(own, first.hello)
  const ourVerdict = side.judge(first.hello)
  await lp.write(encodeHelloMessage({ type: 'hello-reply', hello: own, verdict: ourVerdict }), {
    signal: AbortSignal.timeout(side.timeoutMs),
  })
  const last = await readMessage(lp, side.timeoutMs, 'verdict')
  if (last.type !== 'verdict') throw new HelloFault('malformed', 'expected verdict')
  await stream.close({ signal: AbortSignal.timeout(side.timeoutMs) }).catch(() => {})
  return { peerHello: first.hello, verdictOnUs: last.verdict, ourVerdict }
}

/** Options of the {@link hello} service. */
export interface HelloInit {
  /** The network whose protocol id (`/convoy/<network>/hello/1.0.0`) the service speaks. */
  network: string
  /** This node's side of the handshake, asked for at each exchange. */
  side: () => HelloSide
  /** An exchange a peer opened completed. */
  onHello: (connection: Connection, outcome: HelloOutcome) => void
  /** An exchange a peer opened failed; the stream is already aborted. */
  onFault: (connection: Connection, error: unknown) => void
  /** A stream was refused by the peer's budget (counted as `budget_refused`). */
  onRefused?: () => void
  /** Per-peer rate, burst and concurrency. @default PROTOCOL_BUDGETS.hello */
  budget?: Budget
  /** Inbound hello streams per connection. @default 4 */
  maxInboundStreams?: number
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number
}

/** What the {@link hello} service needs of libp2p. */
export interface HelloComponents {
  registrar: Registrar
}

/** The hello exchange as a libp2p service: it answers peers and opens exchanges with them. */
export interface HelloService {
  /**
   * Runs the opener's side on a new stream of `connection`. A peer that does not speak hello on
   * this network (or is gone) throws a {@link HelloFault} of kind `closed`: not misbehaviour.
   */
  open(connection: Connection, options?: AbortOptions): Promise<HelloOutcome>
  /** Drops the budget kept for `peer` (on disconnect). */
  forget(peer: string): void
}

/** A libp2p service factory: `services: { hello: hello({ network, side, onHello, onFault }) }`. */
export function hello(init: HelloInit): (components: HelloComponents) => HelloService & Startable {
  const config: HelloConfig = {
    network: stringField('hello', 'network', init.network),
    side: hookField('hello', 'side', init.side),
    onHello: hookField('hello', 'onHello', init.onHello),
    onFault: hookField('hello', 'onFault', init.onFault),
    ...handlerOptions('hello', init, PROTOCOL_BUDGETS.hello),
  }
  return (components) => new Hellos(components, config)
}

class Hellos implements HelloService, Startable {
  readonly [Symbol.toStringTag] = '@convoy/hello'
  readonly [serviceCapabilities]: string[] = ['@convoy/hello']
  private readonly protocol: string
  private readonly handler: BudgetedHandler
  private readonly config: HelloConfig

  constructor(components: HelloComponents, config: HelloConfig) {
    this.config = config
    this.protocol = helloProtocol(config.network)
    this.handler = new BudgetedHandler(components.registrar, {
      ...config,
      protocol: this.protocol,
      what: 'hello',
      serve: (stream, connection) =>
        answerHello(stream, config.side())
          .then((outcome) => config.onHello(connection, outcome))
          .catch((e) => {
            stream.abort(e instanceof Error ? e : new Error(String(e)))
            config.onFault(connection, e)
          }),
    })
  }

  start(): Promise<void> {
    return this.handler.start()
  }

  stop(): Promise<void> {
    return this.handler.stop()
  }

  async open(connection: Connection, options: AbortOptions = {}): Promise<HelloOutcome> {
    const side = this.config.side()
    let stream: Stream
    try {
      stream = await connection.newStream(this.protocol, {
        signal: withDeadline(options, side.timeoutMs),
      })
    } catch (e) {
      throw new HelloFault('closed', `no hello stream: ${(e as Error).message}`)
    }
    try {
      return await openHello(stream, side)
    } catch (e) {
      stream.abort(e instanceof Error ? e : new Error(String(e)))
      throw e
    }
  }

  forget(peer: string): void {
    this.handler.forget(peer)
  }
}

type HelloConfig = Required<Omit<HelloInit, 'onRefused'>> & Pick<HelloInit, 'onRefused'>
