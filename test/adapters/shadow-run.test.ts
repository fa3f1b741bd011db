/**
 * The shadow run's start (adapters/process/shadow.ts): without a live node to measure against,
 * it waits a bounded time, then is inconclusive and starts no candidate.
 */
import assert from 'node:assert/strict'
import { access, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { runShadow } from '../../src/adapters/process/shadow.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'

let dir: string
before(async () => {
  dir = await makeTempDir('shadow-run')
})
after(() => removeDir(dir))

describe('shadow run without a live node', () => {
  it('waits for the live node, then is inconclusive without starting the candidate', async () => {
    const entry = join(dir, 'convoy.mjs')
    const marker = join(dir, 'started')
    // A candidate that leaves a mark if it is ever run.
    await writeFile(
      entry,
      `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(marker)}, '1')\n`,
    )
    let asked = 0
    const t0 = Date.now()
    const run = await runShadow({
      entry,
      liveDataDir: join(dir, 'data'),
      workDir: join(dir, 'shadow'),
      networkPath: join(dir, 'network.json'),
      channel: 'stable',
      bootstrap: [],
      live: async () => {
        asked++
        return undefined
      },
      liveWaitMs: 1200,
      durationMs: 5000,
    })
    const took = Date.now() - t0
    assert.equal(run.verdict.verdict, 'inconclusive', run.verdict.reason)
    assert.match(run.verdict.reason, /live node was not running/)
    assert.equal(run.observation.noLiveNode, true)
    assert.ok(took >= 1100, `gave up after ${took} ms, before its wait`)
    assert.ok(asked >= 2, `asked ${asked} times`)
    await assert.rejects(access(marker), 'the candidate was started')
  })

  it('a live node that comes back within the wait is used', async () => {
    let n = 0
    await mkdir(join(dir, 'live-data'), { recursive: true })
    const aborted = new AbortController()
    // The run is aborted right after the live node appears: only the wait is under test here.
    const run = await runShadow({
      entry: join(dir, 'missing.mjs'),
      liveDataDir: join(dir, 'live-data'),
      workDir: join(dir, 'shadow-2'),
      networkPath: join(dir, 'network.json'),
      channel: 'stable',
      bootstrap: [],
      live: async () => {
        if (++n < 3) return undefined
        aborted.abort()
        return { pid: process.pid, api: '127.0.0.1:9' }
      },
      prepare: async () => 'stopped here',
      liveWaitMs: 5000,
      durationMs: 5000,
      signal: aborted.signal,
    })
    assert.equal(run.observation.noLiveNode, undefined)
    assert.equal(run.observation.migration, 'stopped here')
    assert.ok(n >= 3)
  })
})
