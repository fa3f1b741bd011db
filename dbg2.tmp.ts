import { monitorEventLoopDelay } from 'node:perf_hooks'
import { TestNet, release, waitFor } from './test/net/harness.ts'
const net = new TestNet()
for (let i = 0; i < 30; i++) await net.add({ lookupIntervalMs: 30_000, fetchArtifacts: false })
await new Promise((r) => setTimeout(r, 3000))
const h = monitorEventLoopDelay({ resolution: 20 }); h.enable()
for (let seq = 1; seq <= 2; seq++) {
  h.reset()
  const t0 = Date.now()
  const p = net.nodes[(seq * 7) % 30]!
  await (p as any).ingestRelease(release(`1.0.${seq}`, seq))
  const t1 = Date.now()
  await waitFor('all', () => net.nodes.every((n) => (n.trustState().channels.stable?.latest?.sequence ?? 0) >= seq), 60000, 20)
  console.log(`seq ${seq}: ingest ${t1 - t0} ms, all via hello ${Date.now() - t0} ms; loop delay p50 ${(h.percentile(50) / 1e6).toFixed(0)} ms max ${(h.max / 1e6).toFixed(0)} ms; from peers ${net.nodes.map((n) => (n as any).counters.manifests_from_peers).join(',')}`)
}
await net.stop()
