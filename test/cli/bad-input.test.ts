/**
 * Bad input to the real `convoy` binary: each case must exit non-zero with one clear line on
 * stderr (no stack trace), and leave the directory exactly as it was (no temporary or partial
 * files, nothing rewritten).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  assertRefused,
  assertSameFiles,
  convoy,
  convoyOk,
  makeTempDir,
  type RunResult,
  removeDir,
  snapshot,
} from './helpers.ts'

let dir: string

function run(args: string[]): Promise<RunResult> {
  return convoy(args, { cwd: dir })
}
function ok(args: string[]): Promise<RunResult> {
  return convoyOk(args, { cwd: dir })
}

/** Runs a command that must fail, and checks that it changed nothing on disk. */
async function refused(args: string[], reason: string, code?: number): Promise<RunResult> {
  const before = await snapshot(dir)
  const r = await run(args)
  assertRefused(r, reason, code)
  assertSameFiles(before, await snapshot(dir))
  return r
}

const MAINTAINERS = ['k1', 'k2', 'k3']

async function draft(out: string, version: string, artifact: string, ...extra: string[]) {
  await ok([
    'release',
    'draft',
    '--root',
    'root.json',
    '--channel',
    'stable',
    '--version',
    version,
    '--sequence',
    '4',
    '--artifact',
    `linux-x64=${artifact}`,
    '--out',
    out,
    ...extra,
  ])
}

async function signAll(file: string, root = 'root.json'): Promise<void> {
  // The artifacts here are not convoy builds: there is nothing to rebuild.
  for (const k of MAINTAINERS)
    await ok(['release', 'sign', file, '--key', `${k}.key`, '--root', root, '--no-rebuild-check'])
}

/** A copy of `good.json` with `edit` applied to its text. */
async function variant(name: string, edit: (text: string) => string): Promise<string> {
  const text = await readFile(join(dir, 'good.json'), 'utf8')
  const edited = edit(text)
  assert.notEqual(edited, text, `the edit for ${name} changed nothing`)
  await writeFile(join(dir, name), edited)
  return name
}

before(async () => {
  dir = await makeTempDir('bad')
  await Promise.all(
    [...MAINTAINERS, 'outsider'].map((k) =>
      ok(['keys', 'generate', '--out', `${k}.key`, '--name', k]),
    ),
  )
  const keyArgs = MAINTAINERS.flatMap((k) => ['--key', `${k}.key`])
  await ok([
    'root',
    'init',
    '--network',
    'testnet',
    '--threshold',
    '3',
    ...keyArgs,
    '--out',
    'root.json',
  ])
  await ok([
    'root',
    'init',
    '--network',
    'othernet',
    '--threshold',
    '1',
    ...keyArgs,
    '--out',
    'other-root.json',
  ])
  for (const k of MAINTAINERS) await ok(['root', 'sign', 'root.json', '--key', `${k}.key`])
  await ok(['root', 'sign', 'other-root.json', '--key', 'k1.key'])
  await writeFile(join(dir, 'good.tgz'), 'the real build\n')
  await writeFile(join(dir, 'evil.tgz'), 'a backdoored build\n')
  await draft('good.json', '1.2.0', 'good.tgz')
  await draft('evil.json', '1.2.1', 'evil.tgz')
  await draft('expired.json', '1.2.0', 'good.tgz', '--expires', '0s')
  await Promise.all([signAll('good.json'), signAll('evil.json'), signAll('expired.json')])
  await ok(['release', 'verify', 'good.json', '--root', 'root.json'])
})

after(async () => {
  await removeDir(dir)
})

describe('bad input: keys and signing', () => {
  it('keys generate refuses to overwrite an existing file', async () => {
    await refused(['keys', 'generate', '--out', 'k1.key'], 'already exists: refusing to overwrite')
  })

  it('keys generate into a missing directory fails on one line', async () => {
    await refused(['keys', 'generate', '--out', join('no-such-dir', 'k.key')], 'ENOENT')
  })

  it('release sign with a key outside the root', async () => {
    await refused(
      ['release', 'sign', 'good.json', '--key', 'outsider.key', '--root', 'root.json'],
      'is not in root',
    )
  })

  it('release sign without a rebuild check, of a manifest with no node artifact', async () => {
    await refused(
      ['release', 'sign', 'good.json', '--key', 'k1.key', '--root', 'root.json'],
      'refusing to sign: good.json pins no `node` artifact',
    )
  })

  it('release rebuild-check of a manifest that records no source', async () => {
    await refused(['release', 'rebuild-check', 'good.json'], 'good.json records no source')
  })

  it('release rebuild-check of a missing manifest', async () => {
    await refused(['release', 'rebuild-check', 'nope.json'], 'nope.json: no such file')
  })
})

describe('bad input: release verify', () => {
  it('an expired manifest', async () => {
    await refused(['release', 'verify', 'expired.json', '--root', 'root.json'], 'expired at')
  })

  it('a root of another network', async () => {
    await refused(['release', 'verify', 'good.json', '--root', 'other-root.json'], 'wrong network')
  })

  it('another channel', async () => {
    await refused(
      ['release', 'verify', 'good.json', '--root', 'root.json', '--channel', 'beta'],
      'wrong channel',
    )
  })

  it('a replayed older sequence', async () => {
    await refused(
      ['release', 'verify', 'good.json', '--root', 'root.json', '--trusted-sequence', '7'],
      'older than trusted 7',
    )
  })

  it('a tampered version string', async () => {
    const f = await variant('tampered.json', (t) =>
      t.replace('"version": "1.2.0"', '"version": "1.2.9"'),
    )
    await refused(['release', 'verify', f, '--root', 'root.json'], 'threshold not met')
  })

  it('a re-encoded manifest (other whitespace and key order) still verifies', async () => {
    const doc = JSON.parse(await readFile(join(dir, 'good.json'), 'utf8'))
    const reversed = (v: unknown): unknown =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(
            Object.entries(v)
              .reverse()
              .map(([k, x]) => [k, reversed(x)]),
          )
        : v
    const text = JSON.stringify({ signed: reversed(doc.signed), signatures: doc.signatures })
    assert.ok(text.indexOf('"version"') < text.indexOf('"artifacts"'), 'keys were reordered')
    await writeFile(join(dir, 'reencoded.json'), text)
    const r = await ok(['release', 'verify', 'reencoded.json', '--root', 'root.json'])
    assert.match(r.stdout, /valid testnet\/stable 1\.2\.0/)
  })

  it('a duplicate JSON member name', async () => {
    // JSON.parse would keep the last "version" and the signatures would check out.
    const f = await variant('duplicate.json', (t) =>
      t.replace('"version": "1.2.0"', '"version": "6.6.6",\n    "version": "1.2.0"'),
    )
    assert.equal(JSON.parse(await readFile(join(dir, f), 'utf8')).signed.version, '1.2.0')
    await refused(['release', 'verify', f, '--root', 'root.json'], 'duplicate member name')
  })

  it('an oversized file (> 64 KiB), even when it is valid JSON', async () => {
    const f = await variant('oversized.json', (t) => `${t}${' '.repeat(65 * 1024)}`)
    await refused(['release', 'verify', f, '--root', 'root.json'], 'too large')
  })

  it('garbage bytes and text that is not JSON', async () => {
    await writeFile(join(dir, 'garbage.json'), randomBytes(2048))
    await refused(['release', 'verify', 'garbage.json', '--root', 'root.json'], 'malformed')
    await writeFile(join(dir, 'text.json'), 'this is not a manifest\n')
    await refused(['release', 'verify', 'text.json', '--root', 'root.json'], 'malformed')
  })

  it('a missing file', async () => {
    await refused(['release', 'verify', 'nope.json', '--root', 'root.json'], 'no such file')
    await refused(['release', 'verify', 'good.json', '--root', 'nope-root.json'], 'no such file')
  })

  it('a directory instead of a file', async () => {
    await mkdir(join(dir, 'a-directory'), { recursive: true })
    await refused(['release', 'verify', 'a-directory', '--root', 'root.json'], 'cannot read')
  })

  it('an unknown option: exit 2 and the usage', async () => {
    const before = await snapshot(dir)
    const r = await run(['release', 'verify', 'good.json', '--root', 'root.json', '--bogus'])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^convoy: Unknown option '--bogus'/)
    assert.match(r.stderr, /\nusage: convoy release verify FILE --root root\.json/)
    assert.ok(!r.stderr.includes('    at '), r.stderr)
    assertSameFiles(before, await snapshot(dir))
  })

  it('the artifact pin of another manifest pasted into the signed part', async () => {
    const good = JSON.parse(await readFile(join(dir, 'good.json'), 'utf8'))
    const evil = JSON.parse(await readFile(join(dir, 'evil.json'), 'utf8'))
    good.signed.artifacts = evil.signed.artifacts
    await writeFile(join(dir, 'pasted.json'), JSON.stringify(good, null, 2))
    await refused(['release', 'verify', 'pasted.json', '--root', 'root.json'], 'threshold not met')
  })
})

describe('bad input: release draft and merge', () => {
  const base = ['release', 'draft', '--root', 'root.json', '--channel', 'stable']
  const out = ['--out', 'new.json']

  it('a missing artifact file', async () => {
    await refused(
      [...base, '--version', '1.3.0', '--artifact', 'linux-x64=missing.tgz', ...out],
      'linux-x64=missing.tgz: cannot read (ENOENT)',
    )
  })

  it('a bad --version', async () => {
    await refused(
      [...base, '--version', '1.3', '--artifact', 'linux-x64=good.tgz', ...out],
      'not a semver',
      2,
    )
  })

  it('a bad --window', async () => {
    await refused(
      [
        ...base,
        '--version',
        '1.3.0',
        '--artifact',
        'linux-x64=good.tgz',
        '--window',
        '3 weeks',
        ...out,
      ],
      '--window "3 weeks" is not a duration',
      2,
    )
  })

  it('an --out in a missing directory', async () => {
    await refused(
      [
        ...base,
        '--version',
        '1.3.0',
        '--artifact',
        'linux-x64=good.tgz',
        '--out',
        'no-such-dir/new.json',
      ],
      'ENOENT',
    )
  })

  it('release merge of two different drafts', async () => {
    await refused(
      ['release', 'merge', 'good.json', 'evil.json', '--out', 'merged.json'],
      'different document',
    )
  })
})
