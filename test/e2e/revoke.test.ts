/**
 * Halt is not revoke, on real supervised nodes: three nodes commit a release, then the
 * maintainers revoke it (t-of-n signed, published with the real CLI). Every committed node rolls
 * back to the release before within 30 s, keeps the data the revoked version wrote (moved aside,
 * not deleted), keeps its trust floor, and a node that joins later never starts the release.
 */
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { convoyOk, makeTempDir, removeDir } from '../cli/helpers.ts'
import { anchorBytes, revocation, waitFor } from '../net/harness.ts'
import { type Build, packBuild } from '../supervisor/builds.ts'
import { runningVersion, SupNet, stateOf, testPolicy, waitState } from '../supervisor/harness.ts'

let dir = ''
let v5: Build
let v6: Build

before(async () => {
  dir = await makeTempDir('revoke')
  v5 = await packBuild('0.5.0', 'good', dir)
  v6 = await packBuild('0.6.0', 'good', dir)
})
after(() => removeDir(dir))

const floorOf = async (home: string): Promise<number> =>
  JSON.parse(await readFile(join(home, 'data', 'trust.json'), 'utf8')).channels.stable.sequence

describe('revocation on real supervised nodes', { timeout: 600_000 }, () => {
  it('rolls committed nodes back within 30 s; the data they wrote is kept aside; nobody starts it again', async () => {
    const net = new SupNet()
    await net.start()
    try {
      const sups = [0, 1, 2].map((i) => net.startSupervisor(`r${i}`, v5))
      for (const s of sups)
        await waitFor(
          `${s.name} on 0.5.0`,
          async () => (await runningVersion(s.home)) === '0.5.0',
          60_000,
        )
      await net.publish(v6, testPolicy())
      for (const s of sups)
        await waitState(
          s,
          `${s.name} to commit 0.6.0`,
          (x) => x.phase === 'committed' && x.current === '0.6.0',
          180_000,
        )
      // What the revoked version wrote after its commit: it must survive the rollback somewhere.
      for (const s of sups) await writeFile(join(s.home, 'data', 'written-by-0.6.0'), s.name)
      const floors = await Promise.all(sups.map((s) => floorOf(s.home)))
      const manifestBytes = await net.bootstrap.store.readManifest('stable', 1)
      assert.ok(manifestBytes)
      const revokePath = join(net.dir, 'revoke-0.6.0.json')
      await writeFile(revokePath, revocation(manifestBytes))
      const rootPath = join(net.dir, 'root.json')
      await writeFile(rootPath, anchorBytes)
      await convoyOk(['release', 'verify', revokePath, '--root', rootPath], { cwd: net.dir })
      const started = Date.now()
      const pub = await convoyOk(['release', 'publish', revokePath, '--network', net.networkPath], {
        cwd: net.dir,
      })
      assert.match(pub.stdout, /published the revocation of 0\.6\.0/)
      const backMs: number[] = []
      for (const s of sups) {
        await waitFor(
          `${s.name} back on 0.5.0`,
          async () => (await runningVersion(s.home)) === '0.5.0',
          30_000,
        )
        backMs.push(Date.now() - started)
      }
      console.log(`revocation: committed nodes back on 0.5.0 after ${backMs.join(', ')} ms`)
      assert.ok(Math.max(...backMs) <= 30_000, `back within 30 s (${backMs})`)
      for (const [i, s] of sups.entries()) {
        const st = await waitState(s, `${s.name} settled`, (x) => x.phase === 'bad', 30_000)
        assert.equal(st.current, '0.5.0')
        assert.match(st.bad['0.6.0'] ?? '', /revoked by the maintainers: it loses data on restart/)
        // The data the revoked version wrote is moved aside, never deleted.
        const displaced = join(s.home, 'displaced')
        const moved = (await readdir(displaced)).filter((n) => n.endsWith('-0.6.0'))
        assert.equal(moved.length, 1, `${s.name}: ${await readdir(displaced)}`)
        assert.equal(await readFile(join(displaced, moved[0]!, 'written-by-0.6.0'), 'utf8'), s.name)
        // The restore did not lower what the node trusts.
        assert.ok((await floorOf(s.home)) >= floors[i]!, `${s.name}'s floor`)
      }
      // A node that joins later, on 0.5.0, hears of the revocation and never starts 0.6.0.
      const late = net.startSupervisor('late', v5)
      await waitState(
        late,
        'the late node to skip 0.6.0',
        (x) => /revoked/.test(x.bad['0.6.0'] ?? ''),
        60_000,
      )
      await new Promise((r) => setTimeout(r, 5000))
      const ls = await stateOf(late.home)
      assert.equal(ls?.current, '0.5.0')
      assert.ok(!['switching', 'probation'].includes(ls?.phase ?? ''), ls?.phase)
      assert.equal(await runningVersion(late.home), '0.5.0')
    } finally {
      await net.stop()
    }
  })
})
