/**
 * The hostile side of the flood suite, in its own process: `peers` raw libp2p nodes on
 * loopback, each with its own identity, each sending everything convoy's protocols let it
 * send, as fast as it can, to every target for `seconds`:
 *
 * - DHT puts of a genuine manifest under aliased keys (`01`, `1.0`, ...) and of junk records;
 * - provider records for made-up CIDs;
 * - hellos claiming 16 invented channels each;
 * - report batches: well-formed reports signed by fresh identities, and forged ones;
 * - manifest-exchange requests;
 * - slow artifact reads of the newest artifact it can learn of: one yamux window taken just
 *   under every stall timeout, so that it never stalls.
 *
 * Run as `node test/flood/flooder.ts <config.json>`; it prints one JSON line of counts when
 * done. Every call is wrapped: a refusal is a count, never a crash of the flooder.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create } from 'multiformats/hashes/digest'
import { artifactProtocol } from '../../src/adapters/libp2p/artifacts.ts'
import { helloProtocol, openHello } from '../../src/adapters/libp2p/hello.ts'
import { manifestProtocol, requestManifest } from '../../src/adapters/libp2p/manifest-exchange.ts'
import { routingTableSize } from '../../src/adapters/libp2p/records.ts'
import { reportsProtocol, signReport } from '../../src/adapters/libp2p/reports.ts'
import { decodeRelease } from '../../src/core/manifest/release.ts'
import { documentDigest } from '../../src/core/manifest/signing.ts'

export interface FlooderConfig {
  network: string
  peers: number
  seconds: number
  /** Honest nodes' multiaddrs (with /p2p/). */
  targets: string[]
  /** A genuine release manifest of the network (its bytes, base64), to put under aliases. */
  manifest: string
  /** Its channel and sequence. */
  channel: string
  sequence: number
  /** How long the slow reader waits between windows, ms (just under the stall timeout). */
  slowReadEveryMs: number
  /** Only these kinds (hello, reports, manifest, slowread, put, provide); all when absent. */
  kinds?: string[]
}

type Counts = Record<string, number>

const counts: Counts = {}
const count = (what: string, n = 1): void => {
  counts[what] = (counts[what] ?? 0) + n
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function hostile(network: string): Promise<Libp2p<{ dht: KadDHT }>> {
  const accept = async () => {}
  return (await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // Windows that never grow past yamux's minimum (256 KiB): a slow reader takes exactly one
    // window per turn, 256 KiB every 4.8 s, about 53 KB/s, under the upload pace's floor.
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 256 * 1024 } })],
    connectionManager: { maxConnections: 1000 },
    services: {
      identify: identify({ protocolPrefix: `convoy/${network}` }),
      ping: ping({ protocolPrefix: `convoy/${network}` }),
      dht: kadDHT({
        protocol: `/convoy/${network}/kad/1.0.0`,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
        validators: { 'convoy-rel': accept, 'convoy-root': accept, pk: accept },
        selectors: { 'convoy-rel': () => 0, 'convoy-root': () => 0, pk: () => 0 },
      }),
    },
  })) as unknown as Libp2p<{ dht: KadDHT }>
}

/** Spellings of `n` that parse as the number `n` but are not its canonical form. */
function alias(n: number, i: number): string {
  const forms = [`0${n}`, `${n}.0`, `+${n}`, ` ${n}`, `${n}e0`, `0x${n.toString(16)}`, `00${n}`]
  return `${forms[i % forms.length]}${' '.repeat(Math.floor(i / forms.length) % 3)}`
}

async function main(): Promise<void> {
  const config = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as FlooderConfig
  const manifest = new Uint8Array(Buffer.from(config.manifest, 'base64'))
  const decoded = decodeRelease(manifest)
  if (!decoded.ok)
    throw new Error(`flooder: the genuine manifest does not decode: ${decoded.reason}`)
  const digest = documentDigest(decoded.value.signed)
  let newest = { sequence: config.sequence, sha256: decoded.value.signed.artifacts.node!.sha256 }
  const targets: Multiaddr[] = config.targets.map((t) => multiaddr(t))
  const nodes: Array<Libp2p<{ dht: KadDHT }>> = []
  for (let i = 0; i < config.peers; i++) nodes.push(await hostile(config.network))
  // A pool of fresh reporter identities, made before the clock starts.
  const reporters: PrivateKey[] = []
  for (let i = 0; i < 512; i++) reporters.push(await generateKeyPair('Ed25519'))
  // Each identity meets every target before the clock starts, so its DHT knows them.
  await Promise.allSettled(
    nodes.flatMap((n) => targets.map((t) => n.dial(t, { signal: AbortSignal.timeout(10_000) }))),
  )
  const ready = Date.now() + 15_000
  while (Date.now() < ready && nodes.some((n) => routingTableSize(n.services.dht) === 0))
    await sleep(200)
  const end = Date.now() + config.seconds * 1000
  const running = (): boolean => Date.now() < end

  const loop = async (what: string, body: () => Promise<void>): Promise<void> => {
    if (config.kinds !== undefined && !config.kinds.includes(what)) return
    while (running()) {
      // Yield to timers and I/O each turn: a body that settles in microtasks alone (a put with
      // an empty routing table) would otherwise starve every other loop of this process.
      await new Promise((r) => setImmediate(r))
      try {
        await body()
        count(`${what}.done`)
      } catch {
        count(`${what}.refused`)
        await sleep(5)
      }
    }
  }
  const open = (node: Libp2p, target: Multiaddr, protocol: string): Promise<Stream> =>
    node.dialProtocol(target, protocol, { signal: AbortSignal.timeout(5000) })

  const work: Array<Promise<void>> = []
  for (const [i, node] of nodes.entries()) {
    for (const target of targets) {
      // Hellos, each claiming 16 invented channels.
      work.push(
        loop('hello', async () => {
          const sequences: Record<string, number> = {}
          for (let c = 0; c < 16; c++) sequences[`ch${randomBytes(6).toString('hex')}`] = c
          await openHello(await open(node, target, helloProtocol(config.network)), {
            ownHello: () => ({
              network: config.network,
              version: `0.0.${i}`,
              channel: Object.keys(sequences)[0]!,
              capabilities: [],
              sequences,
              rootVersion: 1,
              role: 'node',
            }),
            judge: () => ({ status: 'ok', reasons: [] }),
            timeoutMs: 3000,
          })
        }),
      )
      // Report batches: 16 well-formed from fresh identities, 16 forged.
      work.push(
        loop('reports', async () => {
          const batch: Uint8Array[] = []
          for (let r = 0; r < 16; r++) {
            const key = reporters[Math.floor(Math.random() * reporters.length)]!
            const signed = signReport(key, {
              network: config.network,
              release: digest,
              version: decoded.value.signed.version,
              stage: 'shadow',
              verdict: Math.random() < 0.5 ? 'pass' : 'fail',
              at: Date.now(),
              reason: 'flood',
            })
            batch.push(signed)
            const forged = new Uint8Array(signed)
            forged[forged.length - 10] = (forged[forged.length - 10]! ^ 1) & 0x7f
            batch.push(forged)
          }
          const stream = await open(node, target, reportsProtocol(config.network))
          await lpStream(stream).writeV(batch, { signal: AbortSignal.timeout(5000) })
          await stream.close({ signal: AbortSignal.timeout(5000) })
        }),
      )
      // Manifest-exchange requests; a newer manifest seen moves the slow reader to its artifact.
      work.push(
        loop('manifest', async () => {
          const stream = await open(node, target, manifestProtocol(config.network))
          const offer = await requestManifest(stream, config.channel, 1, 3000)
          if (offer.manifest === undefined) return
          const d = decodeRelease(offer.manifest)
          if (d.ok && d.value.signed.sequence > newest.sequence && d.value.signed.artifacts.node)
            newest = {
              sequence: d.value.signed.sequence,
              sha256: d.value.signed.artifacts.node.sha256,
            }
        }),
      )
      // A slow reader of the newest artifact it knows.
      work.push(
        loop('slowread', async () => {
          const stream = await open(node, target, artifactProtocol(config.network))
          let got = 0
          stream.addEventListener('message', (e) => {
            got += e.data.byteLength
          })
          await lpStream(stream).write(
            new TextEncoder().encode(JSON.stringify({ sha256: newest.sha256, offset: 0 })),
          )
          stream.pause()
          while (running() && stream.status === 'open') {
            await sleep(config.slowReadEveryMs)
            stream.resume()
            stream.pause()
          }
          count('slowread.bytes', got)
          stream.abort(new Error('flood over'))
          if (stream.status !== 'open') throw new Error('cut')
        }),
      )
    }
    // Provider records for made-up CIDs: nothing checks them, the store's quota bounds them.
    work.push(
      loop('provide', async () => {
        if (routingTableSize(node.services.dht) === 0) {
          await sleep(100)
          throw new Error('no peer to provide to yet')
        }
        const digest = create(0x12, createHash('sha256').update(randomBytes(16)).digest())
        for await (const _ of node.services.dht.provide(CID.createV1(raw.code, digest), {
          signal: AbortSignal.timeout(20_000),
        })) {
        }
      }),
    )
    // DHT puts: the genuine manifest under aliased keys, and junk under every namespace.
    work.push(
      loop('put', async () => {
        if (routingTableSize(node.services.dht) === 0) {
          await sleep(100)
          throw new Error('no peer to put to yet')
        }
        const n = Math.floor(Math.random() * 1000)
        const key =
          n % 3 === 0
            ? `/convoy-rel/${config.network}/${config.channel}/${alias(config.sequence, n)}`
            : n % 3 === 1
              ? `/pk/${randomBytes(16).toString('hex')}`
              : `/convoy-rel/${config.network}/${randomBytes(8).toString('hex')}`
        const value = n % 3 === 0 ? manifest : randomBytes(1024)
        for await (const _ of node.services.dht.put(new TextEncoder().encode(key), value, {
          signal: AbortSignal.timeout(5000),
        })) {
        }
      }),
    )
  }
  await Promise.allSettled(work)
  counts['routing.tables.empty'] = nodes.filter(
    (n) => routingTableSize(n.services.dht) === 0,
  ).length
  counts['connections.open'] = nodes.reduce((a, n) => a + n.getConnections().length, 0)
  process.stdout.write(`${JSON.stringify({ counts })}\n`)
  await Promise.allSettled(nodes.map((n) => n.stop()))
  process.exit(0)
}

main().catch((e) => {
  process.stderr.write(`flooder: ${(e as Error)?.stack ?? e}\n`)
  process.exit(1)
})
