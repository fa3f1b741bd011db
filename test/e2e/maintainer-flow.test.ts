/**
 * The whole 3-of-5 maintainer flow through the real `convoy` binary: keys, root, a release signed
 * on three "machines" and merged, and a root rotation. The steps share one directory and run in
 * order; each later step builds on the files the earlier ones wrote.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  assertRefused,
  convoy,
  convoyOk,
  makeTempDir,
  type RunResult,
  removeDir,
  snapshot,
} from '../cli/helpers.ts'

const PASSPHRASE = 'correct horse battery staple'
/** Maintainers m1..m5 hold root v1; m5's key is sealed with a passphrase. */
const MAINTAINERS = ['m1', 'm2', 'm3', 'm4', 'm5'] as const
/** m6 joins in the rotation; x1 and x2 only appear in a forged rotation. */
const EXTRA = ['m6', 'x1', 'x2'] as const

interface KeyInfo {
  file: string
  keyid: string
  publicKey: string
}

let dir: string
const keys = new Map<string, KeyInfo>()
const generated = new Map<string, RunResult>()

function key(name: string): KeyInfo {
  const k = keys.get(name)
  assert.ok(k, `no key ${name}`)
  return k
}

/** Runs in the shared directory. */
function run(args: string[], env?: Record<string, string | undefined>): Promise<RunResult> {
  return convoy(args, { cwd: dir, ...(env ? { env } : {}) })
}
function ok(args: string[], env?: Record<string, string | undefined>): Promise<RunResult> {
  return convoyOk(args, { cwd: dir, ...(env ? { env } : {}) })
}

before(async () => {
  dir = await makeTempDir('flow')
  // Text output for m1 and m2, --json for the rest; m5 sealed with CONVOY_PASSPHRASE.
  const jobs = [...MAINTAINERS, ...EXTRA].map(async (name) => {
    const file = `${name}.key.json`
    const args = ['keys', 'generate', '--out', file, '--name', name]
    if (name !== 'm1' && name !== 'm2') args.push('--json')
    if (name === 'm5') args.push('--encrypt')
    const r = await ok(args, name === 'm5' ? { CONVOY_PASSPHRASE: PASSPHRASE } : undefined)
    generated.set(name, r)
    const show = await ok(['keys', 'show', file, '--json'])
    const info = JSON.parse(show.stdout) as KeyInfo
    keys.set(name, { file: join(dir, file), keyid: info.keyid, publicKey: info.publicKey })
  })
  await Promise.all(jobs)
})

after(async () => {
  await removeDir(dir)
})

describe('maintainer flow: 3 of 5', () => {
  it('keys generate writes mode 0600 files and prints the key id (text and --json)', async () => {
    for (const name of [...MAINTAINERS, ...EXTRA]) {
      const k = key(name)
      const st = await stat(k.file)
      assert.equal(st.mode & 0o777, 0o600, `${name} key file mode`)
      const r = generated.get(name)!
      assert.equal(r.stderr, '')
      if (name === 'm1' || name === 'm2') {
        assert.match(r.stdout, /mode 0600/)
        assert.ok(r.stdout.includes(`key id:     ${k.keyid}`), r.stdout)
        assert.ok(r.stdout.includes(`public key: ${k.publicKey}`), r.stdout)
      } else {
        const j = JSON.parse(r.stdout) as Record<string, unknown>
        assert.equal(j.ok, true)
        assert.match(String(j.keyid), /^[0-9a-f]{64}$/)
        assert.match(String(j.publicKey), /^[0-9a-f]{64}$/)
        assert.equal(j.keyid, k.keyid)
        assert.equal(j.publicKey, k.publicKey)
        assert.equal(j.encrypted, name === 'm5')
      }
    }
    const sealed = await readFile(key('m5').file, 'utf8')
    assert.ok(!sealed.includes('secretKey'), 'a sealed key file holds no clear secret')
    assert.ok(!sealed.includes(PASSPHRASE), 'the passphrase is never written')
    assert.equal(new Set([...keys.values()].map((k) => k.keyid)).size, keys.size)
  })

  it('root init --threshold 3 takes key files and a raw 64-hex public key', async () => {
    const r = await ok([
      'root',
      'init',
      '--network',
      'testnet',
      '--threshold',
      '3',
      '--key',
      key('m1').file,
      '--key',
      'm2.key.json',
      '--key',
      key('m3').publicKey,
      '--key',
      'm4.key.json',
      '--key',
      'm5.key.json',
      '--out',
      'root.json',
      '--json',
    ])
    const printed = JSON.parse(r.stdout)
    assert.equal(printed.ok, true)
    assert.equal(printed.root.network, 'testnet')
    assert.equal(printed.root.threshold, 3)
    assert.equal(printed.root.keys.length, 5)
    const root = JSON.parse(await readFile(join(dir, 'root.json'), 'utf8'))
    assert.equal(root.signed.threshold, 3)
    assert.equal(root.signed.version, 1)
    assert.deepEqual(
      root.signed.keys.map((k: { keyid: string }) => k.keyid).sort(),
      MAINTAINERS.map((m) => key(m).keyid).sort(),
    )
    assert.deepEqual(root.signatures, [])
  })

  it('root verify fails with 2 signatures and passes with 3', async () => {
    await ok(['root', 'sign', 'root.json', '--key', key('m1').file])
    await ok(['root', 'sign', 'root.json', '--key', key('m2').file])
    const two = await run(['root', 'verify', 'root.json'])
    assertRefused(two, 'threshold not met: 2 of 3')
    const twoJson = await run(['root', 'verify', 'root.json', '--json'])
    assert.notEqual(twoJson.code, 0)
    assert.equal(JSON.parse(twoJson.stdout).ok, false)

    // m3 is in the root by raw public key; its key file signs all the same.
    const third = await ok(['root', 'sign', 'root.json', '--key', key('m3').file, '--json'])
    assert.equal(JSON.parse(third.stdout).signed, 3)
    assert.equal(JSON.parse(third.stdout).threshold, 3)
    const three = await ok(['root', 'verify', 'root.json'])
    assert.match(three.stdout, /valid root v1 for "testnet"/)
    const j = JSON.parse((await ok(['root', 'verify', 'root.json', '--json'])).stdout)
    assert.equal(j.ok, true)
    assert.equal(j.valid, true)
    assert.equal(j.signers.length, 3)
  })

  it('release draft pins the artifact by sha256 and length', async () => {
    const artifact = Buffer.from(`convoy build 1.2.0\n${'x'.repeat(10_000)}\n`)
    await writeFile(join(dir, 'convoy-1.2.0.tgz'), artifact)
    const r = await ok([
      'release',
      'draft',
      '--root',
      'root.json',
      '--channel',
      'stable',
      '--version',
      '1.2.0',
      '--sequence',
      '4',
      '--artifact',
      'linux-x64=convoy-1.2.0.tgz',
      '--out',
      'release.json',
      '--json',
    ])
    const sha256 = createHash('sha256').update(artifact).digest('hex')
    const printed = JSON.parse(r.stdout)
    assert.deepEqual(printed.release.artifacts['linux-x64'], { sha256, length: artifact.length })
    const draft = JSON.parse(await readFile(join(dir, 'release.json'), 'utf8'))
    assert.equal(draft.signed.artifacts['linux-x64'].sha256, sha256)
    assert.equal(draft.signed.artifacts['linux-x64'].length, artifact.length)
    assert.equal(draft.signed.network, 'testnet')
    assert.equal(draft.signed.sequence, 4)
    assert.deepEqual(draft.signatures, [])
    assertRefused(await run(['release', 'verify', 'release.json', '--root', 'root.json']), '0 of 3')
  })

  it('three maintainers sign copies on different machines; signing twice is a no-op', async () => {
    for (const m of ['m1', 'm2', 'm3']) {
      const machine = join(dir, `machine-${m}`)
      await mkdir(machine)
      await copyFile(join(dir, 'release.json'), join(machine, 'release.json'))
      await copyFile(join(dir, 'root.json'), join(machine, 'root.json'))
      // m1 relies on the root.json beside the manifest; the others name it.
      const args = ['release', 'sign', 'release.json', '--key', key(m).file]
      if (m !== 'm1') args.push('--root', 'root.json')
      // The artifact is not a convoy build, so nobody can rebuild it: refused unless told.
      const refusedSign = await convoy(args, { cwd: machine })
      assertRefused(refusedSign, 'refusing to sign: release.json pins no `node` artifact')
      assert.match(refusedSign.stderr, /pass --no-rebuild-check to sign without it/)
      args.push('--no-rebuild-check')
      const r = await convoyOk([...args, '--json'], { cwd: machine })
      assert.match(r.stderr, /^convoy: warning: --no-rebuild-check: /)
      const j = JSON.parse(r.stdout)
      assert.deepEqual(
        [j.keyid, j.alreadySigned, j.reproduced, j.signed, j.threshold, j.complete],
        [key(m).keyid, false, false, 1, 3, false],
      )
      const one = await convoy(['release', 'verify', 'release.json', '--root', 'root.json'], {
        cwd: machine,
      })
      assertRefused(one, 'threshold not met: 1 of 3')
    }

    const machine = join(dir, 'machine-m1')
    const file = join(machine, 'release.json')
    const before = await readFile(file)
    const again = await convoyOk(
      ['release', 'sign', 'release.json', '--key', key('m1').file, '--no-rebuild-check'],
      { cwd: machine },
    )
    assert.match(again.stdout, /already signed by/)
    assert.ok(before.equals(await readFile(file)), 'signing twice changed the file')
    const againJson = await convoyOk(
      ['release', 'sign', 'release.json', '--key', key('m1').file, '--no-rebuild-check', '--json'],
      { cwd: machine },
    )
    assert.equal(JSON.parse(againJson.stdout).alreadySigned, true)
    assert.ok(before.equals(await readFile(file)), 'signing twice changed the file')
    const files = [...(await snapshot(machine)).keys()].sort()
    assert.deepEqual(files, ['release.json', 'root.json'], 'no temporary files are left')
  })

  it('release merge gives byte-identical files in any order; verify needs 3 signatures', async () => {
    const copy = (m: string) => `machine-${m}/release.json`
    await ok(['release', 'merge', copy('m1'), copy('m2'), '--out', 'merged-2.json'])
    assertRefused(
      await run(['release', 'verify', 'merged-2.json', '--root', 'root.json']),
      'threshold not met: 2 of 3',
    )

    const orders = [
      ['m1', 'm2', 'm3'],
      ['m3', 'm1', 'm2'],
      ['m2', 'm3', 'm1'],
    ]
    const outputs: Buffer[] = []
    for (const [i, order] of orders.entries()) {
      const out = `merged-3-${i}.json`
      const r = await ok(['release', 'merge', ...order.map(copy), '--out', out, '--json'])
      assert.equal(JSON.parse(r.stdout).signatures, 3)
      outputs.push(await readFile(join(dir, out)))
    }
    // Merging a merge with a copy changes nothing either.
    await ok(['release', 'merge', copy('m3'), 'merged-2.json', '--out', 'merged-3-x.json'])
    outputs.push(await readFile(join(dir, 'merged-3-x.json')))
    for (const o of outputs.slice(1)) assert.ok(o.equals(outputs[0]!), 'merge order matters')

    const v = await ok(['release', 'verify', 'merged-3-0.json', '--root', 'root.json'])
    assert.match(v.stdout, /valid testnet\/stable 1\.2\.0 \(sequence 4\)/)
    const j = JSON.parse(
      (await ok(['release', 'verify', 'merged-3-0.json', '--root', 'root.json', '--json'])).stdout,
    )
    assert.equal(j.ok, true)
    assert.equal(j.valid, true)
    assert.equal(j.version, '1.2.0')
    assert.equal(j.sequence, 4)
    assert.deepEqual([...j.signers].sort(), ['m1', 'm2', 'm3'].map((m) => key(m).keyid).sort())
  })

  it('release revoke drafts from the signed manifest; 3 of 5 sign apart, merge, verify', async () => {
    assertRefused(
      await run([
        'release',
        'revoke',
        '1.3.0',
        '--manifest',
        'merged-3-0.json',
        '--reason',
        'x',
        '--out',
        'r.json',
      ]),
      'is the manifest of 1.2.0, not 1.3.0',
    )
    assertRefused(
      await run([
        'release',
        'revoke',
        '1.2.0',
        '--manifest',
        'merged-2.json',
        '--reason',
        'x',
        '--out',
        'r.json',
      ]),
      'does not carry 3 valid signatures',
    )
    const d = await ok([
      'release',
      'revoke',
      '1.2.0',
      '--manifest',
      'merged-3-0.json',
      '--root',
      'root.json',
      '--reason',
      'it loses data on restart',
      '--out',
      'revoke.json',
      '--json',
    ])
    assert.equal(JSON.parse(d.stdout).sequence, 4)
    for (const m of ['m1', 'm2', 'm4']) {
      const machine = join(dir, `revoke-${m}`)
      await mkdir(machine, { recursive: true })
      await copyFile(join(dir, 'revoke.json'), join(machine, 'revoke.json'))
      await copyFile(join(dir, 'root.json'), join(machine, 'root.json'))
      const r = await convoyOk(['release', 'sign', 'revoke.json', '--key', key(m).file], {
        cwd: machine,
      })
      assert.match(r.stdout, /signed the revocation of 1\.2\.0/)
    }
    assertRefused(
      await run(['release', 'verify', 'revoke-m1/revoke.json', '--root', 'root.json']),
      'threshold not met: 1 of 3',
    )
    await ok([
      'release',
      'merge',
      ...['m1', 'm2', 'm4'].map((m) => `revoke-${m}/revoke.json`),
      '--out',
      'revoke-3.json',
    ])
    const v = await ok(['release', 'verify', 'revoke-3.json', '--root', 'root.json', '--json'])
    const j = JSON.parse(v.stdout)
    assert.equal(j.type, 'convoy/revocation')
    assert.equal(j.version, '1.2.0')
    assert.equal(j.reason, 'it loses data on restart')
  })

  it('release inspect lists who signed, who has not, and the expiry', async () => {
    const r = await ok(['release', 'inspect', 'merged-2.json', '--root', 'root.json'])
    assert.match(r.stdout, /release 1\.2\.0 on testnet\/stable, sequence 4/)
    assert.match(r.stdout, /expires: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 29d \d+h\)/)
    assert.match(r.stdout, /signatures: .* INCOMPLETE/)
    const signed = r.stdout.split('\n').filter((l) => l.includes('signed:     '))
    const notYet = r.stdout.split('\n').filter((l) => l.includes('not yet:    '))
    assert.equal(signed.length, 2)
    assert.equal(notYet.length, 3)
    // Everyone signed with --no-rebuild-check: nobody declared a reproduced build.
    for (const l of signed) assert.match(l, / - did not declare a reproduced build$/)
    for (const m of ['m1', 'm2'])
      assert.ok(
        signed.some((l) => l.includes(`(${m})`)),
        m,
      )
    for (const m of ['m3', 'm4', 'm5']) {
      assert.ok(
        notYet.some((l) => l.includes(key(m).keyid.slice(0, 12))),
        m,
      )
    }
    const full = await ok(['release', 'inspect', 'merged-3-0.json', '--root', 'root.json'])
    assert.match(full.stdout, /signatures: .*\bCOMPLETE\b/)
    const j = JSON.parse(
      (await ok(['release', 'inspect', 'merged-2.json', '--root', 'root.json', '--json'])).stdout,
    )
    assert.equal(j.expired, false)
    assert.equal(j.signatures.signed.length, 2)
    assert.equal(j.signatures.missing.length, 3)
    assert.deepEqual(j.reproduced, [])
  })

  it('an encrypted key signs with CONVOY_PASSPHRASE and is refused without or with a wrong one', async () => {
    const machine = join(dir, 'machine-m5')
    await mkdir(machine)
    await copyFile(join(dir, 'merged-3-0.json'), join(machine, 'release.json'))
    await copyFile(join(dir, 'root.json'), join(machine, 'root.json'))
    const args = ['release', 'sign', 'release.json', '--key', key('m5').file, '--no-rebuild-check']
    const before = await snapshot(machine)

    const missing = await convoy(args, { cwd: machine })
    assertRefused(missing, 'CONVOY_PASSPHRASE')
    assert.match(missing.stderr, /needs a passphrase/)
    const wrong = await convoy(args, {
      cwd: machine,
      env: { CONVOY_PASSPHRASE: 'not the passphrase' },
    })
    assertRefused(wrong, 'wrong passphrase')
    const after = await snapshot(machine)
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort())
    for (const [f, b] of before) assert.ok(b.equals(after.get(f)!), `${f} changed`)

    const r = await convoyOk(args, { cwd: machine, env: { CONVOY_PASSPHRASE: PASSPHRASE } })
    assert.match(r.stdout, /^signed by .*\(m5\)/)
    const v = await convoyOk(
      ['release', 'verify', 'release.json', '--root', 'root.json', '--json'],
      { cwd: machine },
    )
    const signers: string[] = JSON.parse(v.stdout).signers
    assert.equal(signers.length, 4)
    assert.ok(signers.includes(key('m5').keyid))
  })

  it('root rotate: the new root needs the previous threshold too', async () => {
    const m5 = key('m5').keyid
    const r = await ok([
      'root',
      'rotate',
      'root.json',
      '--remove',
      m5.slice(0, 12),
      '--add',
      key('m6').file,
      '--out',
      'root-2.json',
    ])
    assert.match(r.stdout, /root v2/)
    const root2 = JSON.parse(await readFile(join(dir, 'root-2.json'), 'utf8'))
    assert.equal(root2.signed.version, 2)
    assert.equal(root2.signed.threshold, 3)
    const ids = root2.signed.keys.map((k: { keyid: string }) => k.keyid)
    assert.ok(!ids.includes(m5))
    assert.ok(ids.includes(key('m6').keyid))

    for (const m of ['m1', 'm2', 'm3']) {
      await ok(['root', 'sign', 'root-2.json', '--key', key(m).file, '--previous', 'root.json'])
    }
    const v = await ok(['root', 'verify', 'root-2.json', '--trusted', 'root.json'])
    assert.match(v.stdout, /root v1 -> v2/)
    const j = JSON.parse(
      (await ok(['root', 'verify', 'root-2.json', '--trusted', 'root.json', '--json'])).stdout,
    )
    assert.equal(j.ok, true)
    assert.equal(j.valid, true)
    assert.equal(j.version, 2)
    assert.equal(j.steps, 1)
  })

  it('a rotation signed only by the new key set is refused: "previous root"', async () => {
    await ok([
      'root',
      'rotate',
      'root.json',
      ...['m1', 'm2', 'm3'].flatMap((m) => ['--remove', key(m).keyid.slice(0, 16)]),
      ...['x1', 'x2', 'm6'].flatMap((m) => ['--add', key(m).file]),
      '--out',
      'forged-2.json',
    ])
    for (const m of ['x1', 'x2', 'm6']) {
      await ok(['root', 'sign', 'forged-2.json', '--key', key(m).file])
    }
    const r = await run(['root', 'verify', 'forged-2.json', '--trusted', 'root.json'])
    assertRefused(r, 'previous root')
    assert.match(r.stderr, /threshold not met: 0 of 3/)
  })

  it('a release signed by the new root keys verifies with --root root.json --root root-2.json', async () => {
    await writeFile(join(dir, 'convoy-1.3.0.tgz'), 'convoy build 1.3.0\n')
    await ok([
      'release',
      'draft',
      '--root',
      'root-2.json',
      '--channel',
      'stable',
      '--version',
      '1.3.0',
      '--previous',
      'merged-3-0.json',
      '--artifact',
      'linux-x64=convoy-1.3.0.tgz',
      '--out',
      'release-2.json',
    ])
    // m6 is not in root v1: refused against it alone.
    const outside = await run([
      'release',
      'sign',
      'release-2.json',
      '--key',
      key('m6').file,
      '--root',
      'root.json',
      '--no-rebuild-check',
    ])
    assertRefused(outside, 'is not in root v1')
    for (const m of ['m6', 'm4', 'm1']) {
      const args = ['release', 'sign', 'release-2.json', '--key', key(m).file, '--no-rebuild-check']
      await ok([...args, '--root', 'root.json', '--root', 'root-2.json'])
    }
    const v = await ok([
      'release',
      'verify',
      'release-2.json',
      '--root',
      'root.json',
      '--root',
      'root-2.json',
    ])
    assert.match(v.stdout, /valid testnet\/stable 1\.3\.0 \(sequence 5\)/)
    // Against root v1 alone, m6's signature does not count.
    assertRefused(
      await run(['release', 'verify', 'release-2.json', '--root', 'root.json']),
      'threshold not met: 2 of 3',
    )
  })
})
