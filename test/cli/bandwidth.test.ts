/** The bandwidth flags of `node start` and `run` (src/cli/bandwidth.ts), and the status line. */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { BandwidthStatus } from '../../src/adapters/libp2p/bandwidth.ts'
import { BANDWIDTH_ENV } from '../../src/adapters/process/node-api.ts'
import {
  bandwidthEnv,
  bandwidthFromFlags,
  bandwidthLine,
  nodeBandwidth,
} from '../../src/cli/bandwidth.ts'
import { assertRefused, convoy, makeTempDir, removeDir } from './helpers.ts'

describe('bandwidth flags', () => {
  it('read sizes and rates, and set only what is given', () => {
    assert.equal(bandwidthFromFlags({}), undefined)
    assert.deepEqual(
      bandwidthFromFlags({
        'upload-rate': '5MB/s',
        'download-rate': '1.5MiB',
        'monthly-upload': '200GB',
      }),
      {
        uploadBytesPerSecond: 5e6,
        downloadBytesPerSecond: 1.5 * 2 ** 20,
        monthlyUploadBytes: 200e9,
      },
    )
    assert.deepEqual(bandwidthFromFlags({ 'upload-rate': '524288' }), {
      uploadBytesPerSecond: 524_288,
    })
  })

  it('refuse bad input naming the flag', () => {
    const refused = (values: Record<string, string>, re: RegExp) =>
      assert.throws(
        () => bandwidthFromFlags(values),
        (e: Error & { exitCode?: number }) => re.test(e.message) && e.exitCode === 2,
      )
    refused({ 'upload-rate': 'fast' }, /^--upload-rate "fast" is not a rate: use/)
    refused({ 'monthly-upload': '5MB/s' }, /^--monthly-upload "5MB\/s" is not a size/)
    refused(
      { 'upload-rate': '100KB/s' },
      /^--upload-rate of 97\.7 KiB\/s is below the 256\.0 KiB\/s .*peers would drop this node as slow/,
    )
    refused({ 'download-rate': '64KiB' }, /^--download-rate of 64\.0 KiB\/s .*as slow/)
    refused({ 'monthly-upload': '0' }, /^--monthly-upload must be above 0/)
  })

  it('reach the node of `convoy run` through the environment, flags over it', () => {
    const env = bandwidthEnv({ uploadBytesPerSecond: 5e6 })
    assert.deepEqual(Object.keys(env), [BANDWIDTH_ENV])
    assert.deepEqual(bandwidthEnv(undefined), {})
    assert.deepEqual(nodeBandwidth({ 'monthly-upload': '1GB' }, env), {
      uploadBytesPerSecond: 5e6,
      monthlyUploadBytes: 1e9,
    })
    assert.deepEqual(nodeBandwidth({ 'upload-rate': '1MB/s' }, env), {
      uploadBytesPerSecond: 1e6,
    })
    assert.throws(() => nodeBandwidth({}, { [BANDWIDTH_ENV]: '{' }), /CONVOY_BANDWIDTH is not JSON/)
    assert.throws(
      () => nodeBandwidth({}, { [BANDWIDTH_ENV]: '{"uploadBytesPerSecond":1}' }),
      /CONVOY_BANDWIDTH uploadBytesPerSecond of 1 B\/s is below/,
    )
  })

  it('show in one status line', () => {
    const s: BandwidthStatus = {
      limits: {
        uploadBytesPerSecond: 5 * 2 ** 20,
        downloadBytesPerSecond: null,
        monthlyUploadBytes: 200 * 2 ** 30,
      },
      month: '2026-12',
      uploadedBytes: 2 ** 30,
      quotaLeftBytes: 199 * 2 ** 30,
      uploadHeldMs: 1500,
      downloadHeldMs: 0,
      quotaRefused: 0,
    }
    assert.equal(
      bandwidthLine(s),
      'bandwidth: upload 5.0 MiB/s, download uncapped; uploaded 1.0 GiB of 200.0 GiB in 2026-12 (199.0 GiB left); held back: uploads 1.5 s',
    )
    const none = {
      ...s,
      limits: {
        uploadBytesPerSecond: null,
        downloadBytesPerSecond: null,
        monthlyUploadBytes: null,
      },
      quotaLeftBytes: null,
      uploadHeldMs: 0,
    }
    assert.equal(
      bandwidthLine(none),
      'bandwidth: upload uncapped, download uncapped; uploaded 1.0 GiB in 2026-12, no monthly quota',
    )
  })
})

describe('the real binary', () => {
  let dir: string
  before(async () => {
    dir = await makeTempDir('convoy-bandwidth-cli-')
  })
  after(() => removeDir(dir))

  it('node start and run refuse a slow cap or a bad size with a usage error naming the flag', async () => {
    assertRefused(
      await convoy(
        ['node', 'start', '--network', 'none.json', '--data-dir', 'd', '--upload-rate', '100KB/s'],
        { cwd: dir },
      ),
      '--upload-rate of 97.7 KiB/s is below the 256.0 KiB/s fetchers require of a provider: peers would drop this node as slow',
      2,
    )
    assertRefused(
      await convoy(['run', '--home', 'h', '--network', 'none.json', '--monthly-upload', 'lots'], {
        cwd: dir,
      }),
      '--monthly-upload "lots" is not a size',
      2,
    )
  })
})
