/**
 * Crash injection: a real `convoy run` supervisor is killed with SIGKILL at every state of the
 * rollout (and at each step inside a switch), started again, and must always come back to a
 * runnable version with a consistent state: the `current` pointer, the state file and the running
 * node agree, the orphaned node and shadow of the killed supervisor are gone, and the data is
 * intact. The kill comes from the supervisor itself (CONVOY_TEST_CRASH), right after it persisted
 * the state it dies in, which is the worst moment: the state says where it is, none of the
 * effects ran.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { access, mkdir, readFile, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { readIdentityKey, signReport } from '../../src/adapters/libp2p/reports.ts'
import type { Phase, RolloutState } from '../../src/core/rollout/machine.ts'
import { rolloutSlot } from '../../src/core/rollout/slot.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { NETWORK, waitFor } from '../net/harness.ts'
import { type Build, packBuild } from '../supervisor/builds.ts'
import {
  runningVersion,
  type Sup,
  SupNet,
  stateOf,
  testPolicy,
  waitState,
} from '../supervisor/harness.ts'

let dir: string
let v5: Build
let good: Build
let bad: Build
const goodNet = new SupNet()
const badNet = new SupNet()
// phase:bad gets a network of its own: beside phase:rolled-back (the cases run two at a time),
// whichever rolls back first reports the failure, and that report halted the other's rollout
// before its probation (1 of 3 reporters failed: over the 25% halt share), so it never got bad.
const bad2Net = new SupNet()
const haltNet = new SupNet()
const schedNet = new SupNet()
let haltDigest = ''
let schedDigest = ''

const migration = [
  "import { appendFileSync } from 'node:fs'",
  "const dir = process.argv[process.argv.indexOf('--data-dir') + 1]",
  "appendFileSync(dir + '/migrations.log', 'ran\\n')",
].join('\n')

before(async () => {
  dir = await makeTempDir('crash')
  v5 = await packBuild('0.5.0', 'good', dir)
  good = await packBuild('0.6.0', 'good', dir, { migration })
  bad = await packBuild('0.6.0', 'crash-in-probation', dir, { crashAfterMs: 1500 })
  for (const n of [goodNet, badNet, bad2Net, haltNet, schedNet]) await n.start()
  await goodNet.publish(good)
  // Alone and not a canary (its identity is picked so: canaryFraction 0, and its slot above the
  // bootstrap node's, so the lowest-slot rule does not make it one either): the node waits in
  // "scheduled" for a probation pass, so that state is persisted (and crashed in) too.
  // It waits for a canary's probation pass (the wave), which comes after the restart.
  schedDigest = await schedNet.publishDigest(
    good,
    testPolicy({ canaryFraction: 0, minPassReports: 1 }),
  )
  await badNet.publish(bad)
  await bad2Net.publish(bad)
  // Halt: the node is no canary and its own pass is never enough; the bootstrap's failure halts it.
  haltDigest = await haltNet.publishDigest(
    good,
    testPolicy({
      canaryFraction: 0,
      minPassReports: 50,
      haltMinFailures: 1,
      haltFailureShare: 0.4,
    }),
  )
})
after(async () => {
  for (const n of [goodNet, badNet, bad2Net, haltNet, schedNet]) await n.stop()
  await removeDir(dir)
})

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** What must hold on disk at any moment, even straight after a SIGKILL. */
async function assertRunnable(home: string): Promise<RolloutState> {
  const s = await stateOf(home)
  assert.ok(s, 'state.json parses')
  const pointer = (await readlink(join(home, 'current'))).split('/').at(-1)!
  await access(join(home, 'releases', pointer, 'convoy.mjs'))
  await access(join(home, 'releases', s.current, 'convoy.mjs'))
  await access(join(home, 'releases', s.lastGood, 'convoy.mjs'))
  return s
}

/**
 * Writes an identity into `home` whose slot for `digest` is above the bootstrap node's, so that,
 * with a canary fraction of 0, the node is no canary by either rule.
 */
async function nonCanaryIdentity(net: SupNet, home: string, digest: string): Promise<void> {
  const boot = rolloutSlot(net.bootstrap.libp2p.peerId.toString(), digest)
  for (;;) {
    const k = await generateKeyPair('Ed25519')
    if (rolloutSlot(peerIdFromPrivateKey(k).toString(), digest) <= boot) continue
    await mkdir(join(home, 'data'), { recursive: true })
    await writeFile(join(home, 'data', 'identity.key'), privateKeyToProtobuf(k), { mode: 0o600 })
    return
  }
}

/**
 * Signs `report` with the bootstrap node's own key and hands it to that node, which spreads it.
 * Reporter admission counts only reporters the node knew before it saw the release: the
 * bootstrap is one (its hello came first); a made-up key would count for nothing.
 */
async function bootstrapReport(
  net: SupNet,
  report: Omit<Parameters<typeof signReport>[1], 'network' | 'at'>,
): Promise<void> {
  const key = await readIdentityKey(join(net.dir, 'bootstrap'))
  const r = net.bootstrap.submitReport(
    signReport(key, { network: NETWORK, at: Date.now(), ...report }),
  )
  assert.ok(r.ok, JSON.stringify(r))
}

/**
 * A probation pass about the scheduled network's release from the bootstrap node, which acts as
 * the canary: its slot is the lowest the node knows (nonCanaryIdentity sees to it).
 */
async function probationPass(net: SupNet): Promise<void> {
  await bootstrapReport(net, {
    release: schedDigest,
    version: '0.6.0',
    stage: 'probation',
    verdict: 'pass',
    reason: 'healthy through probation',
  })
}

/** A failing shadow report about the halt network's release from its bootstrap node. */
async function falseFailures(net: SupNet): Promise<void> {
  await bootstrapReport(net, {
    release: haltDigest,
    version: '0.6.0',
    stage: 'shadow',
    verdict: 'fail',
    reason: 'the bootstrap says it crashed',
  })
}

interface Case {
  point: string
  net: SupNet
  /** The resting phase and version it must end in after the restart. */
  end: { phase: Phase; current: string }
  /** Something to do while the first supervisor runs (before it dies). */
  during?: (sup: Sup) => Promise<void>
  /** The release's digest, when the node must be no canary for it (its identity is picked). */
  nonCanary?: () => string
  /** Something to do once the second supervisor runs. */
  afterRestart?: (sup: Sup) => Promise<void>
}

const cases: Case[] = [
  { point: 'idle', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'phase:fetching', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'phase:staged', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'phase:shadow', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  {
    point: 'phase:scheduled',
    net: schedNet,
    end: { phase: 'committed', current: '0.6.0' },
    nonCanary: () => schedDigest,
    afterRestart: () => probationPass(schedNet),
  },
  { point: 'phase:switching', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'switch:stopped', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'switch:backed-up', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'switch:migrated', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'switch:pointer', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  // The supervisor died while the new version was on probation: the switch is redone from its
  // backup and probation starts afresh (a second death there would fail it).
  { point: 'phase:probation', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'phase:committed', net: goodNet, end: { phase: 'committed', current: '0.6.0' } },
  { point: 'phase:rolled-back', net: badNet, end: { phase: 'bad', current: '0.5.0' } },
  { point: 'phase:bad', net: bad2Net, end: { phase: 'bad', current: '0.5.0' } },
  {
    point: 'phase:halted',
    net: haltNet,
    end: { phase: 'halted', current: '0.5.0' },
    nonCanary: () => haltDigest,
    during: async (sup) => {
      await waitState(sup, 'the shadow pass', (s) => s.phase === 'scheduled', 60_000)
      await falseFailures(haltNet)
    },
  },
]

describe('SIGKILL at every state: the supervisor always comes back runnable and consistent', {
  concurrency: 2,
  timeout: 1_200_000,
}, () => {
  for (const c of cases) {
    it(`killed at ${c.point}`, async () => {
      const name = c.point.replace(/[^a-z-]/g, '-')
      const env: Record<string, string> = c.point === 'idle' ? {} : { CONVOY_TEST_CRASH: c.point }
      if (c.nonCanary) await nonCanaryIdentity(c.net, join(c.net.dir, name), c.nonCanary())
      const first = c.net.startSupervisor(name, v5, env)
      await waitFor(
        'the node on 0.5.0',
        async () => (await runningVersion(first.home)) === '0.5.0',
        30_000,
      )
      const precious = join(first.home, 'data', 'precious.txt')
      await writeFile(precious, 'survives every crash\n')
      if (c.point === 'idle') {
        first.started.child.kill('SIGKILL')
      } else {
        if (c.during) await c.during(first)
      }
      const [, signal] = await Promise.race([
        once(first.started.child, 'exit'),
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`never reached ${c.point}:\n${first.output().slice(-3000)}`)),
            120_000,
          ),
        ),
      ])
      assert.equal(signal, 'SIGKILL', first.output().slice(-2000))
      if (c.point !== 'idle')
        assert.match(first.output(), new RegExp(`killing the supervisor at ${c.point}`))
      const orphans = (JSON.parse(await readFile(join(first.home, 'pids.json'), 'utf8')) ??
        {}) as Record<string, number>
      const atCrash = await assertRunnable(first.home)
      if (c.point.startsWith('phase:')) assert.equal(atCrash.phase, c.point.slice(6))

      const second = c.net.resume(`${name}-again`, first.home)
      if (c.afterRestart) await c.afterRestart(second)
      // The state file may already say where it ends (a crash in a resting phase): what matters
      // is that the new supervisor reaped the orphans and runs a node of its own on that version.
      await waitFor(
        'the orphans of the killed supervisor to be stopped',
        () => Object.values(orphans).every((pid) => !alive(pid)),
        30_000,
      )
      const s = await waitState(
        second,
        `${c.end.phase} on ${c.end.current}`,
        (x) => x.phase === c.end.phase && x.current === c.end.current,
        150_000,
      )
      await waitFor(
        "the new supervisor's node to run the state's version",
        async () => {
          const r = JSON.parse(await readFile(join(first.home, 'pids.json'), 'utf8')) as {
            node?: number
          }
          return (
            r.node !== undefined &&
            !Object.values(orphans).includes(r.node) &&
            (await runningVersion(first.home)) === s.current
          )
        },
        30_000,
      )
      const after = await assertRunnable(first.home)
      assert.equal((await readlink(join(first.home, 'current'))).split('/').at(-1), after.current)
      assert.equal(await readFile(precious, 'utf8'), 'survives every crash\n', 'data intact')
      if (c.end.current === '0.6.0') {
        // However often the switch was interrupted, the data was migrated from the backup each time.
        const log = await readFile(join(first.home, 'data', 'migrations.log'), 'utf8')
        assert.equal(log, 'ran\n')
      }
      second.started.child.kill('SIGTERM')
      await once(second.started.child, 'exit')
    })
  }
})
