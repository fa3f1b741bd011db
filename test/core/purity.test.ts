/**
 * src/core is pure: no I/O, no clock, no randomness, no adapters. DESIGN.md's first rule.
 * Biome enforces it (biome.json's src/core override: restricted imports, globals and
 * properties), so `npm run lint` names the line; the tests below prove those rules bite, and a
 * text scan backs them up for what Biome cannot express (`new Date()` without an argument).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import { promisify } from 'node:util'
import { tsFilesUnder } from '../tree.ts'

const CORE = join(import.meta.dirname, '../../src/core')

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
  const list = await tsFilesUnder(CORE)
  assert.ok(list.length >= 5, 'found the core files')
  const problems: string[] = []
  for (const f of list) {
    const text = await readFile(f, 'utf8')
    for (const [re, what] of FORBIDDEN) if (re.test(text)) problems.push(`${f}: ${what}`)
  }
  assert.deepEqual(problems, [])
})

const ROOT = join(import.meta.dirname, '../..')

/** Lints `files` (path -> source) with the project's biome.json in a scratch tree. */
async function lint(files: Record<string, string>): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'convoy-purity-'))
  try {
    await copyFile(join(ROOT, 'biome.json'), join(dir, 'biome.json'))
    for (const [p, text] of Object.entries(files)) {
      await mkdir(join(dir, p, '..'), { recursive: true })
      await writeFile(join(dir, p), text)
    }
    const biome = join(ROOT, 'node_modules/@biomejs/biome/bin/biome')
    const out = await promisify(execFile)(
      process.execPath,
      [biome, 'lint', '--reporter=json', '.'],
      {
        cwd: dir,
      },
    ).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }))
    const report = JSON.parse(out.stdout) as {
      diagnostics: { category: string; location: { path: string; start: { line: number } } }[]
    }
    return report.diagnostics.map(
      (d) => `${d.location.path}:${d.location.start.line} ${d.category.replace('lint/', '')}`,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

it('biome refuses I/O, clocks, randomness and adapter imports in src/core, and only there', async () => {
  const probe = [
    "import { readFileSync } from 'node:fs'",
    "import { peerIdFromString } from '@libp2p/peer-id'",
    "import { Home } from '../adapters/home.ts'",
    'export const t = Date.now()',
    'export const r = Math.random()',
    'export const p = process.pid',
    'setTimeout(() => {}, 1)',
    'export const b = Buffer.alloc(1)',
    'export const all = [readFileSync, peerIdFromString, Home]',
    '',
  ].join('\n')
  const found = await lint({ 'src/core/probe.ts': probe, 'src/adapters/probe.ts': probe })
  const core = found.filter((f) => f.startsWith('src/core/')).sort()
  assert.deepEqual(core, [
    'src/core/probe.ts:1 style/noRestrictedImports',
    'src/core/probe.ts:2 style/noRestrictedImports',
    'src/core/probe.ts:3 style/noRestrictedImports',
    'src/core/probe.ts:4 nursery/noJsRestrictedProperties',
    'src/core/probe.ts:5 nursery/noJsRestrictedProperties',
    'src/core/probe.ts:6 style/noRestrictedGlobals',
    'src/core/probe.ts:7 style/noRestrictedGlobals',
    'src/core/probe.ts:8 style/noRestrictedGlobals',
  ])
  assert.deepEqual(
    found.filter((f) => f.startsWith('src/adapters/') && !f.includes('organizeImports')),
    [],
    'adapters may do all of it',
  )
})
