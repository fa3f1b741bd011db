/** A node's bandwidth budgets (adapters/libp2p/bandwidth.ts) with real state files. */
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { BANDWIDTH_FILE, Bandwidth } from '../../src/adapters/libp2p/bandwidth.ts'
import { DEFAULT_BANDWIDTH } from '../../src/core/net/bandwidth.ts'
import { TestNet } from '../net/harness.ts'

const DEC = Date.UTC(2026, 11, 15)
const JAN = Date.UTC(2027, 0, 1, 0, 0, 1)
const MiB = 1024 * 1024

describe('Bandwidth', () => {
  let dir: string
  let n = 0
  const fresh = () => join(dir, `${n++}-${BANDWIDTH_FILE}`)
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convoy-bandwidth-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('an absent file starts the month at 0 and says so; a restart keeps the count', async () => {
    const file = fresh()
    const lines: string[] = []
    const limits = { ...DEFAULT_BANDWIDTH, monthlyUploadBytes: 10 * MiB }
    const a = await Bandwidth.open(limits, file, DEC, (l) => lines.push(l))
    assert.match(lines.join('\n'), /no .*bandwidth\.json yet: this month's uploads count from 0/)
    assert.equal(a.uploadAllowed(10 * MiB, DEC), true)
    a.takeUpload(4 * MiB, DEC)
    await a.close()
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), {
      month: '2026-12',
      usedBytes: 4 * MiB,
    })
    const b = await Bandwidth.open(limits, file, DEC + 1000, (l) => lines.push(l))
    assert.equal(lines.length, 1, 'nothing to say about a good file')
    const s = b.status(DEC + 1000)
    assert.equal(s.uploadedBytes, 4 * MiB)
    assert.equal(s.quotaLeftBytes, 6 * MiB)
    assert.equal(b.uploadAllowed(7 * MiB, DEC + 1000), false)
    assert.equal(b.status(DEC + 1000).quotaRefused, 1)
    await b.close()
  })

  it('a corrupt file starts at 0 with a log line, never a crash', async () => {
    for (const junk of ['{"month":', '{"month":"2026-12","usedBytes":-4}', 'x'.repeat(10_000)]) {
      const file = fresh()
      await writeFile(file, junk)
      const lines: string[] = []
      const b = await Bandwidth.open(DEFAULT_BANDWIDTH, file, DEC, (l) => lines.push(l))
      assert.equal(b.status(DEC).uploadedBytes, 0)
      assert.match(
        lines[0] ?? '',
        /bandwidth\.json is corrupt \(.+\): this month's uploads count from 0/,
      )
      b.takeUpload(100, DEC)
      await b.close()
      assert.equal(
        JSON.parse(await readFile(file, 'utf8')).usedBytes,
        100,
        'replaced by a good one',
      )
    }
  })

  it('a new UTC month starts the count again, also across a restart', async () => {
    const file = fresh()
    await writeFile(file, JSON.stringify({ month: '2026-12', usedBytes: 10 * MiB }))
    const limits = { ...DEFAULT_BANDWIDTH, monthlyUploadBytes: 10 * MiB }
    const b = await Bandwidth.open(limits, file, DEC)
    assert.equal(b.uploadAllowed(1, DEC), false)
    assert.equal(b.uploadAllowed(1, JAN), true)
    assert.deepEqual(
      { month: b.status(JAN).month, used: b.status(JAN).uploadedBytes },
      { month: '2027-01', used: 0 },
    )
    await b.close()
    const c = await Bandwidth.open(limits, file, JAN)
    assert.equal(c.status(JAN).quotaLeftBytes, 10 * MiB)
    await c.close()
  })

  it('paces under the caps, counts the time held back, and shows no limit as null', async () => {
    const limits = {
      uploadBytesPerSecond: MiB,
      downloadBytesPerSecond: 2 * MiB,
      monthlyUploadBytes: Number.POSITIVE_INFINITY,
    }
    const b = await Bandwidth.open(limits, undefined, DEC)
    assert.equal(b.takeUpload(MiB, DEC), 0, 'the burst is one second of the cap')
    assert.equal(b.takeUpload(MiB / 2, DEC), 500)
    assert.equal(b.takeDownload(4 * MiB, DEC), 1000)
    const s = b.status(DEC)
    assert.deepEqual(s.limits, {
      uploadBytesPerSecond: MiB,
      downloadBytesPerSecond: 2 * MiB,
      monthlyUploadBytes: null,
    })
    assert.equal(s.quotaLeftBytes, null)
    assert.equal(s.uploadHeldMs, 500)
    assert.equal(s.downloadHeldMs, 1000)
    assert.equal(JSON.parse(JSON.stringify(s)).quotaLeftBytes, null, 'JSON-safe')
    // 1 MiB/s over a 256 KiB/s floor: 4 slots; uncapped, the configured ones.
    assert.equal(b.uploadSlots(8, 256 * 1024), 4)
    const u = await Bandwidth.open(DEFAULT_BANDWIDTH, undefined, DEC)
    assert.equal(u.uploadSlots(8, 256 * 1024), 8)
    assert.equal(u.takeUpload(1e12, DEC), 0)
    await Promise.all([b.close(), u.close()])
  })

  it('flushes by itself within a few seconds while uploading, leaving no temp files', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const file = fresh()
    const b = await Bandwidth.open(DEFAULT_BANDWIDTH, file, DEC)
    b.takeUpload(123, DEC)
    b.takeUpload(7, DEC)
    // Only setTimeout is mocked; the file system's work is waited for with setImmediate.
    const settle = async () => {
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r))
    }
    t.mock.timers.tick(4999)
    await settle()
    await assert.rejects(readFile(file), /ENOENT/, 'not before 5 s')
    b.takeUpload(0, DEC) // the timer is armed already: this arms no second one
    t.mock.timers.tick(1)
    let text: string | undefined
    for (let i = 0; i < 400 && text === undefined; i++) {
      await settle()
      text = await readFile(file, 'utf8').catch(() => undefined)
    }
    t.mock.timers.reset()
    assert.equal(JSON.parse(text ?? '{}').usedBytes, 130, 'written by the timer, without a flush')
    await b.close()
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
      [],
    )
  })

  it('refuses limits that are not above 0, naming the field', async () => {
    await assert.rejects(
      Bandwidth.open({ ...DEFAULT_BANDWIDTH, downloadBytesPerSecond: 0 }, undefined, DEC),
      /bandwidth downloadBytesPerSecond must be above 0/,
    )
  })

  it('a write that fails is logged and tried again, never thrown', async () => {
    const lines: string[] = []
    const b = await Bandwidth.open(
      DEFAULT_BANDWIDTH,
      join(dir, 'missing-dir', BANDWIDTH_FILE),
      DEC,
      (l) => lines.push(l),
    )
    b.takeUpload(1, DEC)
    await b.close()
    assert.match(lines.at(-1) ?? '', /bandwidth: cannot write .*missing-dir/)
  })
})

describe('a node with budgets', () => {
  const net = new TestNet()
  after(() => net.stop())

  it('shows them in its status, keeps the count in its data dir, and refuses a slow cap', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'convoy-bandwidth-node-'))
    try {
      const node = await net.add({
        dataDir,
        bandwidth: { uploadBytesPerSecond: 5e6, monthlyUploadBytes: 200e9 },
      })
      node.bandwidth.takeUpload(1000, Date.now())
      const s = (await node.status()).bandwidth
      assert.ok(s)
      assert.deepEqual(s.limits, {
        uploadBytesPerSecond: 5e6,
        downloadBytesPerSecond: null,
        monthlyUploadBytes: 200e9,
      })
      assert.equal(s.uploadedBytes, 1000)
      assert.equal(s.quotaLeftBytes, 200e9 - 1000)
      await node.stop()
      const kept = JSON.parse(await readFile(join(dataDir, BANDWIDTH_FILE), 'utf8'))
      assert.equal(kept.usedBytes, 1000, 'flushed on stop')
      // The floor is the one this node's fetches hold providers to: 64 KiB/s in the harness.
      await assert.rejects(
        net.add({ bandwidth: { uploadBytesPerSecond: 32 * 1024 } }),
        /bandwidth\.uploadBytesPerSecond of 32\.0 KiB\/s is below the 64\.0 KiB\/s .*peers would drop this node as slow/,
      )
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
