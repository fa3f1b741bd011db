/**
 * Probation that measures, on real builds and a real supervisor: a build that behaves during its
 * shadow run and, once it is the node, burns CPU or leaks memory, is compared with the same
 * node's samples from before the switch (`judgeProbation`) and fails its probation: rolled back,
 * marked bad, its data intact. A good build, measured the same way, commits.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { waitFor } from '../net/harness.ts'
import { type Build, type Fault, packBuild } from '../supervisor/builds.ts'
import { runningVersion, SupNet, testPolicy, waitState } from '../supervisor/harness.ts'

let dir = ''
let v5: Build

before(async () => {
  dir = await makeTempDir('measure')
  v5 = await packBuild('0.5.0', 'good', dir)
})
after(() => removeDir(dir))

/** Publishes a 0.6.0 with `fault` to one node on 0.5.0; returns its end state. */
async function onProbation(fault: Fault) {
  const net = new SupNet()
  await net.start()
  try {
    const out = await mkdtemp(join(dir, 'case-'))
    const build = await packBuild('0.6.0', fault, out)
    const sup = net.startSupervisor(fault, v5)
    await waitFor('0.5.0 running', async () => (await runningVersion(sup.home)) === '0.5.0', 60_000)
    await writeFile(join(sup.home, 'data', 'precious.txt'), 'kept\n')
    await net.publish(build, testPolicy({ shadowSeconds: 10, probationSeconds: 25 }))
    const s = await waitState(
      sup,
      `0.6.0 (${fault}) to settle`,
      (x) => x.phase === 'bad' || (x.phase === 'committed' && x.current === '0.6.0'),
      150_000,
    )
    if (s.phase === 'bad') {
      await waitFor(
        '0.5.0 running again',
        async () => (await runningVersion(sup.home)) === '0.5.0',
        60_000,
      )
      assert.equal(await readFile(join(sup.home, 'data', 'precious.txt'), 'utf8'), 'kept\n')
    }
    return s
  } finally {
    await net.stop()
  }
}

describe('probation measured against the node before the switch', {
  concurrency: 2,
  timeout: 600_000,
}, () => {
  it('a build that burns CPU once live fails its probation', async () => {
    const s = await onProbation('cpu-spin-live')
    assert.equal(s.phase, 'bad')
    assert.match(
      s.bad['0.6.0']!,
      /probation failed: probation measured: CPU \d+% vs \d+% before the switch/,
    )
  })
  it('a build that leaks memory once live fails its probation', async () => {
    const s = await onProbation('memory-leak-live')
    assert.equal(s.phase, 'bad')
    assert.match(s.bad['0.6.0']!, /probation failed: probation measured: memory/)
  })
  it('a good build, measured the same way, commits', async () => {
    const s = await onProbation('good')
    assert.equal(s.phase, 'committed')
  })
})
