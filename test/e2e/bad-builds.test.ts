/**
 * Real builds that misbehave, each packed by the test from this repository, published as a signed
 * release into a real network and picked up by a real `convoy run` supervisor. Every one is caught
 * (in the shadow run, at the switch, or on probation) and the node ends on the previous version,
 * running, with its data intact.
 */
import assert from 'node:assert/strict'
import { readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { tracerProblem } from '../../src/adapters/process/egress-trace.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { waitFor } from '../net/harness.ts'
import { type Build, type BuildOptions, type Fault, packBuild } from '../supervisor/builds.ts'
import { runningVersion, SupNet, waitState } from '../supervisor/harness.ts'

let dir: string
let good: Build
let listener: Server
let phoneHome = ''

before(async () => {
  dir = await makeTempDir('builds')
  good = await packBuild('0.5.0', 'good', dir)
  // A loopback address outside every peer's: a build that connects here phones home.
  listener = createServer((s) => s.on('error', () => {}))
  await new Promise<void>((r) => listener.listen(0, '127.0.0.2', r))
  phoneHome = `127.0.0.2:${(listener.address() as { port: number }).port}`
})
after(async () => {
  listener?.close()
  await removeDir(dir)
})

/** The verdict of a build that reached the phone-home listener over `proto`. */
function phonedHome(proto: 'tcp' | 'udp'): RegExp {
  return new RegExp(
    `shadow run failed: phoned home: reached ${proto} ${phoneHome.replace(/\./g, '\\.')}`,
  )
}

/** Skips `t`, saying why, where this host cannot trace (the sampled fallback); true then. */
async function untraced(t: { skip: (why: string) => void }): Promise<boolean> {
  const problem = await tracerProblem()
  if (problem !== undefined) t.skip(problem)
  return problem !== undefined
}

/** Runs one bad release against one supervisor; returns why it was skipped. */
async function catches(
  fault: Fault,
  options: BuildOptions = {},
  onProbation?: (home: string) => Promise<void>,
  check?: (output: string) => void,
): Promise<string> {
  const net = new SupNet()
  await net.start()
  try {
    const bad = await packBuild('0.6.0', fault, dir, { phoneHome, ...options })
    const sup = net.startSupervisor('node', good)
    await waitFor(
      'the node to run 0.5.0',
      async () => (await runningVersion(sup.home)) === '0.5.0',
      30_000,
    )
    const precious = join(sup.home, 'data', 'precious.txt')
    await writeFile(precious, `kept across ${fault}\n`)
    await net.publish(bad)
    if (onProbation) {
      await waitState(sup, 'probation', (x) => x.phase === 'probation', 90_000)
      await onProbation(sup.home)
    }
    const s = await waitState(
      sup,
      `0.6.0 (${fault}) to be marked bad`,
      (x) => x.phase === 'bad' && x.bad['0.6.0'] !== undefined,
      90_000,
    )
    assert.equal(s.current, '0.5.0')
    assert.equal(s.lastGood, '0.5.0')
    await waitFor(
      'the node to run 0.5.0 again',
      async () => (await runningVersion(sup.home)) === '0.5.0',
      30_000,
    )
    assert.equal(await readlink(join(sup.home, 'current')), join('releases', '0.5.0'))
    assert.equal(await readFile(precious, 'utf8'), `kept across ${fault}\n`, 'data intact')
    check?.(sup.output())
    return s.bad['0.6.0']!
  } finally {
    await net.stop()
  }
}

describe('misbehaving builds are caught and the node stays on the previous version', {
  concurrency: 2,
  timeout: 600_000,
}, () => {
  it('crashes at start: caught in the shadow run', async () => {
    assert.match(
      await catches('crash-at-start'),
      /shadow run failed: exited during the shadow run \(exit code 3\)/,
    )
  })
  it('crashes after some seconds: caught in the shadow run', async () => {
    assert.match(
      await catches('crash-later', { crashAfterMs: 2500 }),
      /shadow run failed: exited during the shadow run \(exit code 4\)/,
    )
  })
  it('crashes only once it is the node: caught on probation, data restored', async () => {
    assert.match(
      await catches('crash-in-probation', { crashAfterMs: 1500 }),
      /probation failed: the node exited \(code 5\)/,
    )
  })
  it('keeps growing its memory: caught in the shadow run', async () => {
    assert.match(await catches('memory-leak'), /shadow run failed: (memory|ran out of memory)/)
  })
  it('spins the CPU: caught in the shadow run', async () => {
    assert.match(await catches('cpu-spin'), /shadow run failed: CPU/)
  })
  it('connects to an address outside its peers: caught as phone home', async () => {
    assert.match(await catches('phone-home'), phonedHome('tcp'))
  })
  // Only a trace sees a datagram or a connection between two samples: without strace (the
  // sampled fallback, named in every verdict) these two are skipped, saying why.
  it('sends a datagram outside DNS: caught as phone home', async (t) => {
    if (await untraced(t)) return
    assert.match(await catches('phone-home-udp'), phonedHome('udp'))
  })
  it('connects and closes at once, between two samples: caught as phone home', async (t) => {
    if (await untraced(t)) return
    const reason = await catches('phone-home-brief')
    assert.match(reason, phonedHome('tcp'))
    // The verdict names the containment the run had.
    assert.match(reason, /every connect and datagram traced \(strace\)/)
  })
  it('lists the address it reaches in its own status: still phone home', async () => {
    assert.match(await catches('phone-home-listed'), phonedHome('tcp'))
  })
  it('never becomes ready: caught in the shadow run', async () => {
    assert.match(await catches('never-ready'), /shadow run failed: never became ready/)
  })
  it('exits 0 at once: caught in the shadow run', async () => {
    assert.match(
      await catches('exit-0'),
      /shadow run failed: exited during the shadow run \(exit code 0\)/,
    )
  })
  it('crashes on probation while the previous release is damaged too: reinstalled from the archive', async () => {
    const reason = await catches(
      'crash-in-probation',
      { crashAfterMs: 2000 },
      async (home) => {
        // The rollback finds no runnable 0.5.0: the last good release must come from archive/.
        await rm(join(home, 'releases', '0.5.0', 'convoy.mjs'))
      },
      (output) => {
        assert.match(output, /rollback failed .*reinstalling 0\.5\.0/)
        assert.match(output, /reinstalled 0\.5\.0/)
      },
    )
    assert.match(reason, /probation failed: the node exited \(code 5\)/)
  })
  it('fails its migration half-way: caught in its rehearsal on the shadow copy, the live data untouched', async () => {
    const migration = [
      "import { writeFileSync } from 'node:fs'",
      "const dir = process.argv[process.argv.indexOf('--data-dir') + 1]",
      "writeFileSync(dir + '/precious.txt', 'half-migrated garbage\\n')",
      "console.error('migration: cannot convert the store')",
      'process.exit(1)',
    ].join('\n')
    assert.match(
      await catches('good', { migration }),
      /shadow run failed: the migration 0\.5\.0 -> 0\.6\.0 \(rehearsed on a copy\) failed \(exit code 1\): migration: cannot convert the store/,
    )
  })
})
