/**
 * Node runners' commands as real processes: `network init`, `node start` (three of them),
 * `release publish`, `status`, clean stops on SIGTERM, and the start-up errors.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { convoy, convoyOk, makeTempDir, removeDir, startConvoy } from './helpers.ts'

interface Running {
  child: ChildProcess
  dir: string
  out: () => string
}

function startNode(cwd: string, dir: string, extra: string[] = []): Running {
  const { child, output } = startConvoy(
    [
      'node',
      'start',
      '--network',
      'network.json',
      '--data-dir',
      dir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api',
      '127.0.0.1:0',
      '--lookup-interval',
      '2s',
      ...extra,
    ],
    { cwd },
  )
  return { child, dir, out: output }
}

async function running(r: Running): Promise<{ peerId: string; addresses: string[]; api: string }> {
  const path = join(r.dir, 'running.json')
  for (let i = 0; i < 200; i++) {
    try {
      return JSON.parse(await readFile(path, 'utf8'))
    } catch {}
    if (r.child.exitCode !== null) throw new Error(`node exited early: ${r.out()}`)
    await new Promise((res) => setTimeout(res, 100))
  }
  throw new Error(`node did not start: ${r.out()}`)
}

async function stopNode(r: Running): Promise<number | null> {
  if (r.child.exitCode !== null) return r.child.exitCode
  r.child.kill('SIGTERM')
  const [code] = await once(r.child, 'exit')
  return code as number | null
}

describe('node runner commands', { timeout: 120_000 }, () => {
  let cwd: string
  const nodes: Running[] = []

  before(async () => {
    cwd = await makeTempDir('node')
    for (const n of ['a', 'b', 'c'])
      await convoyOk(['keys', 'generate', '--out', `${n}.key`, '--name', n], { cwd })
    await convoyOk(
      [
        'root',
        'init',
        '--network',
        'clinet',
        '--threshold',
        '2',
        '--key',
        'a.key',
        '--key',
        'b.key',
        '--key',
        'c.key',
        '--out',
        'root.json',
      ],
      { cwd },
    )
    for (const n of ['a', 'b'])
      await convoyOk(['root', 'sign', 'root.json', '--key', `${n}.key`], { cwd })
    await writeFile(join(cwd, 'artifact.bin'), Buffer.alloc(300_000, 9))
    await convoyOk(
      [
        'release',
        'draft',
        '--root',
        'root.json',
        '--channel',
        'stable',
        '--version',
        '0.1.0',
        '--artifact',
        'node=artifact.bin',
        '--out',
        'release.json',
      ],
      { cwd },
    )
    // artifact.bin is not a convoy build: there is nothing to rebuild.
    for (const n of ['a', 'b'])
      await convoyOk(
        ['release', 'sign', 'release.json', '--key', `${n}.key`, '--no-rebuild-check'],
        {
          cwd,
        },
      )
  })

  after(async () => {
    await Promise.all(nodes.map(stopNode))
    await removeDir(cwd)
  })

  it('network init checks bootstrap addresses', async () => {
    const bad = await convoy(
      [
        'network',
        'init',
        '--root',
        'root.json',
        '--bootstrap',
        '/ip4/127.0.0.1/tcp/4001',
        '--out',
        'x.json',
      ],
      { cwd },
    )
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /must end in \/p2p\/<peer id>/)
    await assert.rejects(stat(join(cwd, 'x.json')))
  })

  it('three nodes start, a release is published to them, status shows it, SIGTERM stops them cleanly', async () => {
    await convoyOk(['network', 'init', '--root', 'root.json', '--out', 'network.json'], { cwd })
    const first = startNode(cwd, join(cwd, 'n0'))
    nodes.push(first)
    const info0 = await running(first)
    // The others bootstrap from the first: a network file naming it.
    await convoyOk(
      [
        'network',
        'init',
        '--root',
        'root.json',
        '--bootstrap',
        info0.addresses[0]!,
        '--out',
        'network.json',
      ],
      { cwd },
    )
    for (const i of [1, 2]) nodes.push(startNode(cwd, join(cwd, `n${i}`)))
    const infos = await Promise.all(nodes.map(running))
    await new Promise((r) => setTimeout(r, 1500))
    // Without --artifact, while no peer holds it: published, with a warning that says what to do.
    const bare = await convoyOk(
      ['release', 'publish', 'release.json', '--network', 'network.json'],
      {
        cwd,
      },
    )
    assert.match(bare.stdout, /artifact: held by 0 other peer\(s\)/)
    assert.match(
      bare.stderr,
      /convoy: warning: no peer holds the artifact of 0\.1\.0 .*Publish again with --artifact/,
    )
    const pub = await convoyOk(
      [
        'release',
        'publish',
        'release.json',
        '--network',
        'network.json',
        '--artifact',
        'artifact.bin',
        '--seed-copies',
        '1',
        '--seed-timeout',
        '20s',
      ],
      { cwd },
    )
    assert.match(pub.stdout, /published clinet\/stable 0\.1\.0 \(sequence 1\)/)
    assert.match(pub.stdout, /stable latest: stored by [1-9]\d* peer\(s\)/)
    for (const info of infos) {
      let s:
        | { latest?: { sequence: number }; manifests: Array<{ artifactHeld: boolean }> }
        | undefined
      for (let i = 0; i < 100; i++) {
        const r = await convoy(['status', '--api', info.api, '--json'], { cwd })
        s = JSON.parse(r.stdout)
        if (s?.latest?.sequence === 1 && s.manifests.some((m) => m.artifactHeld)) break
        await new Promise((res) => setTimeout(res, 200))
      }
      assert.equal(s?.latest?.sequence, 1)
      assert.ok(
        s?.manifests.some((m) => m.artifactHeld),
        'artifact fetched from peers',
      )
    }
    // Once peers hold it, publishing without --artifact says so and warns of nothing.
    const again = await convoyOk(
      ['release', 'publish', 'release.json', '--network', 'network.json'],
      { cwd },
    )
    assert.match(again.stdout, /artifact: held by [1-9]\d* other peer\(s\)/)
    assert.doesNotMatch(again.stderr, /warning/)
    const text = await convoyOk(['status', '--api', infos[1]!.api], { cwd })
    assert.match(text.stdout, /latest verified: 0\.1\.0 \(sequence 1\)/)
    assert.match(text.stdout, /PEER\s+VERSION\s+RANK/)
    const metrics = await fetch(`http://${infos[1]!.api}/metrics`).then((r) => r.text())
    assert.match(metrics, /^convoy_manifest_sequence\{channel="stable"\} 1$/m)
    // /health is small; a POST without the data dir's token (mode 0600) is refused.
    const health = (await fetch(`http://${infos[1]!.api}/health`).then((r) => r.json())) as {
      status: string
      peerId: string
    }
    assert.deepEqual([health.status, health.peerId], ['ok', infos[1]!.peerId])
    const tokenFile = join(nodes[1]!.dir, 'api.token')
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600)
    const post = (headers: Record<string, string>) =>
      fetch(`http://${infos[1]!.api}/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      })
    assert.equal((await post({})).status, 401)
    const token = (await readFile(tokenFile, 'utf8')).trim()
    assert.equal(
      (await post({ authorization: `Bearer ${token}` })).status,
      400,
      'judged, not refused',
    )
    // Clean stop: exit 0, lock and running.json removed, identity kept for the next start.
    const last = nodes.pop()!
    assert.equal(await stopNode(last), 0)
    assert.match(last.out(), /SIGTERM: stopping/)
    await assert.rejects(stat(join(last.dir, 'running.json')))
    await assert.rejects(stat(join(last.dir, 'lock')))
    assert.equal((await stat(join(last.dir, 'identity.key'))).mode & 0o777, 0o600)
  })

  it('start-up errors are one clear line: missing or invalid network file, port in use, unusable or busy data dir', async () => {
    const base = ['node', 'start', '--data-dir', join(cwd, 'e1'), '--api', '127.0.0.1:0']
    const missing = await convoy(
      [...base, '--network', 'nope.json', '--listen', '/ip4/127.0.0.1/tcp/0'],
      { cwd },
    )
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /nope\.json: no such file/)
    await writeFile(join(cwd, 'garbage.json'), '{"type":"convoy/network"')
    const invalid = await convoy(
      [...base, '--network', 'garbage.json', '--listen', '/ip4/127.0.0.1/tcp/0'],
      { cwd },
    )
    assert.equal(invalid.code, 1)
    assert.match(invalid.stderr, /garbage\.json: malformed: .*get a valid network file/)

    const blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const port = (blocker.address() as { port: number }).port
    const inUse = await convoy(
      [
        'node',
        'start',
        '--network',
        'network.json',
        '--data-dir',
        join(cwd, 'e2'),
        '--api',
        '127.0.0.1:0',
        '--listen',
        `/ip4/127.0.0.1/tcp/${port}`,
      ],
      { cwd },
    )
    blocker.close()
    assert.equal(inUse.code, 1)
    assert.match(inUse.stderr, /already in use.*pick another port with --listen/)

    await writeFile(join(cwd, 'plainfile'), 'x')
    const unusable = await convoy(
      [
        'node',
        'start',
        '--network',
        'network.json',
        '--data-dir',
        join(cwd, 'plainfile', 'sub'),
        '--api',
        '127.0.0.1:0',
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
      ],
      { cwd },
    )
    assert.equal(unusable.code, 1)
    assert.match(unusable.stderr, /cannot be created: ENOTDIR; choose a writable --data-dir/)

    const busy = await convoy(
      [
        'node',
        'start',
        '--network',
        'network.json',
        '--data-dir',
        nodes[0]!.dir,
        '--api',
        '127.0.0.1:0',
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
      ],
      { cwd },
    )
    assert.equal(busy.code, 1)
    assert.match(
      busy.stderr,
      /is in use by process \d+; stop that node or choose another --data-dir/,
    )
    for (const r of [missing, invalid, inUse, unusable, busy])
      assert.doesNotMatch(r.stderr, /\n {4}at /)
    await mkdir(join(cwd, 'e3'), { recursive: true })
  })
})
