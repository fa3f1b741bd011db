/**
 * Raw stream throughput of libp2p transport stacks, with none of convoy's protocols: one stream
 * from one node to another on loopback, `bytes` sent in 64 KiB chunks, timed until the receiver
 * has them all. It tells what the transport (TCP or QUIC), the encryption (noise or TLS) and the
 * muxer (yamux, or QUIC's own streams) cost, apart from the artifact protocol's own work.
 *
 * @chainsafe/libp2p-quic is not a dependency: it is measured only when installed by hand
 * (`npm install --no-save @chainsafe/libp2p-quic`); docs/dependencies.md says why.
 */
import { once as onceEvent } from 'node:events'
import { connect, createServer } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { createLibp2p, type Libp2pOptions } from 'libp2p'

const PROTOCOL = '/convoy-bench/stream/1.0.0'
const CHUNK = 64 * 1024

/** The stacks measured: name and libp2p options. */
async function stacks(): Promise<Array<{ name: string; options?: Libp2pOptions; why?: string }>> {
  const out: Array<{ name: string; options?: Libp2pOptions; why?: string }> = [
    {
      name: 'tcp+noise+yamux',
      options: {
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
      },
    },
    {
      name: 'tcp+tls+yamux',
      options: {
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [tls()],
        streamMuxers: [yamux()],
      },
    },
  ]
  const spec = '@chainsafe/libp2p-quic'
  try {
    const { quic } = (await import(spec)) as {
      quic: () => NonNullable<Libp2pOptions['transports']>[number]
    }
    out.push({
      name: 'quic',
      options: { addresses: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] }, transports: [quic()] },
    })
  } catch (e) {
    out.push({ name: 'quic', why: `not installed (${(e as Error).message.split('\n')[0]})` })
  }
  return out
}

async function once(options: Libp2pOptions, bytes: number): Promise<number> {
  // A copy each: createLibp2p writes the generated key into the options it is given.
  const a = (await createLibp2p({ ...options })) as Libp2p
  const b = (await createLibp2p({ ...options })) as Libp2p
  try {
    let got = 0
    let done!: () => void
    const all = new Promise<void>((r) => {
      done = r
    })
    await b.handle(PROTOCOL, async (stream) => {
      for await (const chunk of stream) {
        got += chunk.byteLength
        if (got >= bytes) done()
      }
    })
    const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
    const t0 = performance.now()
    for (let sent = 0; sent < bytes; sent += CHUNK) {
      if (!stream.send(Buffer.allocUnsafe(Math.min(CHUNK, bytes - sent))))
        await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
    await all
    const ms = performance.now() - t0
    await stream.close().catch(() => {})
    return bytes / 1e6 / (ms / 1000)
  } finally {
    await Promise.allSettled([a.stop(), b.stop()])
  }
}

/** MB/s of each stack (best of `rounds`), or why it was not measured. */
export async function stackThroughput(
  bytes: number,
  rounds = 3,
): Promise<Array<{ name: string; mbps?: number; why?: string }>> {
  const out: Array<{ name: string; mbps?: number; why?: string }> = []
  for (const s of await stacks()) {
    if (s.options === undefined) {
      out.push({ name: s.name, why: s.why ?? 'not measured' })
      continue
    }
    try {
      let best = 0
      for (let i = 0; i < rounds; i++) best = Math.max(best, await once(s.options, bytes))
      out.push({ name: s.name, mbps: best })
    } catch (e) {
      out.push({ name: s.name, why: `failed: ${(e as Error).message}` })
    }
  }
  return out
}

if (import.meta.main) {
  for (const r of await stackThroughput(Number(process.env.BENCH_STACK_MB ?? 100) * 1e6))
    console.log(`${r.name}: ${r.mbps !== undefined ? `${r.mbps.toFixed(1)} MB/s` : r.why}`)
}

/** Raw TCP on loopback in this process: `bytes` sent once, MB/s (the baseline of the ratios). */
export async function rawTcpMBps(bytes: Buffer): Promise<number> {
  const server = createServer((sock) => {
    sock.end(bytes)
  })
  server.listen(0, '127.0.0.1')
  await onceEvent(server, 'listening')
  const port = (server.address() as { port: number }).port
  const t0 = performance.now()
  let got = 0
  const sock = connect(port, '127.0.0.1')
  sock.on('data', (c: Buffer) => {
    got += c.length
  })
  await onceEvent(sock, 'end')
  const ms = performance.now() - t0
  server.close()
  if (got !== bytes.length) throw new Error('raw tcp short read')
  return bytes.length / 1e6 / (ms / 1000)
}
