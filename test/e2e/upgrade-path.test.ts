/**
 * Never strand the installed base: a node running the previous release (its supervisor and its
 * node both the build in test/compat/convoy-previous.tgz, packed from the last landed commit)
 * verifies, fetches, shadow-runs, switches to and commits a release packed from this tree, with
 * a manifest signed by this tree's code, over a real network. If a change to a format (manifest,
 * report, hello, artifact protocol, the API the old supervisor reads) would leave old nodes
 * behind, this fails. test/compat/README.md says how the fixture is refreshed each release.
 */
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { gunzipCapped, readTar } from '../../src/adapters/build/tar.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { waitFor } from '../net/harness.ts'
import { type Build, packBuild } from '../supervisor/builds.ts'
import {
  runningVersion,
  type Sup,
  SupNet,
  stateOf,
  testPolicy,
  waitState,
} from '../supervisor/harness.ts'

const FIXTURE = new URL('../compat/convoy-previous.tgz', import.meta.url)
/** The version the fixture was packed as (test/compat/README.md). */
const PREVIOUS = '0.8.0'

let dir = ''
let net: SupNet
let next: Build
let previousCli = ''

before(async () => {
  dir = await makeTempDir('upgrade-path')
  net = new SupNet()
  await net.start()
  // The previous release's own CLI, unpacked from its artifact, runs the supervisor.
  const members = readTar(gunzipCapped(new Uint8Array(await readFile(FIXTURE))))
  const cli = members.find((m) => m.path.endsWith('/convoy.mjs'))
  assert.ok(cli, 'the fixture holds convoy.mjs')
  previousCli = join(dir, 'previous-convoy.mjs')
  await writeFile(previousCli, cli.data)
  next = await packBuild('0.9.0', 'good', dir)
})
after(async () => {
  await net?.stop()
  await removeDir(dir)
})

/** Starts `convoy run` of the previous release, first release the fixture itself. */
function startPrevious(name: string): Sup {
  return net.resume(name, join(net.dir, name), ['--release', FIXTURE.pathname], {}, previousCli)
}

describe('the previous release upgrades to this one', { timeout: 300_000 }, () => {
  it('a node running the previous release verifies, installs and commits this one', async () => {
    const sup = startPrevious('old')
    await waitFor(
      `the previous release (${PREVIOUS}) runs`,
      async () => (await runningVersion(sup.home)) === PREVIOUS,
      60_000,
    )
    await net.publish(next, testPolicy({ probationSeconds: 4 }))
    const s = await waitState(
      sup,
      'the old node to commit 0.9.0',
      (x) => x.phase === 'committed' && x.current === '0.9.0',
      180_000,
    )
    assert.equal(s.lastGood, '0.9.0')
    assert.equal(await runningVersion(sup.home), '0.9.0', 'the new build really runs')
    const st = await stateOf(sup.home)
    assert.deepEqual(Object.keys(st?.bad ?? {}), [], 'nothing was marked bad')
  })
})
