/**
 * A network's first node, whose network file names no bootstrap peer, upgrades like the others:
 * its shadow candidate is handed the addresses its live node learned from the network, so it
 * reaches peers (before, it reached none, every run was inconclusive, and it never upgraded).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { readRunning } from '../../src/adapters/process/node-api.ts'
import { encodeNetworkConfig } from '../../src/core/net/network-config.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { anchorBytes, NETWORK, waitFor } from '../net/harness.ts'
import { type Build, packBuild } from '../supervisor/builds.ts'
import { runningVersion, SupNet, testPolicy, waitState } from '../supervisor/harness.ts'

let dir = ''
let v5: Build
let v6: Build

before(async () => {
  dir = await makeTempDir('first')
  v5 = await packBuild('0.5.0', 'good', dir)
  v6 = await packBuild('0.6.0', 'good', dir)
})
after(() => removeDir(dir))

describe('a bootstrap node', { timeout: 300_000 }, () => {
  it('with no bootstrap peers of its own, shadow-runs, switches and commits like the others', async () => {
    const net = new SupNet()
    await net.start()
    try {
      const harnessNetwork = net.networkPath
      // The first node: its network file lists nobody.
      net.networkPath = join(net.dir, 'network-first.json')
      await writeFile(net.networkPath, encodeNetworkConfig(anchorBytes, NETWORK, []))
      const first = net.startSupervisor('first', v5)
      await waitFor(
        'first on 0.5.0',
        async () => (await runningVersion(first.home)) === '0.5.0',
        60_000,
      )
      const addr = (await readRunning(join(first.home, 'data')))!.addresses[0]!
      // Everyone else bootstraps from it, the publisher too.
      net.networkPath = join(net.dir, 'network-from-first.json')
      await writeFile(net.networkPath, encodeNetworkConfig(anchorBytes, NETWORK, [addr]))
      const others = [net.startSupervisor('a', v5), net.startSupervisor('b', v5)]
      for (const s of others)
        await waitFor(
          `${s.name} on 0.5.0`,
          async () => (await runningVersion(s.home)) === '0.5.0',
          60_000,
        )
      await net.bootstrap.dial(addr)
      net.networkPath = harnessNetwork
      await net.publish(v6, testPolicy({ minPassReports: 1 }))
      for (const s of [first, ...others]) {
        const st = await waitState(
          s,
          `${s.name} to commit 0.6.0`,
          (x) => x.phase === 'committed' && x.current === '0.6.0',
          180_000,
        )
        assert.equal(st.current, '0.6.0')
      }
      assert.match(first.output(), /shadow verdict for 0\.6\.0: pass/)
    } finally {
      await net.stop()
    }
  })
})
