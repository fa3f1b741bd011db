/**
 * `convoy run` as a real process: it installs a packed release, runs the node from it as a child,
 * restarts it after SIGKILL, and stops it cleanly on SIGTERM.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { convoy, convoyOk, makeTempDir, removeDir, startConvoy, waitForOutput } from './helpers.ts'

async function runningPid(dataDir: string, other?: number): Promise<number> {
  for (let i = 0; i < 300; i++) {
    try {
      const r = JSON.parse(await readFile(join(dataDir, 'running.json'), 'utf8')) as { pid: number }
      if (r.pid !== other) {
        process.kill(r.pid, 0)
        return r.pid
      }
    } catch {}
    await new Promise((res) => setTimeout(res, 100))
  }
  throw new Error('the node did not (re)start')
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('convoy run', { timeout: 120_000 }, () => {
  let cwd: string
  before(async () => {
    cwd = await makeTempDir('run')
    for (const n of ['a', 'b']) await convoyOk(['keys', 'generate', '--out', `${n}.key`], { cwd })
    await convoyOk(
      [
        'root',
        'init',
        '--network',
        'runnet',
        '--threshold',
        '1',
        '--key',
        'a.key',
        '--key',
        'b.key',
        '--out',
        'root.json',
      ],
      { cwd },
    )
    await convoyOk(['root', 'sign', 'root.json', '--key', 'a.key'], { cwd })
    await convoyOk(['network', 'init', '--root', 'root.json', '--out', 'network.json'], { cwd })
    await convoyOk(['release', 'pack', '--version', '0.5.0', '--out', 'convoy-0.5.0.tgz'], { cwd })
  })
  after(() => removeDir(cwd))

  it('refuses to start without a current release or one to install', async () => {
    const r = await convoy(['run', '--home', join(cwd, 'empty'), '--network', 'network.json'], {
      cwd,
    })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /has no current release: pass --release/)
  })

  it('installs the release, runs the node from it, restarts it after SIGKILL, and stops on SIGTERM', async () => {
    const home = join(cwd, 'home')
    const { child: sup, output } = startConvoy(
      [
        'run',
        '--home',
        home,
        '--network',
        'network.json',
        '--release',
        'convoy-0.5.0.tgz',
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--api',
        '127.0.0.1:0',
      ],
      { cwd, stdin: 'ignore' },
    )
    try {
      const first = await runningPid(join(home, 'data'))
      assert.equal(await readlink(join(home, 'current')), join('releases', '0.5.0'))
      // The node's lines reach us through the supervisor, a moment after running.json.
      await waitForOutput(output, /convoy 0\.5\.0 node/)
      process.kill(first, 'SIGKILL')
      const second = await runningPid(join(home, 'data'), first)
      assert.notEqual(second, first)
      await waitForOutput(output, /node exited \(SIGKILL\); restarting/)
      sup.kill('SIGTERM')
      const [code] = await once(sup, 'close') // 'close': its output is all read
      assert.equal(code, 0, output())
      assert.match(output(), /supervisor stopped cleanly \(1 restart\(s\)\)/)
      assert.equal(alive(second), false, 'the node stopped with its supervisor')
      const state = JSON.parse(await readFile(join(home, 'state.json'), 'utf8')) as {
        current: string
      }
      assert.equal(state.current, '0.5.0')
    } finally {
      if (sup.exitCode === null) sup.kill('SIGKILL')
    }
  })
})
