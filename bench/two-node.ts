/**
 * Two-node artifact throughput alone, for profiling (`node --cpu-prof bench/two-node.ts`): one
 * node imports a BENCH_ARTIFACT_MB artifact (default 100), the other fetches it whole and then
 * in chunks, and both rates are printed beside raw TCP's in the same process.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashChunks } from '../src/adapters/libp2p/partial-artifact.ts'
import { buildChunkIndex, chunkSizeFor } from '../src/core/net/chunks.ts'
import { artifactFile, TestNet } from '../test/net/harness.ts'
import { rawTcpMBps } from './stacks.ts'

const MB = Number(process.env.BENCH_ARTIFACT_MB ?? 100)
const net = new TestNet()
const dir = await mkdtemp(join(tmpdir(), 'convoy-two-node-'))
try {
  const a = await net.add({ fetchArtifacts: false })
  const b = await net.add({ fetchArtifacts: false })
  await b.dial(a.libp2p.getMultiaddrs()[0]!.toString())
  const art = await artifactFile(dir, MB * 1024 * 1024)
  await a.libp2p.services.artifacts.import(art.path, art.pin)
  const conn = b.libp2p.getConnections(a.libp2p.peerId)[0]
  let t = performance.now()
  await b.libp2p.services.artifacts.fetch(art.pin, { providers: async () => [a.libp2p.peerId] })
  const whole = art.pin.length / 1e6 / ((performance.now() - t) / 1000)
  const size = chunkSizeFor(art.pin.length)
  const h = await hashChunks(art.path, size)
  const index = buildChunkIndex(art.pin, size, h.chunks)
  const c = await net.add({ fetchArtifacts: false })
  await c.dial(a.libp2p.getMultiaddrs()[0]!.toString())
  t = performance.now()
  await c.libp2p.services.artifacts.fetchChunked(index, {
    providers: async () => [a.libp2p.peerId],
  })
  const chunked = art.pin.length / 1e6 / ((performance.now() - t) / 1000)
  // Raw TCP swings with the load more than anything convoy does: the median of three.
  const raws = [await rawTcpMBps(art.data), await rawTcpMBps(art.data), await rawTcpMBps(art.data)]
  const raw = raws.sort((x, y) => x - y)[1]!
  console.log(
    `${MB} MiB over ${conn?.encryption ?? '?'}/${conn?.multiplexer ?? '?'}: whole ${whole.toFixed(1)} MB/s, chunked from one provider ${chunked.toFixed(1)} MB/s; raw TCP ${raw.toFixed(1)} MB/s (median of 3); ratios ${(whole / raw).toFixed(3)} and ${(chunked / raw).toFixed(3)}`,
  )
} finally {
  await net.stop()
  await rm(dir, { recursive: true, force: true })
}
