/**
 * The tree's shape (issue 14), checked on every run: no source file over 600 lines, and every
 * error class defined in its area's errors.ts, so a reader finds each area's failures in one place.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { it } from 'node:test'
import { tsFilesUnder } from '../tree.ts'

const ROOT = join(import.meta.dirname, '../..')
const SOURCES = ['src', 'simulations', 'bin']
const MAX_LINES = 600

async function sources(): Promise<Array<{ path: string; text: string }>> {
  const out: Array<{ path: string; text: string }> = []
  for (const d of SOURCES)
    for (const p of await tsFilesUnder(join(ROOT, d)))
      out.push({ path: relative(ROOT, p), text: await readFile(p, 'utf8') })
  return out
}

it(`no source file is over ${MAX_LINES} lines`, async () => {
  const long = (await sources())
    .map((f) => ({ path: f.path, lines: f.text.split('\n').length - 1 }))
    .filter((f) => f.lines > MAX_LINES)
  assert.deepEqual(long, [], 'split these by responsibility')
})

it('every error class is defined in an errors.ts', async () => {
  const list = await sources()
  const stray = list
    .filter((f) => !f.path.endsWith('/errors.ts'))
    .flatMap((f) =>
      [...f.text.matchAll(/^export class (\w+) extends (\w*Error)\b/gm)].map(
        (m) => `${f.path}: ${m[1]}`,
      ),
    )
  assert.deepEqual(stray, [], 'move these into the errors.ts of their area')
  // The check can fail: the errors.ts files hold the classes it looks for.
  const held = list
    .filter((f) => f.path.endsWith('/errors.ts'))
    .flatMap((f) => [...f.text.matchAll(/^export class (\w+) extends Error\b/gm)])
  assert.ok(held.length >= 15, `${held.length} error classes found in errors.ts files`)
})

it('every error class sets its name', async () => {
  for (const f of (await sources()).filter((x) => x.path.endsWith('/errors.ts'))) {
    for (const m of f.text.matchAll(/^export class (\w+) extends \w+ \{\n([\s\S]*?)^\}/gm))
      assert.ok(m[2]!.includes(`override name = '${m[1]}'`), `${f.path}: ${m[1]} does not set name`)
  }
})

it("no source waits on a libp2p stream's onDrain()", async () => {
  // In @libp2p/utils 7.4.1 onDrain() returns at once after a stream's first drain; writers wait
  // with `drained` (src/adapters/libp2p/artifact-upload.ts, docs/dependencies.md).
  const callers = (await sources())
    .filter((f) => /\.onDrain\(/.test(f.text.replace(/^\s*(\/\/|\*).*$/gm, '')))
    .map((f) => f.path)
  assert.deepEqual(callers, [], 'wait with drained() instead')
})
