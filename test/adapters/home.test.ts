/** The supervisor's home on real files: install, atomic switch, state, backups. */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createTar, gzipDeterministic } from '../../src/adapters/build/tar.ts'
import { Home, SWITCH_JOURNAL } from '../../src/adapters/fs/home.ts'

function artifact(version: string, extra: Array<{ path: string; data: string }> = []) {
  const enc = new TextEncoder()
  const bytes = gzipDeterministic(
    createTar([
      { path: `convoy-${version}/`, data: new Uint8Array(), mode: 0o755 },
      {
        path: `convoy-${version}/convoy.mjs`,
        data: enc.encode(`console.log(${JSON.stringify(version)})\n`),
        mode: 0o755,
      },
      {
        path: `convoy-${version}/package.json`,
        data: enc.encode(`{"version":"${version}"}`),
        mode: 0o644,
      },
      ...extra.map((e) => ({ path: e.path, data: enc.encode(e.data), mode: 0o644 })),
    ]),
  )
  return {
    bytes,
    pin: { sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length },
  }
}

describe('supervisor home', () => {
  let dir: string
  let home: Home
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convoy-home-'))
    home = new Home(dir)
    await home.open()
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('keeps the switch journal where every release looks for it: switch.json', async () => {
    // A supervisor resumes the switch an older (or newer) one journalled: the name is a format.
    assert.equal(SWITCH_JOURNAL, 'switch.json')
    await home.writeJson(SWITCH_JOURNAL, { from: '1.0.0', to: '1.1.0', backup: 'b' })
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'switch.json'), 'utf8')), {
      from: '1.0.0',
      to: '1.1.0',
      backup: 'b',
    })
    await home.removeFile(SWITCH_JOURNAL)
    assert.equal(await home.readJson(SWITCH_JOURNAL), undefined)
  })

  it('installs a release only when its bytes match the signed pin', async () => {
    const a = artifact('1.0.0')
    await assert.rejects(
      home.install('1.0.0', a.bytes, { ...a.pin, sha256: '0'.repeat(64) }),
      /refusing to install/,
    )
    await assert.rejects(
      home.install('1.0.0', a.bytes, { ...a.pin, length: a.pin.length + 1 }),
      /pins .* refusing to install/,
    )
    assert.deepEqual(await readdir(home.releasesDir), [], 'nothing unpacked from wrong bytes')
    const path = await home.install('1.0.0', a.bytes, a.pin)
    assert.equal(await readFile(join(path, 'convoy.mjs'), 'utf8'), 'console.log("1.0.0")\n')
    const evil = artifact('1.0.1', [{ path: 'convoy-1.0.1/../../escape', data: 'x' }])
    await assert.rejects(home.install('1.0.1', evil.bytes, evil.pin), /unexpected entry/)
    assert.deepEqual(
      (await readdir(home.releasesDir)).sort(),
      ['1.0.0'],
      'no partial release left behind',
    )
  })

  it('switches current atomically: a reader never sees it missing or half-made', async () => {
    const b = artifact('1.1.0')
    await home.install('1.1.0', b.bytes, b.pin)
    await home.switchCurrent('1.0.0')
    let reads = 0
    let stop = false
    const bad: string[] = []
    const reader = (async () => {
      while (!stop) {
        const text = await readFile(join(dir, 'current', 'convoy.mjs'), 'utf8').catch(
          (e: NodeJS.ErrnoException) => `ERR ${e.code}`,
        )
        if (!/^console\.log\("1\.(0|1)\.0"\)\n$/.test(text)) bad.push(text)
        reads++
        await new Promise((r) => setImmediate(r))
      }
    })()
    for (let i = 0; i < 200; i++) await home.switchCurrent(i % 2 === 0 ? '1.0.0' : '1.1.0')
    stop = true
    await reader
    assert.deepEqual(bad, [])
    assert.ok(reads > 50)
    assert.equal(await home.current(), '1.1.0')
    await assert.rejects(home.switchCurrent('9.9.9'), /not installed/)
  })

  it('cleans up leftovers of an interrupted install or switch when reopened', async () => {
    await mkdir(join(home.releasesDir, '.2.0.0.dead'))
    await writeFile(join(dir, '.current.dead'), '')
    await new Home(dir).open()
    assert.deepEqual((await readdir(home.releasesDir)).sort(), ['1.0.0', '1.1.0'])
    assert.ok(!(await readdir(dir)).includes('.current.dead'))
  })

  it('persists state by write, fsync, rename, and says clearly when it is damaged', async () => {
    await home.saveState({ phase: 'probation', current: '1.1.0' })
    assert.deepEqual(await home.loadState(), { phase: 'probation', current: '1.1.0' })
    await writeFile(join(dir, 'state.json'), '{"phase":')
    await assert.rejects(home.loadState(), /state.json is damaged; restore it/)
    await home.saveState({ phase: 'idle' })
  })

  it('backs up the data dir, keeps a bounded number, refuses without free space, and restores', async () => {
    await writeFile(join(home.dataDir, 'db'), 'v1')
    for (let i = 0; i < 5; i++) await home.backup(`1.0.${i}`, { keep: 3 })
    const kept = (await readdir(home.backupsDir)).sort()
    assert.equal(kept.length, 3)
    assert.match(kept[2]!, /^000005-1\.0\.4$/)
    await assert.rejects(
      home.backup('x', { minFreeBytes: Number.MAX_SAFE_INTEGER }),
      /not enough free space for a backup/,
    )
    await writeFile(join(home.dataDir, 'db'), 'v2 migrated badly')
    const moved = await home.restore((await home.latestBackup())!, { label: '1.1.0' })
    assert.equal(await readFile(join(home.dataDir, 'db'), 'utf8'), 'v1')
    // What it replaced is moved aside, never deleted.
    assert.equal(await readFile(join(moved!, 'db'), 'utf8'), 'v2 migrated badly')
    assert.match(moved!, /displaced\/000001-1\.1\.0$/)
  })

  it('a restore carries the trust floor and signed documents forward and keeps a bounded number aside', async () => {
    const floor = (seq: number) =>
      JSON.stringify({
        channels: { stable: { sequence: seq, digest: 'd'.repeat(64), version: `1.${seq}.0` } },
      })
    await writeFile(join(home.dataDir, 'trust.json'), floor(3))
    const backup = await home.backup('1.3.0', { keep: 3 })
    // The newer release raised the floor and learned a manifest and a revocation.
    await writeFile(join(home.dataDir, 'trust.json'), floor(5))
    await mkdir(join(home.dataDir, 'manifests', 'stable'), { recursive: true })
    await writeFile(join(home.dataDir, 'manifests', 'stable', '5.json'), '{}')
    await mkdir(join(home.dataDir, 'revocations'), { recursive: true })
    await writeFile(join(home.dataDir, 'revocations', 'stable-5.json'), '{}')
    await writeFile(join(home.dataDir, 'db'), 'written by 1.5.0')
    await home.restore(backup, { label: '1.5.0', keep: 2 })
    const restored = JSON.parse(await readFile(join(home.dataDir, 'trust.json'), 'utf8'))
    assert.equal(restored.channels.stable.sequence, 5, 'the floor is not lowered')
    await readFile(join(home.dataDir, 'manifests', 'stable', '5.json'))
    await readFile(join(home.dataDir, 'revocations', 'stable-5.json'))
    assert.equal(await readFile(join(home.dataDir, 'db'), 'utf8'), 'v1')
    for (let i = 0; i < 3; i++) await home.restore(backup, { label: `x${i}`, keep: 2 })
    assert.deepEqual((await readdir(home.displacedDir)).sort(), ['000004-x1', '000005-x2'])
  })
})
