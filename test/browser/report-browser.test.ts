/**
 * The HTML report in a real browser: headless Chromium opens report.html (one run, and a
 * comparison), its script runs without a console message, and every chart is there. CI
 * installs Chromium first (.ci/run) and runs it with `npm run test:browser`, apart from `npm test`,
 * which needs nothing but Node and npm; without Chromium this test fails and says how to install it.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import {
  compareOutputs,
  runScenario,
  singleOutputs,
  withPolicy,
  writeOutputDir,
} from '../../simulations/run.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'
import { tinyScenario } from '../sim/helpers.ts'

let dir: string

function chromium(): string {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim()
  }
  assert.fail('Chromium is not installed: apt-get install -y chromium (.ci/run does this)')
}

/** Opens `file` headless; returns the DOM after scripts ran and the browser's log. */
async function open(file: string, extra: string[] = []): Promise<{ dom: string; log: string }> {
  const profile = await mkdtemp(join(dir, 'profile-'))
  const r = spawnSync(
    chromium(),
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      '--enable-logging=stderr',
      '--v=0',
      ...extra,
      '--dump-dom',
      pathToFileURL(file).href,
    ],
    { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
  )
  assert.equal(r.status, 0, `chromium failed: ${r.stderr}`)
  return { dom: r.stdout, log: r.stderr }
}

function consoleLines(log: string): string[] {
  return log.split('\n').filter((l) => l.includes(':CONSOLE'))
}

before(async () => {
  dir = await makeTempDir('sim-html')
  const s = tinyScenario()
  await writeOutputDir(join(dir, 'one'), singleOutputs(runScenario(s, 9)))
  const fast = withPolicy(s, { name: 'fast', fields: { windowSeconds: 3600 } })
  await writeOutputDir(
    join(dir, 'cmp'),
    compareOutputs([runScenario(s, 9, 'scenario'), runScenario(fast, 9, 'fast')]),
  )
})
after(() => removeDir(dir))

describe('report.html in headless Chromium', () => {
  it('opens without console messages and shows its four charts', async () => {
    const file = join(dir, 'one', 'report.html')
    const shot = join(dir, 'one.png')
    const { dom, log } = await open(file, ['--window-size=1400,2200', `--screenshot=${shot}`])
    assert.deepEqual(consoleLines(log), [], 'no console output, no uncaught errors')
    // --screenshot and --dump-dom together: Chromium writes the screenshot; the DOM check
    // below runs on a second, plain load.
    assert.ok((await stat(shot)).size > 20_000, 'a screenshot with something on it')
    const plain = dom.includes('data-ready') ? dom : (await open(file)).dom
    assert.match(plain, /<body[^>]*data-ready="yes"/, 'the inline script ran to the end')
    assert.match(plain, /data-charts="4"/)
    assert.equal((plain.match(/<svg class="chart"/g) ?? []).length, 4)
    for (const title of ['Online nodes per running version', 'Where the machines are', 'Adoption'])
      assert.ok(plain.includes(title), title)
    assert.ok((plain.match(/<path d="M/g) ?? []).length >= 10, 'the charts have lines')
  })

  it('the comparison shows each policy side by side', async () => {
    const file = join(dir, 'cmp', 'report.html')
    const html = await readFile(file, 'utf8')
    assert.doesNotMatch(html, /(?:src|href)=["']?(?:https?:)?\/\//)
    const { dom, log } = await open(file)
    assert.deepEqual(consoleLines(log), [])
    assert.match(dom, /data-ready="yes"/)
    assert.match(dom, /data-charts="8"/, 'four charts per policy')
    assert.match(dom, /Policy: scenario/)
    assert.match(dom, /Policy: fast/)
  })
})
