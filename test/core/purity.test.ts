/** src/core is pure: no I/O, no clock, no randomness, no adapters. DESIGN.md's first rule. */
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { it } from 'node:test'

const CORE = join(import.meta.dirname, '../../src/core')

async function files(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await files(p)))
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}

const FORBIDDEN: Array<[RegExp, string]> = [
  [/from ['"]node:/, 'a node:* import'],
  [/from ['"](?:\.\.\/)+(?:adapters|cli)\//, 'an adapter or cli import'],
  [/from ['"](?:libp2p|@libp2p\/|@chainsafe\/)/, 'a libp2p import'],
  [/\bDate\.now\s*\(/, 'Date.now()'],
  [/new Date\(\s*\)/, 'new Date() without an argument'],
  [/\bMath\.random\s*\(/, 'Math.random()'],
  [/\b(?:setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'a timer'],
  [/\bprocess\./, 'process.*'],
  [/\brequire\s*\(/, 'require()'],
]

it('src/core has no I/O, clock, randomness or adapter imports', async () => {
  const list = await files(CORE)
  assert.ok(list.length >= 5, 'found the core files')
  const problems: string[] = []
  for (const f of list) {
    const text = await readFile(f, 'utf8')
    for (const [re, what] of FORBIDDEN) if (re.test(text)) problems.push(`${f}: ${what}`)
  }
  assert.deepEqual(problems, [])
})
