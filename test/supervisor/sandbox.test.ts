/**
 * The shadow candidate's sandbox, on real builds packed by the test and a real supervisor: a
 * candidate that reads the live node's identity key, writes approvals.json and the live data
 * dir, or spawns a child meant to outlive it, is refused by Node's permission model, and the run
 * fails naming what it tried. The live node's key, settings and data stay as they were, nobody
 * switches, and nothing of the candidate is left running.
 */
import assert from 'node:assert/strict'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { waitFor } from '../net/harness.ts'
import { type Build, type Fault, packBuild } from '../supervisor/builds.ts'
import { runningVersion, SupNet, waitState } from '../supervisor/harness.ts'

let dir = ''
let v5: Build

before(async () => {
  dir = await makeTempDir('sandbox')
  v5 = await packBuild('0.5.0', 'good', dir)
})
after(() => removeDir(dir))

/** Processes whose command line names `needle`. */
async function processesNaming(needle: string): Promise<number[]> {
  const out: number[] = []
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')
    if (cmd.includes(needle)) out.push(Number(p))
  }
  return out
}

async function refused(fault: Fault): Promise<string> {
  const net = new SupNet()
  await net.start()
  try {
    const bad = await packBuild('0.6.0', fault, dir)
    const sup = net.startSupervisor(fault, v5)
    await waitFor('0.5.0 running', async () => (await runningVersion(sup.home)) === '0.5.0', 60_000)
    const key = await readFile(join(sup.home, 'data', 'identity.key'))
    await net.publish(bad)
    const s = await waitState(
      sup,
      `0.6.0 (${fault}) marked bad`,
      (x) => x.bad['0.6.0'] !== undefined,
      90_000,
    )
    assert.equal(s.current, '0.5.0')
    assert.doesNotMatch(sup.output(), /switching 0\.5\.0 -> 0\.6\.0/, 'nobody switched')
    assert.ok(
      (await readFile(join(sup.home, 'data', 'identity.key'))).equals(key),
      'the key is untouched',
    )
    await assert.rejects(stat(join(sup.home, 'approvals.json')), 'no approvals.json was written')
    await assert.rejects(stat(join(sup.home, 'data', 'planted.txt')), 'nothing was planted')
    assert.deepEqual(
      await processesNaming(join(sup.home, 'shadow')),
      [],
      'nothing of the candidate runs',
    )
    return s.bad['0.6.0']!
  } finally {
    await net.stop()
  }
}

describe('the shadow sandbox', { concurrency: 2, timeout: 600_000 }, () => {
  it('a candidate that reads the live identity key', async () => {
    assert.match(
      await refused('reads-identity'),
      /shadow run failed: reached outside its sandbox: a file read outside its release and shadow dirs/,
    )
  })
  it('a candidate that writes approvals.json and the live data dir', async () => {
    assert.match(
      await refused('writes-approvals'),
      /shadow run failed: reached outside its sandbox: a file write outside its shadow dir/,
    )
  })
  it('a candidate that spawns a child meant to outlive it', async () => {
    assert.match(
      await refused('spawns-child'),
      /shadow run failed: reached outside its sandbox: a child process/,
    )
  })
  it('a candidate that phones home from a child process', async () => {
    assert.match(
      await refused('phone-home-child'),
      /shadow run failed: reached outside its sandbox: a child process/,
    )
  })
})
