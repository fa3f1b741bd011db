/**
 * Migrations rehearsed before they run, on real builds packed by the test from this repository
 * and real `convoy run` supervisors. Each bad migration (hangs, exits 1, deletes the identity
 * key, corrupts a state file, far slower than the release's downtime budget) is caught in the
 * shadow stage: the version is marked bad, no node switched, and the live node never stopped
 * (same pid throughout). A reversible migration rolls back through its reverse, with what the
 * new version wrote migrated back; a good one goes through.
 */
import assert from 'node:assert/strict'
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { readRunning } from '../../src/adapters/process/node-api.ts'
import type { RolloutPolicy } from '../../src/core/manifest/release.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { waitFor } from '../net/harness.ts'
import { type Build, type BuildOptions, type Fault, packBuild } from '../supervisor/builds.ts'
import { runningVersion, SupNet, stateOf, testPolicy, waitState } from '../supervisor/harness.ts'

let dir = ''
let v5: Build

before(async () => {
  dir = await makeTempDir('migrations')
  v5 = await packBuild('0.5.0', 'good', dir)
})
after(() => removeDir(dir))

const script = (...lines: string[]) =>
  [
    "import { readFileSync, writeFileSync, rmSync, existsSync, appendFileSync } from 'node:fs'",
    "const dir = process.argv[process.argv.indexOf('--data-dir') + 1]",
    ...lines,
  ].join('\n')

/**
 * Publishes a 0.6.0 whose migration is `migration` to one supervised node on 0.5.0; returns the
 * reason 0.6.0 was marked bad, after checking that nothing switched and the node never stopped.
 */
async function caughtInShadow(
  migration: string,
  policy: Partial<RolloutPolicy> = {},
  runArgs: string[] = [],
): Promise<string> {
  const net = new SupNet()
  await net.start()
  try {
    // Each case packs into its own directory: the cases run two at a time.
    const out = await mkdtemp(join(dir, 'case-'))
    const bad = await packBuild('0.6.0', 'good', out, { migration })
    const home = join(net.dir, 'n')
    const sup = net.resume('n', home, ['--release', v5.path, ...runArgs])
    await waitFor('0.5.0 running', async () => (await runningVersion(home)) === '0.5.0', 60_000)
    const pid = (await readRunning(join(home, 'data')))?.pid
    const precious = join(home, 'data', 'precious.txt')
    await writeFile(precious, 'kept\n')
    await net.publish(bad, testPolicy(policy))
    const s = await waitState(sup, '0.6.0 marked bad', (x) => x.bad['0.6.0'] !== undefined, 90_000)
    assert.equal(s.phase, 'bad')
    assert.equal(s.current, '0.5.0')
    assert.doesNotMatch(sup.output(), /switching 0\.5\.0 -> 0\.6\.0/, 'nobody switched')
    assert.equal((await readRunning(join(home, 'data')))?.pid, pid, 'the live node never stopped')
    assert.equal(await readFile(precious, 'utf8'), 'kept\n', 'the live data is untouched')
    return s.bad['0.6.0']!
  } finally {
    await net.stop()
  }
}

describe('migrations rehearsed on the shadow copy', { concurrency: 2, timeout: 600_000 }, () => {
  it('a migration that hangs: caught at the deadline, in the shadow stage', async () => {
    const reason = await caughtInShadow(script('setInterval(() => {}, 1000)'), {}, [
      '--migration-timeout',
      '3s',
    ])
    assert.match(
      reason,
      /shadow run failed: the migration 0\.5\.0 -> 0\.6\.0 \(rehearsed on a copy\) did not end within 3000 ms/,
    )
  })

  it('a migration that exits 1', async () => {
    const reason = await caughtInShadow(
      script("console.error('migration: cannot convert the store')", 'process.exit(1)'),
    )
    assert.match(reason, /failed \(exit code 1\): migration: cannot convert the store/)
  })

  it('a migration that deletes the identity key', async () => {
    const reason = await caughtInShadow(script("rmSync(dir + '/identity.key')"))
    assert.match(reason, /removed or damaged the node identity/)
  })

  it('a migration that corrupts a state file', async () => {
    const reason = await caughtInShadow(
      script("writeFileSync(dir + '/manifests/stable/1.json', '{ half written')"),
    )
    assert.match(reason, /left state files that no longer parse: manifests\/stable\/1\.json/)
  })

  it("a migration much slower than the release's downtime budget", async () => {
    const reason = await caughtInShadow(script('await new Promise((r) => setTimeout(r, 8000))'), {
      maxDowntimeSeconds: 1,
    })
    assert.match(reason, /took longer than the release's downtime budget of 1000 ms/)
  })

  it('a migration that behaves in rehearsal and deletes the identity for real: the switch fails and rolls back, same peer id', async () => {
    const net = new SupNet()
    await net.start()
    try {
      const out = await mkdtemp(join(dir, 'case-'))
      // The live data dir is <home>/data; the rehearsal's copy lives under <home>/shadow/.
      const sneaky = script("if (!dir.includes('/shadow/')) rmSync(dir + '/identity.key')")
      const v6 = await packBuild('0.6.0', 'good', out, { migration: sneaky })
      const home = join(net.dir, 's')
      const sup = net.resume('s', home, ['--release', v5.path])
      await waitFor('0.5.0 running', async () => (await runningVersion(home)) === '0.5.0', 60_000)
      const peer = (await readRunning(join(home, 'data')))?.peerId
      await net.publish(v6, testPolicy())
      const s = await waitState(sup, '0.6.0 marked bad', (x) => x.phase === 'bad', 120_000)
      assert.match(
        s.bad['0.6.0']!,
        /switch failed: the migration 0\.5\.0 -> 0\.6\.0 removed or damaged the node identity/,
      )
      await waitFor(
        '0.5.0 running again',
        async () => (await runningVersion(home)) === '0.5.0',
        60_000,
      )
      assert.equal((await readRunning(join(home, 'data')))?.peerId, peer, 'the same peer id')
    } finally {
      await net.stop()
    }
  })

  it("a reversible migration rolls back through its reverse, with the new version's writes migrated back; a good one goes through", async () => {
    // 0.6.0 keeps the store as store.v2, one "v2:" line per entry; its reverse turns it back.
    const up = script(
      "const lines = existsSync(dir + '/store.txt') ? readFileSync(dir + '/store.txt', 'utf8').split('\\n').filter(Boolean) : []",
      "writeFileSync(dir + '/store.v2', lines.map((l) => 'v2:' + l + '\\n').join(''))",
      "rmSync(dir + '/store.txt', { force: true })",
    )
    const down = script(
      "const lines = readFileSync(dir + '/store.v2', 'utf8').split('\\n').filter(Boolean)",
      "writeFileSync(dir + '/store.txt', lines.map((l) => l.replace(/^v2:/, '') + '\\n').join(''))",
      "rmSync(dir + '/store.v2')",
    )
    const net = new SupNet()
    await net.start()
    try {
      const options: BuildOptions = { migration: up, migrationDown: down, crashAfterMs: 8000 }
      const fault: Fault = 'crash-in-probation'
      const out = await mkdtemp(join(dir, 'case-'))
      const v6 = await packBuild('0.6.0', fault, out, options)
      const home = join(net.dir, 'r')
      const sup = net.resume('r', home, ['--release', v5.path])
      await waitFor('0.5.0 running', async () => (await runningVersion(home)) === '0.5.0', 60_000)
      await writeFile(join(home, 'data', 'store.txt'), 'written by 0.5.0\n')
      await net.publish(v6, testPolicy({ probationSeconds: 30 }))
      await waitState(sup, 'probation', (x) => x.phase === 'probation', 120_000)
      // The new version writes in its own format while it runs.
      await appendFile(join(home, 'data', 'store.v2'), 'v2:written by 0.6.0\n')
      const s = await waitState(sup, 'rolled back', (x) => x.phase === 'bad', 120_000)
      assert.match(s.bad['0.6.0']!, /probation failed/)
      assert.match(
        sup.output(),
        /migration 0\.5\.0 -> 0\.6\.0 rehearsed on a copy in \d+ ms; its reverse too/,
      )
      assert.match(sup.output(), /migrated the data back 0\.6\.0 -> 0\.5\.0/)
      assert.equal(
        await readFile(join(home, 'data', 'store.txt'), 'utf8'),
        'written by 0.5.0\nwritten by 0.6.0\n',
        'what 0.6.0 wrote is migrated back, not lost to the backup',
      )
      // A good reversible release goes through, and its migration ran once on the live data.
      const v7 = await packBuild('0.7.0', 'good', out, { migration: up, migrationDown: down })
      await net.publish(v7, testPolicy())
      await waitState(
        sup,
        'committed 0.7.0',
        (x) => x.phase === 'committed' && x.current === '0.7.0',
        120_000,
      )
      assert.equal(
        await readFile(join(home, 'data', 'store.v2'), 'utf8'),
        'v2:written by 0.5.0\nv2:written by 0.6.0\n',
      )
      assert.equal((await stateOf(home))?.lastGood, '0.7.0')
    } finally {
      await net.stop()
    }
  })
})
