/**
 * The watch after commit on a real supervised node: a build that passes its shadow run and its
 * probation, then crashes 8 s after every start, is committed and then caught by the watch (3
 * exits within 10 minutes of the commit): rolled back to the release before, marked bad, with
 * its data intact, and its failure reported to the network as a failed probation.
 */
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { waitFor } from '../net/harness.ts'
import { type Build, packBuild } from '../supervisor/builds.ts'
import { runningVersion, SupNet, testPolicy, waitState } from '../supervisor/harness.ts'

let dir = ''
let v5: Build

before(async () => {
  dir = await makeTempDir('late')
  v5 = await packBuild('0.5.0', 'good', dir)
})
after(() => removeDir(dir))

describe('the watch after commit', { timeout: 300_000 }, () => {
  it('a build that crashes 8 s after going live, after its probation, is rolled back by the watch', async () => {
    const net = new SupNet()
    await net.start()
    try {
      const bad = await packBuild('0.6.0', 'crash-in-probation', dir, { crashAfterMs: 8000 })
      const sup = net.startSupervisor('w', v5)
      await waitFor(
        '0.5.0 running',
        async () => (await runningVersion(sup.home)) === '0.5.0',
        60_000,
      )
      await writeFile(join(sup.home, 'data', 'precious.txt'), 'kept\n')
      const digest = await net.publishDigest(bad, testPolicy({ probationSeconds: 4 }))
      await waitState(
        sup,
        '0.6.0 committed',
        (x) => x.phase === 'committed' && x.current === '0.6.0',
        120_000,
      )
      const s = await waitState(sup, 'the watch to roll it back', (x) => x.phase === 'bad', 120_000)
      assert.equal(s.current, '0.5.0')
      assert.match(s.bad['0.6.0']!, /late failure after commit: 3 exits within \d+ s/)
      await waitFor(
        '0.5.0 running again',
        async () => (await runningVersion(sup.home)) === '0.5.0',
        60_000,
      )
      assert.equal(await readFile(join(sup.home, 'data', 'precious.txt'), 'utf8'), 'kept\n')
      // The network heard it as a failed probation: the evidence halts it for everyone else.
      await waitFor(
        'the failure report at the bootstrap node',
        () =>
          net.bootstrap
            .heldReports(digest)
            .some((r) => r.stage === 'probation' && r.verdict === 'fail'),
        30_000,
      )
    } finally {
      await net.stop()
    }
  })
})
