import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { reusePortAvailable, switchMode } from '../../src/core/net/reuse-port.ts'

describe('reusePort availability', () => {
  it('needs Linux and Node >= 22.12 or >= 23.1', () => {
    const on = (platform: string, nodeVersion: string) =>
      reusePortAvailable({ platform, nodeVersion })
    assert.equal(on('linux', '24.21.0'), true)
    assert.equal(on('linux', 'v22.12.0'), true)
    assert.equal(on('linux', '22.11.9'), false)
    assert.equal(on('linux', '23.0.0'), false)
    assert.equal(on('linux', '23.1.0'), true)
    assert.equal(on('linux', '20.18.1'), false)
    assert.equal(on('linux', 'not a version'), false)
    assert.equal(on('darwin', '24.21.0'), false)
    assert.equal(on('win32', '24.21.0'), false)
  })

  it('hands over only when the live node listens with reusePort too', () => {
    const linux = { platform: 'linux', nodeVersion: '24.21.0' }
    assert.equal(switchMode({ ...linux, liveNodeReusesPort: true }).mode, 'handover')
    assert.equal(switchMode({ ...linux, liveNodeReusesPort: false }).mode, 'stop-first')
    const mac = switchMode({ platform: 'darwin', nodeVersion: '24.21.0', liveNodeReusesPort: true })
    assert.equal(mac.mode, 'stop-first')
    assert.match(mac.reason, /darwin/)
  })
})
