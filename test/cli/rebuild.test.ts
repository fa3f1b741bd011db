/**
 * The rebuild-then-sign ceremony through the real `convoy` binary: a release drafted from a pack
 * records its source; `release rebuild-check` rebuilds it and names the file that differs when it
 * does not match; `release sign` refuses to sign what this machine has not reproduced unless told
 * `--no-rebuild-check`, and an attested signature shows as "reproduced" in `release inspect`.
 * Every command gets a CONVOY_HOME of its own inside the test's temporary directory.
 */

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { checkoutSource, firstDifference, RebuildError } from '../../src/adapters/build/rebuild.ts'
import {
  createTar,
  gzipDeterministic,
  readTar,
  type TarEntry,
} from '../../src/adapters/build/tar.ts'
import { chunkIndexPinOf } from '../../src/adapters/libp2p/partial-artifact.ts'
import {
  assertRefused,
  convoy,
  convoyOk,
  makeTempDir,
  type RunResult,
  removeDir,
  snapshot,
} from './helpers.ts'

const exec = promisify(execFile)
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const VERSION = '3.1.4'
const TOP = `convoy-${VERSION}`

let work: string
/** A clone of the repository at HEAD (only reads the repository), node_modules linked in. */
let src: string
let head: string
let artifact: { sha256: string; length: number; packTool: string }

/** Runs in `work` with CONVOY_HOME `work/<home>`. */
function run(args: string[], home = 'home', cwd = work): Promise<RunResult> {
  return convoy(args, { cwd, env: { CONVOY_HOME: join(work, home) } })
}
function ok(args: string[], home = 'home', cwd = work): Promise<RunResult> {
  return convoyOk(args, { cwd, env: { CONVOY_HOME: join(work, home) } })
}

async function cloneAtHead(dest: string): Promise<void> {
  await exec('git', ['clone', '--quiet', '--no-local', REPO, dest])
  await symlink(join(REPO, 'node_modules'), join(dest, 'node_modules'), 'dir')
}

before(async () => {
  work = await makeTempDir('rebuild')
  src = join(work, 'src')
  await cloneAtHead(src)
  head = (await exec('git', ['-C', src, 'rev-parse', 'HEAD'])).stdout.trim()
  for (const n of ['alice', 'bob']) await ok(['keys', 'generate', '--out', `${n}.key`, '--name', n])
  await ok([
    'root',
    'init',
    '--network',
    'demo',
    '--threshold',
    '2',
    '--key',
    'alice.key',
    '--key',
    'bob.key',
    '--out',
    'root.json',
  ])
  for (const n of ['alice', 'bob']) await ok(['root', 'sign', 'root.json', '--key', `${n}.key`])
  const packed = await ok([
    'release',
    'pack',
    '--version',
    VERSION,
    '--source',
    src,
    '--out',
    'convoy.tgz',
    '--json',
  ])
  artifact = JSON.parse(packed.stdout)
  assert.equal(JSON.parse(packed.stdout).commit, head)
})

after(() => removeDir(work))

describe('release draft --from-pack', () => {
  it('records the commit and pack tool from PACK.json and pins the file as the node artifact', async () => {
    const r = await ok([
      'release',
      'draft',
      '--root',
      'root.json',
      '--channel',
      'stable',
      '--version',
      VERSION,
      '--from-pack',
      'convoy.tgz',
      '--out',
      'release.json',
      '--json',
    ])
    const bytes = await readFile(join(work, 'convoy.tgz'))
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    const release = JSON.parse(r.stdout).release
    assert.deepEqual(release.artifacts.node, { sha256, length: bytes.length })
    // Beside it, the chunk index of the same file (docs/protocol.md, "Chunked artifacts").
    assert.deepEqual(
      release.artifacts['node.chunks'],
      await chunkIndexPinOf(join(work, 'convoy.tgz'), bytes.length),
    )
    assert.equal(artifact.sha256, sha256)
    assert.deepEqual(release.source, { commit: head, packTool: artifact.packTool })
    assert.match(release.source.packTool, /^convoy-pack\/1\+esbuild\//)
    const onDisk = JSON.parse(await readFile(join(work, 'release.json'), 'utf8'))
    assert.deepEqual(onDisk.signed.source, release.source)
  })

  it('refuses what is not a pack, another version, and flags contradicting PACK.json', async () => {
    const base = ['release', 'draft', '--root', 'root.json', '--channel', 'stable']
    const out = ['--out', 'bad.json']
    assertRefused(
      await run([...base, '--version', VERSION, '--from-pack', 'root.json', ...out]),
      'not a convoy pack',
    )
    assertRefused(
      await run([...base, '--version', '9.9.9', '--from-pack', 'convoy.tgz', ...out]),
      `was packed as version ${VERSION}, not 9.9.9`,
    )
    assertRefused(
      await run([
        ...base,
        '--version',
        VERSION,
        '--from-pack',
        'convoy.tgz',
        '--source-commit',
        'abcdef0',
        ...out,
      ]),
      `--source-commit abcdef0 contradicts ${TOP}/PACK.json`,
      2,
    )
    assertRefused(
      await run([
        ...base,
        '--version',
        VERSION,
        '--from-pack',
        'convoy.tgz',
        '--artifact',
        'node=root.json',
        ...out,
      ]),
      'is not the --from-pack file',
      2,
    )
    assert.ok(!(await readdir(work)).includes('bad.json'))
  })

  it('a pack made outside git needs --source-commit', async () => {
    const copy = join(work, 'no-git')
    await cp(src, copy, { recursive: true, filter: (p) => basename(p) !== '.git' })
    await ok(['release', 'pack', '--version', VERSION, '--source', copy, '--out', 'no-git.tgz'])
    const args = ['release', 'draft', '--root', 'root.json', '--channel', 'stable']
    args.push('--version', VERSION, '--from-pack', 'no-git.tgz', '--out', 'no-git.json')
    assertRefused(await run(args), 'packed outside a git checkout')
    const r = await ok([...args, '--source-commit', head, '--json'])
    assert.equal(JSON.parse(r.stdout).release.source.commit, head)
  })
})

describe('release rebuild-check', () => {
  it('--source rebuilds the same bytes: exit 0, "reproduced", a record under CONVOY_HOME', async () => {
    const r = await ok(['release', 'rebuild-check', 'release.json', '--source', src], 'checker')
    assert.equal(r.stdout.split('\n')[0], `reproduced: ${artifact.sha256} from ${head}`)
    const file = join(work, 'checker', 'reproduced', `${artifact.sha256}.json`)
    const record = JSON.parse(await readFile(file, 'utf8'))
    assert.deepEqual(Object.keys(record).sort(), ['commit', 'packTool', 'sha256', 'when'])
    assert.equal(record.sha256, artifact.sha256)
    assert.equal(record.commit, head)
    assert.equal(record.packTool, artifact.packTool)
    assert.match(record.when, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.deepEqual(await readdir(join(work, 'checker', 'reproduced')), [
      `${artifact.sha256}.json`,
    ])
  })

  it('a one-byte change in one source file: exit 1, and --artifact names convoy.mjs', async () => {
    const main = join(src, 'src/cli/main.ts')
    const text = await readFile(main, 'utf8')
    const changed = text.replace('peer-to-peer upgrades', 'peer-to-peer upgradeS')
    assert.notEqual(changed, text)
    assert.equal(Buffer.byteLength(changed), Buffer.byteLength(text))
    await writeFile(main, changed)
    try {
      const args = ['release', 'rebuild-check', 'release.json', '--source', src]
      const bare = await run(args, 'changed-home')
      assertRefused(bare, 'not reproduced', 1)
      assert.match(bare.stderr, new RegExp(`pins ${artifact.sha256.slice(0, 12)}…`))
      assert.match(bare.stderr, /pass --artifact FILE/)
      const named = await run([...args, '--artifact', 'convoy.tgz'], 'changed-home')
      assertRefused(named, `differs: ${TOP}/convoy.mjs (sha256 `, 1)
      assert.match(named.stderr, /… here, [0-9a-f]{12}… in the signed artifact\)/)
      const json = await run([...args, '--artifact', 'convoy.tgz', '--json'], 'changed-home')
      assert.equal(json.code, 1)
      assert.match(JSON.parse(json.stdout).error, new RegExp(`differs: ${TOP}/convoy\\.mjs`))
      // Nothing is recorded for a build that did not reproduce.
      assert.ok(!(await readdir(work)).includes('changed-home'))
    } finally {
      await writeFile(main, text)
    }
  })

  it('--artifact must be the file the manifest pins', async () => {
    assertRefused(
      await run(['release', 'rebuild-check', 'release.json', '--artifact', 'root.json']),
      '--artifact root.json is not the artifact release.json pins',
    )
  })

  it('the default source: a fresh clone of this repository at the recorded commit', async (t) => {
    const status = await exec('git', [
      '-C',
      REPO,
      'status',
      '--porcelain',
      '--',
      'package-lock.json',
    ])
      .then((r) => r.stdout)
      .catch((e: Error) => `git status failed: ${e.message}`)
    if (status.trim() !== '') {
      t.skip(
        `package-lock.json of ${REPO} differs from HEAD, so a clone at HEAD cannot reuse its node_modules: ${status.trim()}`,
      )
      return
    }
    const r = await ok(['release', 'rebuild-check', 'release.json', '--json'], 'default-home')
    const j = JSON.parse(r.stdout)
    assert.deepEqual(
      [j.reproduced, j.sha256, j.commit],
      [true, artifact.sha256, head],
      'a clone at the recorded commit packs the same bytes',
    )
    // A commit the repository does not have: one clear line, nothing recorded.
    const doc = JSON.parse(await readFile(join(work, 'release.json'), 'utf8'))
    doc.signed.source.commit = 'abcdef0123456'
    await writeFile(join(work, 'unknown-commit.json'), JSON.stringify(doc))
    const unknown = await run(['release', 'rebuild-check', 'unknown-commit.json'], 'unknown-home')
    assertRefused(unknown, 'commit abcdef0123456 is not in')
    assert.match(unknown.stderr, /pass --source DIR/)
    assert.ok(!(await readdir(work)).includes('unknown-home'))
  })
})

describe('release sign and inspect: the reproduced-build attestation', () => {
  it('signing without a reproduced build is refused and changes nothing', async () => {
    const machine = join(work, 'machine-bob')
    await mkdir(machine)
    await cp(join(work, 'release.json'), join(machine, 'release.json'))
    await cp(join(work, 'root.json'), join(machine, 'root.json'))
    const before = await snapshot(machine)
    const r = await run(
      ['release', 'sign', 'release.json', '--key', join(work, 'bob.key')],
      'bob-home',
      machine,
    )
    assertRefused(
      r,
      `refusing to sign: you have not reproduced artifact ${artifact.sha256.slice(0, 12)}… on this machine; run \`convoy release rebuild-check release.json\` first, or pass --no-rebuild-check to sign without it`,
      1,
    )
    const after = await snapshot(machine)
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort())
    for (const [f, b] of before) assert.ok(b.equals(after.get(f)!), `${f} changed`)

    // Said in so many words: signed, with a warning, and no attestation.
    const forced = await ok(
      [
        'release',
        'sign',
        'release.json',
        '--key',
        join(work, 'bob.key'),
        '--no-rebuild-check',
        '--json',
      ],
      'bob-home',
      machine,
    )
    const j = JSON.parse(forced.stdout)
    assert.deepEqual([j.alreadySigned, j.reproduced, j.signed], [false, false, 1])
    assert.match(forced.stderr, /^convoy: warning: --no-rebuild-check: signed without rebuilding/)
    const doc = JSON.parse(await readFile(join(machine, 'release.json'), 'utf8'))
    assert.equal(doc.signatures.length, 1)
    assert.equal(doc.signatures[0].attestation, undefined)
  })

  it("signing after rebuild-check adds the attestation to that key's entry; twice is a no-op", async () => {
    const machine = join(work, 'machine-alice')
    await mkdir(machine)
    await cp(join(work, 'release.json'), join(machine, 'release.json'))
    await cp(join(work, 'root.json'), join(machine, 'root.json'))
    const key = join(work, 'alice.key')
    const sign = (...extra: string[]) =>
      ok(['release', 'sign', 'release.json', '--key', key, ...extra], 'alice-home', machine)
    // First without a rebuild, then after one: the same entry gains the attestation.
    await sign('--no-rebuild-check')
    const plain = JSON.parse(await readFile(join(machine, 'release.json'), 'utf8')).signatures
    await ok(['release', 'rebuild-check', 'release.json', '--source', src], 'alice-home', machine)
    const r = await sign()
    assert.match(
      r.stdout,
      /^added a reproduced-build attestation to the signature of [0-9a-f]{12} \(alice\)/,
    )
    const file = join(machine, 'release.json')
    const attested = JSON.parse(await readFile(file, 'utf8')).signatures
    assert.equal(attested.length, 1)
    assert.equal(attested[0].sig, plain[0].sig)
    assert.equal(attested[0].attestation.reproduced, true)
    assert.match(attested[0].attestation.sig, /^[0-9a-f]{128}$/)
    const bytes = await readFile(file)
    const again = await sign('--json')
    assert.deepEqual(
      [JSON.parse(again.stdout).alreadySigned, JSON.parse(again.stdout).reproduced],
      [true, true],
    )
    assert.ok(bytes.equals(await readFile(file)), 'signing twice changed the file')
    // Signing again with --no-rebuild-check never takes the attestation away.
    await sign('--no-rebuild-check')
    assert.ok(bytes.equals(await readFile(file)), '--no-rebuild-check removed the attestation')
  })

  it('inspect shows which signers declared a reproduced build', async () => {
    await ok([
      'release',
      'merge',
      'machine-alice/release.json',
      'machine-bob/release.json',
      '--out',
      'signed.json',
    ])
    await ok(['release', 'verify', 'signed.json', '--root', 'root.json'])
    const r = await ok(['release', 'inspect', 'signed.json', '--root', 'root.json'])
    const lines = r.stdout.split('\n')
    assert.ok(
      lines.some((l) => /^ {2}signed: +[0-9a-f]{12} \(alice\) - reproduced$/.test(l)),
      r.stdout,
    )
    assert.ok(
      lines.some((l) =>
        /^ {2}signed: +[0-9a-f]{12} \(bob\) - did not declare a reproduced build$/.test(l),
      ),
      r.stdout,
    )
    assert.match(r.stdout, /COMPLETE; 1 reproduced the build/)
    const j = JSON.parse(
      (await ok(['release', 'inspect', 'signed.json', '--root', 'root.json', '--json'])).stdout,
    )
    const alice = JSON.parse(await readFile(join(work, 'alice.key'), 'utf8')).keyid
    assert.deepEqual(j.reproduced, [alice])

    // A forged attestation (bob's entry carrying alice's) shows bob as not reproduced, and
    // changes nothing about the count.
    const doc = JSON.parse(await readFile(join(work, 'signed.json'), 'utf8'))
    const a = doc.signatures.find((s: { keyid: string }) => s.keyid === alice)
    const b = doc.signatures.find((s: { keyid: string }) => s.keyid !== alice)
    b.attestation = a.attestation
    await writeFile(join(work, 'forged.json'), JSON.stringify(doc))
    await ok(['release', 'verify', 'forged.json', '--root', 'root.json'])
    const f = JSON.parse(
      (await ok(['release', 'inspect', 'forged.json', '--root', 'root.json', '--json'])).stdout,
    )
    assert.deepEqual(f.reproduced, [alice])
    assert.equal(f.signatures.signed.length, 2)
  })
})

describe('rebuild adapters', () => {
  it('checkoutSource refuses to reuse node_modules when the lockfile differs', async () => {
    // A clone whose working-tree lockfile differs from its HEAD stands in for a running
    // repository whose dependencies are not those of the recorded commit.
    const repo = join(work, 'lock-repo')
    await exec('git', ['clone', '--quiet', '--no-local', REPO, repo])
    await writeFile(
      join(repo, 'package-lock.json'),
      `${await readFile(join(repo, 'package-lock.json'), 'utf8')}\n`,
    )
    await assert.rejects(
      checkoutSource({ repo, commit: head, tmp: work }),
      (e: unknown) =>
        e instanceof RebuildError &&
        e.message.includes(`run \`npm ci\` in a checkout of ${head} and pass --source DIR`),
    )
    // The temporary checkout is gone again.
    assert.ok(!(await readdir(work)).some((f) => f.startsWith('convoy-rebuild-')))
  })

  it('firstDifference names presence, mode and content in path order, PACK.json last', () => {
    const file = (path: string, text: string, mode = 0o644): TarEntry => ({
      path,
      data: new TextEncoder().encode(text),
      mode,
    })
    const tgz = (entries: TarEntry[]) => gzipDeterministic(createTar(entries))
    const base = [
      file('v/', '', 0o755),
      file('v/PACK.json', '{}'),
      file('v/a.mjs', 'a'),
      file('v/b.json', 'b'),
    ]
    const signed = tgz(base)
    const swap = (i: number, e: TarEntry) => base.map((x, j) => (j === i ? e : x))
    assert.match(
      firstDifference(tgz(swap(2, file('v/a.mjs', 'A'))), signed),
      /^v\/a\.mjs \(sha256 [0-9a-f]{12}… here, [0-9a-f]{12}… in the signed artifact\)$/,
    )
    assert.equal(
      firstDifference(tgz(swap(3, file('v/b.json', 'b', 0o755))), signed),
      'v/b.json (mode 0755 here, 0644 in the signed artifact)',
    )
    assert.equal(
      firstDifference(tgz(base.filter((e) => e.path !== 'v/b.json')), signed),
      'v/b.json (only in the signed artifact)',
    )
    assert.equal(
      firstDifference(tgz([...base, file('v/c.mjs', 'c')]), signed),
      'v/c.mjs (only here)',
    )
    // PACK.json sorts first but lists the others' hashes: a.mjs is the file to name.
    const both = swap(1, file('v/PACK.json', '{"a":1}')).map((e) =>
      e.path === 'v/a.mjs' ? file('v/a.mjs', 'A') : e,
    )
    assert.match(firstDifference(tgz(both), signed), /^v\/a\.mjs /)
    assert.match(
      firstDifference(tgz(swap(1, file('v/PACK.json', '[]'))), signed),
      /^v\/PACK\.json /,
    )
    // Same files, another compression: said so, no file named.
    const other = new Uint8Array(signed)
    other[9] = 3
    assert.match(firstDifference(other, signed), /only the gzip stream differs/)
    assert.throws(() => firstDifference(new Uint8Array([1, 2, 3]), signed), RebuildError)
  })

  it('readTar reads back what createTar wrote, long paths included', () => {
    const long = `convoy-1.0.0/${'d'.repeat(120)}/file.mjs`
    const entries: TarEntry[] = [
      { path: 'convoy-1.0.0/', data: new Uint8Array(0), mode: 0o755 },
      { path: long, data: new Uint8Array(1500).fill(7), mode: 0o600 },
    ]
    const members = readTar(createTar(entries))
    assert.deepEqual(
      members.map((m) => [m.path, m.mode, m.type, m.data.length]),
      [
        ['convoy-1.0.0/', 0o755, '5', 0],
        [long, 0o600, '0', 1500],
      ],
    )
    assert.ok(members[1]!.data.every((b) => b === 7))
    const corrupt = createTar(entries)
    corrupt[0] = corrupt[0]! ^ 1
    assert.throws(() => readTar(corrupt), /bad header checksum/)
  })
})
