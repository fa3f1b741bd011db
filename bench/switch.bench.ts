/**
 * `npm run bench:switch`: a real `convoy run` supervisor upgrades its node through real packed
 * releases, one after another, in a real (small) network.
 *
 *  1. Refused connections during a good switch: while the supervisor switches, a prober connects
 *     to the node's fixed TCP port every 5 ms and counts the connections refused (nothing
 *     listened) and the longest run of them. Where reusePort exists the switch is a handover and
 *     the target is 0; elsewhere (the old node stops first) a longest run under 1 s. Connections
 *     the kernel accepted and the node then reset (its inbound limits, 50 a second per host and
 *     32 pending upgrades, which the prober's pace exceeds between switches as much as during
 *     them) are counted apart. The
 *     supervisor's own figure (old node gone -> new node ready; 0 in a handover) is beside it.
 *  2. Time from "manifest verified" (the node's log line) to "committed" (the supervisor's), for a
 *     release whose rollout window is zero. Most of it is the policy's shadow window and
 *     probation, which are printed too, so the overhead of convoy itself is visible.
 */
import { connect } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { makeTempDir, removeDir } from '../test/cli/helpers.ts'
import { freePort } from '../test/net/harness.ts'
import { packBuild } from '../test/supervisor/builds.ts'
import { SupNet, testPolicy, waitState } from '../test/supervisor/harness.ts'

const ROUNDS = Number(process.env.BENCH_SWITCHES ?? 5)
const SHADOW_S = 8
const PROBATION_S = 2

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** What the prober saw during one switch. */
interface Probed {
  /** Connections refused (ECONNREFUSED: nothing listened on the port) or timed out. */
  refused: number
  /** The longest run of refused connections, ms. */
  longestMs: number
  /**
   * Connections reset before the prober saw them open (ECONNRESET): the node's inbound limits (50
   * a second per host, 32 pending upgrades) turn part of the prober's pace away. Not the switch:
   * they happen between switches as much.
   */
  reset: number
  ok: number
}

/** Connects every `everyMs`; returns a stop function that yields what it saw. */
function probe(port: number, everyMs = 5): () => Promise<Probed> {
  let running = true
  let downSince: number | undefined
  const seen: Probed = { refused: 0, longestMs: 0, reset: 0, ok: 0 }
  const loop = (async () => {
    while (running) {
      const t = performance.now()
      const r = await new Promise<'ok' | 'refused' | 'reset'>((resolve) => {
        const c = connect(port, '127.0.0.1')
        c.once('connect', () => {
          c.destroy()
          resolve('ok')
        })
        c.once('error', (e: NodeJS.ErrnoException) =>
          resolve(e.code === 'ECONNRESET' ? 'reset' : 'refused'),
        )
        c.setTimeout(1000, () => {
          c.destroy()
          resolve('refused')
        })
      })
      seen[r]++
      if (r === 'refused' && downSince === undefined) downSince = t
      if (r !== 'refused' && downSince !== undefined) {
        seen.longestMs = Math.max(seen.longestMs, t - downSince)
        downSince = undefined
      }
      await new Promise((r) => setTimeout(r, everyMs))
    }
  })()
  return async () => {
    running = false
    await loop
    return seen
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
  const sup = await net.startOnPort('bench', first, port)
  const probed: Probed[] = []
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
    const p = await stop()
    probed.push(p)
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
      `switch ${i}/${ROUNDS} to ${v}: ${p.refused} refused connections (longest run ${p.longestMs.toFixed(0)} ms), ${p.ok} accepted, ${p.reset} reset by the node's inbound limits (supervisor: down ${down?.[1] ?? '?'} ms: ${down?.[2] ?? ''}); verified -> committed ${toCommit.at(-1) ?? '?'} ms`,
    )
  }
  const overhead = median(toCommit) - (SHADOW_S + PROBATION_S) * 1000
  console.log(
    `\nmachine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  )
  console.log(
    `refused connections during a good switch, median of ${ROUNDS}: ${median(probed.map((p) => p.refused))} (max ${Math.max(...probed.map((p) => p.refused))}); longest refused run: median ${median(probed.map((p) => p.longestMs)).toFixed(0)} ms (max ${Math.max(...probed.map((p) => p.longestMs)).toFixed(0)} ms); supervisor's measure ${median(reported)} ms   [target: 0 refused where reusePort exists, else < 1000 ms]`,
  )
  console.log(
    `manifest verified -> committed, window 0: median ${median(toCommit)} ms, of which shadow window ${SHADOW_S * 1000} ms and probation ${PROBATION_S * 1000} ms; convoy's own overhead ${overhead} ms`,
  )
} finally {
  await net.stop()
  await removeDir(dir)
}
