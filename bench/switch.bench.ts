/**
 * `npm run bench:switch`: a real `convoy run` supervisor upgrades its node through real packed
 * releases, one after another, in a real (small) network.
 *
 *  1. Downtime of a good switch: while the supervisor switches, a prober connects to the node's
 *     fixed TCP port every 5 ms; downtime is the longest run of refused connections. The
 *     supervisor's own figure (old node stopped -> new node ready) is printed beside it.
 *     Target: median under 1 s.
 *  2. Time from "manifest verified" (the node's log line) to "committed" (the supervisor's), for a
 *     release whose rollout window is zero. Most of it is the policy's shadow window and
 *     probation, which are printed too, so the overhead of convoy itself is visible.
 */
import { connect, createServer } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { makeTempDir, removeDir } from '../test/cli/helpers.ts'
import { waitFor } from '../test/net/harness.ts'
import { packBuild } from '../test/supervisor/builds.ts'
import { runningVersion, SupNet, testPolicy, waitState } from '../test/supervisor/harness.ts'

const ROUNDS = Number(process.env.BENCH_SWITCHES ?? 5)
const SHADOW_S = 8
const PROBATION_S = 2

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

/** Connects every `everyMs`; returns a stop function that yields the longest refused stretch, ms. */
function probe(port: number, everyMs = 5): () => Promise<number> {
  let running = true
  let downSince: number | undefined
  let longest = 0
  const loop = (async () => {
    while (running) {
      const t = performance.now()
      const up = await new Promise<boolean>((resolve) => {
        const c = connect(port, '127.0.0.1')
        c.once('connect', () => {
          c.destroy()
          resolve(true)
        })
        c.once('error', () => resolve(false))
        c.setTimeout(1000, () => {
          c.destroy()
          resolve(false)
        })
      })
      if (!up && downSince === undefined) downSince = t
      if (up && downSince !== undefined) {
        longest = Math.max(longest, t - downSince)
        downSince = undefined
      }
      await new Promise((r) => setTimeout(r, everyMs))
    }
  })()
  return async () => {
    running = false
    await loop
    return longest
  }
}

/** ms between two `HH:MM:SS.mmm` stamps of one day (UTC). */
function stampMs(s: string): number {
  const [h, m, rest] = s.split(':') as [string, string, string]
  return (Number(h) * 3600 + Number(m) * 60 + Number(rest)) * 1000
}

const dir = await makeTempDir('bench-switch')
const net = new SupNet()
try {
  await net.start()
  const first = await packBuild('0.5.0', 'good', dir)
  const port = await freePort()
  const sup = net.resume('bench', `${net.dir}/bench`, [
    '--release',
    first.path,
    '--listen',
    `/ip4/127.0.0.1/tcp/${port}`,
  ])
  await waitFor(
    'the node on 0.5.0',
    async () => (await runningVersion(sup.home)) === '0.5.0',
    30_000,
  )
  const probed: number[] = []
  const reported: number[] = []
  const toCommit: number[] = []
  for (let i = 1; i <= ROUNDS; i++) {
    const v = `0.6.${i}`
    const build = await packBuild(v, 'good', dir)
    const stop = probe(port)
    const mark = sup.output().length
    await net.publish(
      build,
      testPolicy({ windowSeconds: 0, shadowSeconds: SHADOW_S, probationSeconds: PROBATION_S }),
    )
    await waitState(
      sup,
      `commit of ${v}`,
      (s) => s.phase === 'committed' && s.current === v,
      120_000,
    )
    probed.push(await stop())
    const out = sup.output().slice(mark)
    const down = /the node was down (\d+) ms \(([^)]*)\)/.exec(out)
    if (down) reported.push(Number(down[1]))
    const verified = new RegExp(
      `^(\\S+) node: \\S+ verified manifest stable ${v.replace(/\./g, '\\.')}`,
      'm',
    ).exec(out)
    const committed = new RegExp(`^(\\S+) rollout: committed ${v.replace(/\./g, '\\.')}`, 'm').exec(
      out,
    )
    if (verified && committed) toCommit.push(stampMs(committed[1]!) - stampMs(verified[1]!))
    console.log(
      `switch ${i}/${ROUNDS} to ${v}: refused connections for ${probed.at(-1)!.toFixed(0)} ms (supervisor: ${down?.[1] ?? '?'} ms: ${down?.[2] ?? ''}); verified -> committed ${toCommit.at(-1) ?? '?'} ms`,
    )
  }
  const overhead = median(toCommit) - (SHADOW_S + PROBATION_S) * 1000
  console.log(
    `\nmachine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  )
  console.log(
    `downtime of a good switch, median of ${ROUNDS}: ${median(probed).toFixed(0)} ms refused (max ${Math.max(...probed).toFixed(0)} ms); supervisor's measure ${median(reported)} ms   [target < 1000 ms]`,
  )
  console.log(
    `manifest verified -> committed, window 0: median ${median(toCommit)} ms, of which shadow window ${SHADOW_S * 1000} ms and probation ${PROBATION_S * 1000} ms; convoy's own overhead ${overhead} ms`,
  )
} finally {
  await net.stop()
  await removeDir(dir)
}
