/**
 * `npm start`: the maintainer walk-through, end to end, with the real `convoy` binary in a
 * temporary directory. Five maintainers make keys, set up a 3-of-5 key set, pack a release and
 * co-sign it on separate "machines" (two rebuild it first and declare a reproduced build, one
 * signs with --no-rebuild-check), merge and verify it, watch forgeries fail, and rotate a leaked
 * key.
 * Every step is a real child process; the walk-through fails loudly if any outcome is wrong.
 */
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const BIN = join(import.meta.dirname, '../../bin/convoy.js')
const REPO = join(import.meta.dirname, '../..')
const PASSPHRASE = 'correct horse battery staple'

interface Step {
  code: number
  stdout: string
  stderr: string
}

function sh(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Step> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { cwd, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
      },
    )
    child.stdin?.end()
  })
}

let failures = 0
/** CONVOY_HOME of steps that name no machine of their own: never the real ~/.convoy. */
let home = ''

async function convoy(
  cwd: string,
  args: string[],
  expect: 'ok' | 'fail',
  env: NodeJS.ProcessEnv = {},
): Promise<Step> {
  const shown = args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')
  console.log(`  $ convoy ${shown}`)
  const r = await sh(process.execPath, [BIN, ...args], cwd, { CONVOY_HOME: home, ...env })
  const text = `${r.stdout}${r.stderr}`.trimEnd()
  for (const line of text.split('\n')) console.log(`    ${line}`)
  const good = expect === 'ok' ? r.code === 0 : r.code !== 0
  if (!good) {
    failures++
    console.log(`    !! expected ${expect === 'ok' ? 'success' : 'a refusal'}, got exit ${r.code}`)
  }
  return r
}

function heading(text: string): void {
  console.log(`\n== ${text}`)
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'convoy-walkthrough-'))
  home = join(dir, 'home')
  const started = Date.now()
  console.log(`convoy maintainer walk-through in ${dir}`)
  try {
    const names = ['alice', 'bob', 'carol', 'dave', 'erin']
    heading('1. Key ceremony: five maintainers each make a key (erin seals hers with a passphrase)')
    for (const n of names) {
      const sealed = n === 'erin'
      await convoy(
        dir,
        ['keys', 'generate', '--out', `${n}.key`, '--name', n, ...(sealed ? ['--encrypt'] : [])],
        'ok',
        sealed ? { CONVOY_PASSPHRASE: PASSPHRASE } : {},
      )
    }
    await convoy(dir, ['keys', 'generate', '--out', 'alice.key'], 'fail')

    heading('2. The key set: root v1, 3 of 5, signed by three of its own keys')
    await convoy(
      dir,
      [
        'root',
        'init',
        '--network',
        'demo',
        '--threshold',
        '3',
        ...names.flatMap((n) => ['--key', `${n}.key`]),
        '--out',
        'root.json',
      ],
      'ok',
    )
    await convoy(dir, ['root', 'sign', 'root.json', '--key', 'alice.key'], 'ok')
    await convoy(dir, ['root', 'sign', 'root.json', '--key', 'bob.key'], 'ok')
    await convoy(dir, ['root', 'verify', 'root.json'], 'fail')
    await convoy(dir, ['root', 'sign', 'root.json', '--key', 'carol.key'], 'ok')
    await convoy(dir, ['root', 'verify', 'root.json'], 'ok')

    heading(
      '3. A release: carol packs convoy from her checkout (byte-reproducible), then drafts from the pack',
    )
    await convoy(dir, ['release', 'pack', '--version', '1.0.0', '--out', 'convoy-1.0.0.tgz'], 'ok')
    await convoy(
      dir,
      [
        'release',
        'draft',
        '--root',
        'root.json',
        '--channel',
        'stable',
        '--version',
        '1.0.0',
        '--from-pack',
        'convoy-1.0.0.tgz',
        '--capability',
        'hello/1',
        '--window',
        '24h',
        '--canary',
        '0.05',
        '--notes',
        'first release',
        '--out',
        'release.json',
      ],
      'ok',
    )

    heading(
      '4. Co-signing offline: each signer rebuilds the artifact from the signed source before signing',
    )
    // A fresh clone at the recorded commit reproduces the pack only if the checkout it was packed
    // from has no uncommitted changes; otherwise rebuild from the checkout itself.
    const dirty = await sh(
      'git',
      ['-C', REPO, 'status', '--porcelain', '--untracked-files=no'],
      REPO,
    )
    const rebuildFrom = dirty.code === 0 && dirty.stdout.trim() === '' ? [] : ['--source', REPO]
    if (rebuildFrom.length > 0)
      console.log(
        '  (this checkout has uncommitted changes, so the rebuilds use it with --source instead of a fresh clone of the recorded commit)',
      )
    const home = (n: string) => ({ CONVOY_HOME: join(dir, `machine-${n}`, 'home') })
    for (const n of ['alice', 'bob', 'erin']) {
      const m = join(dir, `machine-${n}`)
      await mkdir(m)
      await cp(join(dir, 'release.json'), join(m, 'release.json'))
      await cp(join(dir, 'root.json'), join(m, 'root.json'))
      await cp(join(dir, `${n}.key`), join(m, `${n}.key`))
      console.log(`  (on ${n}'s machine)`)
      const env = { ...home(n), ...(n === 'erin' ? { CONVOY_PASSPHRASE: PASSPHRASE } : {}) }
      const sign = ['release', 'sign', 'release.json', '--key', `${n}.key`]
      if (n === 'erin') {
        // Erin has not rebuilt it: refused until she says --no-rebuild-check in so many words.
        await convoy(m, sign, 'fail', env)
        await convoy(m, [...sign, '--no-rebuild-check'], 'ok', env)
      } else {
        await convoy(m, ['release', 'rebuild-check', 'release.json', ...rebuildFrom], 'ok', env)
        await convoy(m, sign, 'ok', env)
      }
    }
    await convoy(
      dir,
      [
        'release',
        'sign',
        'machine-alice/release.json',
        '--key',
        'alice.key',
        '--root',
        'root.json',
      ],
      'ok',
      home('alice'),
    )
    await convoy(
      dir,
      [
        'release',
        'merge',
        'machine-erin/release.json',
        'machine-alice/release.json',
        'machine-bob/release.json',
        '--out',
        'release.signed.json',
      ],
      'ok',
    )
    await convoy(dir, ['release', 'verify', 'release.signed.json', '--root', 'root.json'], 'ok')
    await convoy(dir, ['release', 'inspect', 'release.signed.json', '--root', 'root.json'], 'ok')

    heading('5. What a node refuses')
    await convoy(
      dir,
      ['release', 'verify', 'machine-bob/release.json', '--root', 'root.json'],
      'fail',
    )
    const signed = await readFile(join(dir, 'release.signed.json'), 'utf8')
    await writeFile(
      join(dir, 'tampered.json'),
      signed.replace('"version": "1.0.0"', '"version": "1.0.1"'),
    )
    await convoy(dir, ['release', 'verify', 'tampered.json', '--root', 'root.json'], 'fail')
    await writeFile(
      join(dir, 'duplicate.json'),
      signed.replace('"version": "1.0.0"', '"version": "1.0.0", "version": "6.6.6"'),
    )
    await convoy(dir, ['release', 'verify', 'duplicate.json', '--root', 'root.json'], 'fail')
    await convoy(
      dir,
      [
        'release',
        'verify',
        'release.signed.json',
        '--root',
        'root.json',
        '--trusted-sequence',
        '2',
      ],
      'fail',
    )
    await convoy(
      dir,
      ['release', 'verify', 'release.signed.json', '--root', 'root.json', '--channel', 'beta'],
      'fail',
    )
    await convoy(dir, ['keys', 'generate', '--out', 'mallory.key', '--name', 'mallory'], 'ok')
    await convoy(
      dir,
      ['release', 'sign', 'release.signed.json', '--key', 'mallory.key', '--root', 'root.json'],
      'fail',
    )

    heading(
      "6. Rotation: dave's key leaked; replace it with frank's (needs 3 of the old set and 3 of the new)",
    )
    await convoy(dir, ['keys', 'generate', '--out', 'frank.key', '--name', 'frank'], 'ok')
    const dave = JSON.parse(await readFile(join(dir, 'dave.key'), 'utf8')) as { keyid: string }
    await convoy(
      dir,
      [
        'root',
        'rotate',
        'root.json',
        '--remove',
        dave.keyid.slice(0, 16),
        '--add',
        'frank.key',
        '--out',
        'root-2.json',
      ],
      'ok',
    )
    for (const n of ['alice', 'bob', 'frank']) {
      await convoy(
        dir,
        ['root', 'sign', 'root-2.json', '--key', `${n}.key`, '--previous', 'root.json'],
        'ok',
      )
    }
    console.log(
      '  (frank is new: his signature counts for v2 but not for v1, so v1 still has only 2 of 3)',
    )
    await convoy(dir, ['root', 'verify', 'root-2.json', '--trusted', 'root.json'], 'fail')
    await convoy(
      dir,
      ['root', 'sign', 'root-2.json', '--key', 'carol.key', '--previous', 'root.json'],
      'ok',
    )
    await convoy(dir, ['root', 'verify', 'root-2.json', '--trusted', 'root.json'], 'ok')
    await convoy(
      dir,
      [
        'release',
        'sign',
        'release.signed.json',
        '--key',
        'dave.key',
        '--root',
        'root.json',
        '--root',
        'root-2.json',
        '--out',
        'by-dave.json',
      ],
      'fail',
    )

    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    console.log(
      `\n${failures === 0 ? 'walk-through complete' : `walk-through FAILED: ${failures} step(s) did not behave`} in ${seconds}s; files are in ${dir}`,
    )
    console.log('next: docs/maintainers.md explains each step; `npm test` runs the test suite')
  } catch (e) {
    failures++
    console.error(`walk-through stopped: ${(e as Error).message}`)
    await rm(dir, { recursive: true, force: true })
  }
  process.exitCode = failures === 0 ? 0 : 1
}

await main()
