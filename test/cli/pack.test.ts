/**
 * `convoy release pack` and `convoy version`, end to end: the artifact is byte-reproducible
 * across checkouts, times and umasks, changes with the source, and runs with plain `node` from
 * an extracted copy with no node_modules.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmod, cp, mkdir, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  assertRefused,
  cleanEnv,
  collect,
  convoy,
  makeTempDir,
  type RunResult,
  removeDir,
} from './helpers.ts'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const VERSION = '7.3.1-rc.2'

/** A copy of the repository's source (no .git) with the shared node_modules symlinked in. */
async function copySource(dest: string, mtime: Date): Promise<void> {
  await mkdir(dest, { recursive: true })
  for (const name of ['src', 'bin', 'package.json', 'package-lock.json']) {
    await cp(join(REPO, name), join(dest, name), { recursive: true })
  }
  await symlink(join(REPO, 'node_modules'), join(dest, 'node_modules'), 'dir')
  const entries = await readdir(dest, { recursive: true, withFileTypes: true })
  for (const e of entries) {
    if (e.name === 'node_modules') continue
    await utimes(join(e.parentPath, e.name), mtime, mtime)
  }
}

/**
 * Runs the checkout's own `bin/convoy.js` under `sh -c 'umask 077; exec ...'`, with another
 * locale and time zone.
 */
function convoyUmask077(
  checkout: string,
  args: readonly string[],
  cwd: string,
): Promise<RunResult> {
  return collect(
    'sh',
    ['-c', 'umask 077; exec "$0" "$@"', process.execPath, join(checkout, 'bin/convoy.js'), ...args],
    {
      cwd,
      env: cleanEnv({ TZ: 'Pacific/Chatham', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' }),
      stdin: 'ignore',
      timeout: 60_000,
    },
  )
}

interface PackJson {
  ok: boolean
  file: string
  version: string
  sha256: string
  length: number
  commit: string
  packTool: string
  files: { path: string; sha256: string; size: number }[]
}

function parsePack(r: RunResult): PackJson {
  assert.equal(r.code, 0, `pack failed: ${r.stdout}\n${r.stderr}`)
  return JSON.parse(r.stdout) as PackJson
}

describe('convoy release pack', () => {
  let work: string
  let dirA: string
  let dirB: string
  let first: PackJson
  let second: PackJson
  let packMs = 0

  before(async () => {
    work = await makeTempDir('pack')
    dirA = join(work, 'a')
    // A different depth too: nothing relative to the checkout may leak into the bundle.
    dirB = join(work, 'elsewhere', 'deeper', 'b')
    await copySource(dirA, new Date('2001-02-03T04:05:06Z'))
    await copySource(dirB, new Date('2030-12-31T23:59:59Z'))
    // Other permission bits on the second copy's files: the archive must not carry them.
    await chmod(join(dirB, 'src/cli/main.ts'), 0o600)
    await chmod(join(dirB, 'package.json'), 0o664)

    const t = performance.now()
    first = parsePack(
      await convoy(
        ['release', 'pack', '--version', VERSION, '--source', dirA, '--out', 'a.tgz', '--json'],
        { cwd: work },
      ),
    )
    packMs = performance.now() - t
    second = parsePack(
      // No --source: a checkout's own convoy packs that checkout.
      await convoyUmask077(
        dirB,
        ['release', 'pack', '--version', VERSION, '--out', join(work, 'b.tgz'), '--json'],
        dirB,
      ),
    )
  })

  after(() => removeDir(work))

  test('two checkouts with other paths, mtimes and umask pack byte-identical artifacts', async () => {
    assert.match(first.sha256, /^[0-9a-f]{64}$/)
    assert.equal(second.sha256, first.sha256)
    const a = await readFile(join(work, 'a.tgz'))
    const b = await readFile(join(work, 'b.tgz'))
    assert.ok(a.equals(b), 'the two artifacts differ')
    assert.equal(a.length, first.length)
    // No git in the copies: the commit is said to be unknown, not guessed.
    assert.equal(first.commit, 'unknown')
    assert.match(first.packTool, /^convoy-pack\/1\+esbuild\/\d+\.\d+\.\d+\S*$/)
    // How long a pack takes is a benchmark's business (bench/), not a test's: no budget here.
    assert.ok(packMs > 0)
  })

  test('--source defaults to the checkout convoy runs from, with its git commit', async () => {
    const r = parsePack(
      await convoy(['release', 'pack', '--version', VERSION, '--out', 'self.tgz', '--json'], {
        cwd: work,
      }),
    )
    const head = (
      await run('git', ['-C', REPO, 'rev-parse', 'HEAD']).catch(() => undefined)
    )?.stdout.trim()
    assert.equal(r.commit, head ?? 'unknown')
  })

  test('a one-byte change in one source file changes the artifact', async () => {
    const main = join(dirA, 'src/cli/main.ts')
    const text = await readFile(main, 'utf8')
    const changed = text.replace('peer-to-peer upgrades', 'peer-to-peer upgradeS')
    assert.notEqual(changed, text)
    assert.equal(Buffer.byteLength(changed), Buffer.byteLength(text))
    await writeFile(main, changed)
    try {
      const r = parsePack(
        await convoy(
          ['release', 'pack', '--version', VERSION, '--source', dirA, '--out', 'c.tgz', '--json'],
          { cwd: work },
        ),
      )
      assert.notEqual(r.sha256, first.sha256)
    } finally {
      await writeFile(main, text)
    }
  })

  test('the extracted artifact runs with plain node and holds only convoy-<V>/ files', async () => {
    const top = `convoy-${VERSION}`
    const listing = (await run('tar', ['-tzf', join(work, 'a.tgz')])).stdout.trim().split('\n')
    assert.deepEqual(listing, [
      `${top}/`,
      `${top}/PACK.json`,
      `${top}/convoy.mjs`,
      `${top}/package.json`,
    ])
    const verbose = (await run('tar', ['-tvzf', join(work, 'a.tgz')])).stdout.trim().split('\n')
    for (const line of verbose) {
      assert.match(line, / 0\/0 .* 1970-01-01 00:00 /, line)
      assert.match(
        line,
        line.endsWith('convoy.mjs') || line.endsWith('/') ? /^.rwxr-xr-x / : /^-rw-r--r-- /,
      )
    }

    const x = join(work, 'extracted')
    await mkdir(x)
    await run('tar', ['-xzf', join(work, 'a.tgz'), '-C', x])
    const bundle = await readFile(join(x, top, 'convoy.mjs'), 'utf8')
    assert.ok(bundle.startsWith('#!/usr/bin/env node\n'))
    for (const leak of [work, REPO, '/tmp/', '/home/', '/work/']) {
      assert.ok(!bundle.includes(leak), `the bundle names a build path: ${leak}`)
    }
    assert.ok(!bundle.includes('sourceMappingURL'))

    const pkg = JSON.parse(await readFile(join(x, top, 'package.json'), 'utf8'))
    assert.deepEqual(pkg, {
      name: 'convoy',
      version: VERSION,
      type: 'module',
      bin: { convoy: 'convoy.mjs' },
    })
    const pack = JSON.parse(await readFile(join(x, top, 'PACK.json'), 'utf8'))
    assert.equal(pack.version, VERSION)
    assert.equal(pack.commit, 'unknown')
    assert.equal(pack.packTool, first.packTool)
    assert.deepEqual(Object.keys(pack.files), ['convoy.mjs', 'package.json'])
    assert.equal(pack.files['convoy.mjs'].size, Buffer.byteLength(bundle))

    // Run from a directory with no node_modules anywhere above it that could be used.
    const node = (args: string[]) =>
      run(process.execPath, [join(top, 'convoy.mjs'), ...args], { cwd: x, env: cleanEnv() })
    const v = await node(['version', '--json'])
    assert.deepEqual(JSON.parse(v.stdout), { ok: true, version: VERSION })
    const k = await node(['keys', 'generate', '--out', 'k.key', '--json'])
    assert.equal(JSON.parse(k.stdout).ok, true)
    assert.match(await readFile(join(x, 'k.key'), 'utf8'), /\S/)
  })

  test('--migration ships the script as migrate.mjs, byte for byte', async () => {
    const script = join(work, 'to-7.3.mjs')
    const body = '// moves state.json to state-v2.json\nexport async function migrate() {}\n'
    await writeFile(script, body)
    const r = parsePack(
      await convoy(
        [
          'release',
          'pack',
          '--version',
          VERSION,
          '--out',
          'm.tgz',
          '--migration',
          script,
          '--source',
          dirB,
          '--json',
        ],
        { cwd: work },
      ),
    )
    assert.notEqual(r.sha256, first.sha256)
    const top = `convoy-${VERSION}`
    assert.ok(r.files.some((f) => f.path === `${top}/migrate.mjs`))
    const listing = (await run('tar', ['-tzf', join(work, 'm.tgz')])).stdout.trim().split('\n')
    assert.ok(listing.includes(`${top}/migrate.mjs`), listing.join(', '))
    const shipped = (await run('tar', ['-xzOf', join(work, 'm.tgz'), `${top}/migrate.mjs`])).stdout
    assert.equal(shipped, body)
  })

  test('bad inputs are refused in one line, and nothing is written', async () => {
    const cases: [string[], string][] = [
      [['--version', 'v1.2'], 'is not a semver version'],
      [['--version', '1.2.3', '--migration', join(work, 'missing.mjs')], 'no such file'],
      [['--version', '1.2.3', '--source', join(work, 'nowhere')], 'no such directory'],
      [['--version', '1.2.3', '--source', work], 'not a convoy source tree'],
    ]
    for (const [args, reason] of cases) {
      assertRefused(
        await convoy(['release', 'pack', ...args, '--out', 'bad.tgz'], { cwd: work }),
        reason,
      )
    }
    // A source tree without node_modules: say how to fix it.
    const bare = join(work, 'bare')
    await mkdir(join(bare, 'src/cli'), { recursive: true })
    await writeFile(join(bare, 'src/cli/main.ts'), 'export async function main() {}\n')
    assertRefused(
      await convoy(
        ['release', 'pack', '--version', '1.2.3', '--source', bare, '--out', 'bad.tgz'],
        {
          cwd: work,
        },
      ),
      `run npm ci in ${bare} first`,
    )
    assertRefused(
      await convoy(
        ['release', 'pack', '--version', '1.2.3', '--out', join(work, 'no-dir', 'x.tgz')],
        { cwd: work },
      ),
      'cannot write',
    )
    assert.ok(!(await readdir(work)).some((f) => f.startsWith('bad.tgz') || f.includes('.tmp')))
  })
})

describe('convoy version', () => {
  test('prints the version from package.json', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8'))
    const dir = await makeTempDir('version')
    try {
      const text = await convoy(['version'], { cwd: dir })
      assert.equal(text.code, 0)
      assert.equal(text.stdout, `convoy ${pkg.version}\n`)
      const json = await convoy(['version', '--json'], { cwd: dir })
      assert.deepEqual(JSON.parse(json.stdout), { ok: true, version: pkg.version })
    } finally {
      await removeDir(dir)
    }
  })
})
