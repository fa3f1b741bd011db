/**
 * The switch handover and its fallbacks, with a real `convoy run`: a good switch hands the port
 * over (the old node drains beside the new one); a new release that binds its port alone (from
 * before the handover) is started again once the old node is stopped; and from a node that does
 * not listen with reusePort the switch stops the old node first, as before.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { reusePortAvailable } from '../../src/core/net/reuse-port.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { freePort } from '../net/harness.ts'
import { packBuild } from '../supervisor/builds.ts'
import { runningVersion, SupNet, testPolicy, waitState } from '../supervisor/harness.ts'

const available = reusePortAvailable({
  platform: process.platform,
  nodeVersion: process.versions.node,
})
const POLICY = testPolicy({ windowSeconds: 0, shadowSeconds: 3, probationSeconds: 2 })

let dir: string
const net = new SupNet()
before(async () => {
  dir = await makeTempDir('handover')
  await net.start()
})
after(async () => {
  await net.stop()
  await removeDir(dir)
})

describe('the switch handover', {
  skip: !available && 'no reusePort here',
  timeout: 300_000,
}, () => {
  it('hands over, falls back for a release that binds alone, and stops first after it', async () => {
    // A fixed port beside the harness's random one: only a fixed port can be handed over.
    const first = await packBuild('0.5.0', 'good', dir)
    const port = await freePort()
    const sup = await net.startOnPort('handover', first, port)
    const steps: Array<[string, 'good' | 'no-reuse-port', RegExp]> = [
      ['0.6.0', 'good', /switched 0\.5\.0 -> 0\.6\.0; the node was down 0 ms \(handover, drain/],
      ['0.7.0', 'no-reuse-port', /did not start beside the draining one/],
      [
        '0.8.0',
        'good',
        /switched 0\.7\.0 -> 0\.8\.0; .*the running node does not listen with reusePort/,
      ],
    ]
    for (const [version, fault, seen] of steps) {
      const mark = sup.output().length
      await net.publish(await packBuild(version, fault, dir), POLICY)
      await waitState(
        sup,
        `commit of ${version}`,
        (s) => s.phase === 'committed' && s.current === version,
        120_000,
      )
      const out = sup.output().slice(mark)
      assert.match(out, seen, out.slice(-3000))
      assert.equal(await runningVersion(sup.home), version)
    }
  })
})
