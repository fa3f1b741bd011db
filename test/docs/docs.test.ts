/**
 * The docs against the code: protocol ids, capability lists, CLI flags, API routes and npm
 * scripts quoted in README.md and docs/ must be what the code has. The protocol list is read off
 * a real node started on loopback, not off the source.
 */
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { ConvoyNode } from '../../src/adapters/libp2p/node.ts'
import { NODE_PROCESS_FLAGS } from '../../src/adapters/process/node-flags.ts'
import { BASE_CAPABILITIES } from '../../src/core/version/rank.ts'
import { NETWORK, TestNet } from '../net/harness.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

async function docs(): Promise<Array<{ file: string; text: string }>> {
  const files = (await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md'))
  const out = [{ file: 'README.md', text: await readFile(join(ROOT, 'README.md'), 'utf8') }]
  for (const f of files)
    out.push({ file: `docs/${f}`, text: await readFile(join(ROOT, 'docs', f), 'utf8') })
  return out
}

async function sources(dir: string): Promise<string> {
  const parts: string[] = []
  for (const e of await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts'))
      parts.push(await readFile(join(e.parentPath, e.name), 'utf8'))
  }
  return parts.join('\n')
}

/** Every match of `re` (with a capture group) in the docs, with the file it is in. */
async function quoted(re: RegExp): Promise<Array<{ file: string; value: string }>> {
  const out: Array<{ file: string; value: string }> = []
  for (const d of await docs())
    for (const m of d.text.matchAll(re)) out.push({ file: d.file, value: m[1]! })
  return out
}

describe('docs against the code', () => {
  const net = new TestNet()
  let node: ConvoyNode
  let shadow: ConvoyNode
  before(async () => {
    node = await net.add()
    shadow = await net.add({ role: 'shadow' })
  })
  after(() => net.stop())

  it('every protocol id the docs name is one a real node serves, and the docs name them all', async () => {
    const served = new Set(node.libp2p.getProtocols().filter((p) => p.startsWith('/convoy/')))
    const generic = (p: string) => p.replace(`/convoy/${NETWORK}/`, '/convoy/<network>/')
    const docsIds = await quoted(/(\/convoy\/(?:<network>|[a-z0-9._-]+)\/[a-z]+\/\d+\.\d+\.\d+)/g)
    const known = new Set([...served].map(generic))
    for (const { file, value } of docsIds) {
      const g = value.replace(/^\/convoy\/[a-z0-9._-]+\//, '/convoy/<network>/')
      assert.ok(known.has(g), `${file} names ${value}, which a node does not serve`)
    }
    const named = new Set(
      docsIds.map((d) => d.value.replace(/^\/convoy\/[^/]+\//, '/convoy/<network>/')),
    )
    for (const p of known) assert.ok(named.has(p), `docs never name ${p}`)
    // The two lists quoted from a node and a shadow on network "testnet".
    const protocol = (await docs()).find((d) => d.file === 'docs/protocol.md')!.text
    const lists = [...protocol.matchAll(/^(\["\/convoy\/testnet\/[^\n]*\])$/gm)].map(
      (m) => JSON.parse(m[1]!) as string[],
    )
    assert.equal(lists.length, 2, "protocol.md quotes a node's and a shadow's protocol lists")
    const norm = (n: ConvoyNode) =>
      n.libp2p
        .getProtocols()
        .filter((p) => p.startsWith('/convoy/'))
        .map((p) => p.replace(`/convoy/${NETWORK}/`, '/convoy/testnet/'))
        .sort()
    assert.deepEqual(lists[0], norm(node), 'the node list in protocol.md')
    assert.deepEqual(lists[1], norm(shadow), 'the shadow list in protocol.md')
  })

  it('the capability list in protocol.md is BASE_CAPABILITIES', async () => {
    const protocol = (await docs()).find((d) => d.file === 'docs/protocol.md')!.text
    const m = /Every node claims `BASE_CAPABILITIES`: ([^.]+)\./.exec(protocol)
    assert.ok(m, 'protocol.md states the base capabilities')
    const listed = [...m[1]!.matchAll(/`([a-z0-9/]+)`/g)].map((x) => x[1]!)
    assert.deepEqual(listed, [...BASE_CAPABILITIES])
  })

  it("every --flag the docs quote is an option of a convoy command (or named here as another tool's)", async () => {
    const cli = await sources('src/cli')
    const options = new Set(
      [...cli.matchAll(/'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/g)].map((m) => m[1]!),
    )
    options.add('json') // every command's, added by parse()
    // Flags of other programs that the docs quote, each with whose it is.
    const others = new Set([
      'cpu-prof', // node
      'no-local', // git clone
      'from', // a release's migrate.mjs
      'to', // a release's migrate.mjs
      'data-binary', // curl
      'permission', // node: the shadow candidate's sandbox
      'seccomp-bpf', // strace: the shadow candidate's egress trace
      ...NODE_PROCESS_FLAGS.map((f) => f.slice(2).split('=')[0]!), // node: the memory budget
      'no-save', // npm install: QUIC measured in the bench only
    ])
    for (const { file, value } of await quoted(/(?<![\w-])--([a-z][a-z0-9-]*[a-z0-9])(?![\w])/g)) {
      if (others.has(value)) continue
      assert.ok(options.has(value), `${file} quotes --${value}, which no convoy command takes`)
    }
  })

  it('every API route the docs quote is served, with that method', async () => {
    const api = await readFile(join(ROOT, 'src/adapters/http/api.ts'), 'utf8')
    const paths = new Set([...api.matchAll(/path === '(\/[a-z-]+)'/g)].map((m) => m[1]!))
    assert.ok(paths.size >= 3)
    for (const { file, value } of await quoted(
      /\b((?:GET|POST|HEAD|PUT|DELETE|PATCH) \/[a-z]+(?:-[a-z]+)*)/g,
    )) {
      const [method, path] = value.split(' ') as [string, string]
      assert.ok(paths.has(path), `${file} quotes ${value}: the API has no ${path}`)
      if (method === 'POST')
        assert.ok(
          ['/reports', '/peer-check'].includes(path),
          `${file}: only /reports and /peer-check take POST`,
        )
      assert.ok(['GET', 'HEAD', 'POST'].includes(method), `${file} quotes ${value}`)
    }
  })

  it('every npm script the docs quote exists', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    for (const { file, value } of await quoted(/npm run (?:-s )?([a-z][a-z0-9:-]*)/g))
      assert.ok(value in pkg.scripts, `${file} quotes npm run ${value}, which package.json lacks`)
  })
})
