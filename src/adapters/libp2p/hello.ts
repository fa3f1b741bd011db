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
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import {
  decodeHelloMessage,
  encodeHelloMessage,
  type Hello,
  type HelloMessage,
  MAX_HELLO_BYTES,
  type Verdict,
} from '../../core/net/hello.ts'

/** The protocol id of the hello exchange on `network`. */
export function helloProtocol(network: string): string {
  return `/convoy/${network}/hello/1.0.0`
}

/** What the peer did wrong. */
export type HelloFaultKind = 'malformed' | 'oversize' | 'slow' | 'wrong-network' | 'closed'

/** The peer broke the handshake. */
export class HelloFault extends Error {
  override name = 'HelloFault'
  readonly kind: HelloFaultKind
  constructor(kind: HelloFaultKind, message: string) {
    super(message)
    this.kind = kind
  }
}

async function readMessage(
  lp: ReturnType<typeof lpStream>,
  timeoutMs: number,
  expect: HelloMessage['type'],
): Promise<HelloMessage> {
  let bytes: Uint8Array
  try {
    const chunk = await lp.read({ signal: AbortSignal.timeout(timeoutMs) })
    bytes = chunk.subarray()
  } catch (e) {
    const err = e as Error
    if (
      err.name === 'InvalidDataLengthError' ||
      err.name === 'InvalidMessageLengthError' ||
      err.name === 'InvalidDataLengthLengthError'
    ) {
      throw new HelloFault('oversize', `hello message larger than ${MAX_HELLO_BYTES} bytes`)
    }
    if (err.name === 'TimeoutError' || err.name === 'AbortError') {
      throw new HelloFault('slow', `no complete hello message within ${timeoutMs} ms`)
    }
    throw new HelloFault('closed', `stream ended during the hello (${err.message})`)
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
