/**
 * `convoy sim` and `convoy sim compare` end to end: the real binary, a small scenario, every
 * output on disk, and the refusals (one line, exit 1 naming the field or 2 for usage, nothing
 * half-written).
 */
import assert from 'node:assert/strict'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  assertRefused,
  assertSameFiles,
  convoy,
  convoyOk,
  makeTempDir,
  removeDir,
  snapshot,
} from '../cli/helpers.ts'
import { POLICIES } from './helpers.ts'

let dir: string
let scenario: string

const SMALL = {
  name: 'cli-small',
  description: 'A small network for the CLI test.',
  nodes: 400,
  durationHours: 30,
  sampleMinutes: 30,
  operators: { auto: 0.9, never: 0.1 },
  releases: [
    { version: '1.1.0', atHours: 1, quality: 'good' },
    { version: '1.2.0', atHours: 28, quality: 'crash-in-shadow', probability: 0.5 },
  ],
  adversaries: { eclipse: { fraction: 0.02, honestContactsPerDay: 6 } },
}

before(async () => {
  dir = await makeTempDir('sim-cli')
  scenario = join(dir, 'small.json')
  await writeFile(scenario, JSON.stringify(SMALL))
})
after(() => removeDir(dir))

const FILES = ['.convoy-sim', 'events.jsonl', 'report.html', 'summary.json', 'timeseries.csv']

describe('convoy sim', () => {
  it('writes the four outputs, and says what happened', async () => {
    const out = join(dir, 'run')
    const r = await convoyOk(['sim', '--scenario', scenario, '--seed', '3', '--out', out], {
      cwd: dir,
    })
    assert.match(r.stdout, /simulated cli-small: 400 nodes/)
    assert.match(r.stdout, /1\.1\.0 \(good\): auto-upgrading nodes 50% [\d.]+ h/)
    assert.deepEqual((await readdir(out)).sort(), FILES)
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'))
    assert.equal(summary.scenario, 'cli-small')
    assert.equal(summary.seed, 3)
    assert.equal(summary.releases.length, 2)
    const csv = (await readFile(join(out, 'timeseries.csv'), 'utf8')).trim().split('\n')
    assert.match(csv[0]!, /^t_hours,online,v1\.0\.0,v1\.1\.0,v1\.2\.0,idle,/)
    assert.equal(csv.length, 1 + 61, 'one row per half hour, both ends included')
    const first = JSON.parse((await readFile(join(out, 'events.jsonl'), 'utf8')).split('\n')[0]!)
    assert.equal(first.type, 'start')
    const html = await readFile(join(out, 'report.html'), 'utf8')
    assert.match(html, /^<!doctype html>/)
    assert.doesNotMatch(html, /(?:src|href)=["']?(?:https?:)?\/\//, 'no external resources')

    // Running again replaces an earlier output, with the same bytes for the same seed.
    const before = await snapshot(out)
    await convoyOk(['sim', '--scenario', scenario, '--seed', '3', '--out', out], { cwd: dir })
    assertSameFiles(before, await snapshot(out))
    const j = await convoyOk(['sim', '--scenario', scenario, '--out', out, '--json'], { cwd: dir })
    const parsed = JSON.parse(j.stdout)
    assert.equal(parsed.ok, true)
    assert.equal(parsed.seed, 1, 'the default seed')
    assert.deepEqual(parsed.files, [
      'events.jsonl',
      'timeseries.csv',
      'summary.json',
      'report.html',
    ])
  })

  it('compare: one side-by-side report and a folder per policy', async () => {
    const out = join(dir, 'cmp')
    const r = await convoyOk(
      [
        'sim',
        'compare',
        '--scenario',
        scenario,
        '--policy',
        join(POLICIES, 'default.json'),
        '--policy',
        join(POLICIES, 'fast.json'),
        '--seed',
        '2',
        '--out',
        out,
      ],
      { cwd: dir },
    )
    assert.match(r.stdout, /compared 2 policies on cli-small/)
    assert.deepEqual((await readdir(out)).sort(), [
      '.convoy-sim',
      '01-default',
      '02-fast',
      'report.html',
      'summary.json',
    ])
    for (const d of ['01-default', '02-fast'])
      assert.deepEqual((await readdir(join(out, d))).sort(), FILES.slice(1))
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'))
    assert.deepEqual(summary.policies, ['default', 'fast'])
    assert.equal(summary.comparison[1].windowHours, 6)
    const fast = summary.comparison[1].releases[0].autoUpgradeHours['90%']
    const slow = summary.comparison[0].releases[0].autoUpgradeHours['90%']
    assert.ok(fast < slow, `a 6 h window is faster than a 24 h one (${fast} vs ${slow})`)
    const html = await readFile(join(out, 'report.html'), 'utf8')
    assert.match(html, /Policy: default/)
    assert.match(html, /Policy: fast/)
  })

  it('refuses a bad scenario with one line naming the field, exit 1', async () => {
    const bad = join(dir, 'bad.json')
    await writeFile(bad, JSON.stringify({ ...SMALL, operators: { auto: 0.5, never: 0.2 } }))
    const out = join(dir, 'never-written')
    assertRefused(
      await convoy(['sim', '--scenario', bad, '--out', out], { cwd: dir }),
      'bad.json: operators auto + manual + never must be 1',
      1,
    )
    await writeFile(bad, '{"name": ')
    assertRefused(
      await convoy(['sim', '--scenario', bad, '--out', out], { cwd: dir }),
      'not valid JSON',
      1,
    )
    const policy = join(dir, 'p.json')
    await writeFile(policy, JSON.stringify({ haltMinFailures: 0 }))
    assertRefused(
      await convoy(['sim', 'compare', '--scenario', scenario, '--policy', policy, '--out', out], {
        cwd: dir,
      }),
      'p.json: policy.haltMinFailures must be an integer from 1',
      1,
    )
    await assert.rejects(readdir(out), /ENOENT/)
  })

  it('usage errors exit 2; an --out that holds something else is left alone', async () => {
    const out = join(dir, 'x')
    assertRefused(await convoy(['sim', '--out', out], { cwd: dir }), 'missing --scenario', 2)
    assertRefused(
      await convoy(['sim', '--scenario', scenario, '--out', out, '--seed', 'abc'], { cwd: dir }),
      '--seed "abc" must be an integer',
      2,
    )
    assertRefused(
      await convoy(['sim', 'compare', '--scenario', scenario, '--out', out], { cwd: dir }),
      'missing --policy',
      2,
    )
    const mine = join(dir, 'mine')
    await mkdir(mine)
    await writeFile(join(mine, 'notes.txt'), 'keep me')
    const before = await snapshot(mine)
    assertRefused(
      await convoy(['sim', '--scenario', scenario, '--out', mine], { cwd: dir }),
      'does not hold simulator output',
      1,
    )
    assertSameFiles(before, await snapshot(mine))
    const left = (await readdir(dir)).filter((f) => f.includes('.tmp-'))
    assert.deepEqual(left, [], 'no temporary directory left behind')
  })
})
