/**
 * Builds of convoy that misbehave on purpose, for tests, the testnet and the demo: the source
 * tree is copied, one fault is written into the CLI's entry point, and `packRelease` bundles it
 * exactly as `convoy release pack` does. Nothing here pretends: a supervisor installs and runs
 * these artifacts as child processes, and must catch them. Never sign one for a real network.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_SOURCE_DIR, packRelease } from './pack.ts'

/** The ways a build can be bad. */
export type Fault =
  | 'good'
  | 'crash-at-start'
  | 'crash-later'
  | 'crash-in-probation'
  | 'memory-leak'
  | 'cpu-spin'
  | 'phone-home'
  | 'phone-home-udp'
  | 'phone-home-brief'
  | 'phone-home-listed'
  | 'never-ready'
  | 'exit-0'
  | 'reads-identity'
  | 'writes-approvals'
  | 'spawns-child'
  | 'phone-home-child'
  | 'cpu-spin-live'
  | 'memory-leak-live'
  | 'no-reuse-port'

/** Options of one build. */
export interface BuildOptions {
  /** `host:port` the phone-home build connects to. */
  phoneHome?: string
  /** Delay before crash-later and crash-in-probation crash, ms. @default 2500 */
  crashAfterMs?: number
  /** Source of a migration script to ship (migrate.mjs). */
  migration?: string
  /** Source of its reverse (migrate-down.mjs). */
  migrationDown?: string
}

/** JavaScript run at the top of `main()` when the process is `convoy node start`. */
function faultCode(fault: Fault, o: BuildOptions): string {
  const after = o.crashAfterMs ?? 2500
  const body: Record<Fault, string> = {
    good: '',
    'crash-at-start': `console.error('injected fault: crash at start'); process.exit(3)`,
    'crash-later': `setTimeout(() => { console.error('injected fault: crash'); process.exit(4) }, ${after})`,
    // Fine beside the live node, broken once it is the node: only a probation can catch it.
    'crash-in-probation': `if (!process.argv.includes('shadow')) setTimeout(() => { console.error('injected fault: crash in probation'); process.exit(5) }, ${after})`,
    // Both start a second in, once the node is up: a leak or a hot loop in steady running.
    'memory-leak': `const leak: Buffer[] = []; setTimeout(() => setInterval(() => leak.push(Buffer.alloc(4 * 1024 * 1024, 1)), 100), 1000)`,
    'cpu-spin': `setTimeout(() => setInterval(() => { const end = Date.now() + 85; while (Date.now() < end) {} }, 100), 1000)`,
    'phone-home': `setTimeout(() => { const [h, p] = ${JSON.stringify(o.phoneHome ?? '127.0.0.2:9')}.split(':'); const s = (globalThis as any).process.getBuiltinModule('node:net').connect(Number(p), h); s.on('error', () => {}); (globalThis as any).__phone = s }, 500)`,
    // The three ways the sampled check was evaded: a datagram, a connection closed at once
    // (between two samples), and a build whose own status lists the address it reaches.
    'phone-home-udp': `setTimeout(() => { const [h, p] = ${JSON.stringify(o.phoneHome ?? '127.0.0.2:9')}.split(':'); const d = (globalThis as any).process.getBuiltinModule('node:dgram').createSocket('udp4'); d.send('hello', Number(p), h, () => d.close()) }, 500)`,
    'phone-home-brief': `setTimeout(() => { const [h, p] = ${JSON.stringify(o.phoneHome ?? '127.0.0.2:9')}.split(':'); const s = (globalThis as any).process.getBuiltinModule('node:net').connect(Number(p), h, () => s.destroy()); s.on('error', () => {}) }, 500)`,
    'phone-home-listed': `if (process.argv.includes('shadow')) { const a = ${JSON.stringify(o.phoneHome ?? '127.0.0.2:9')}; const [h, p] = a.split(':'); const http = (globalThis as any).process.getBuiltinModule('node:http'); const end = http.ServerResponse.prototype.end; http.ServerResponse.prototype.end = function (c: any, ...r: any[]) { if (typeof c === 'string' && c.includes('"knownAddrs"')) { try { const j = JSON.parse(c); j.knownAddrs.push(a); j.peers.push({ peerId: 'x', addr: '/ip4/' + h + '/tcp/' + p, connected: true, role: 'node' }); c = JSON.stringify(j) } catch {} } return end.call(this, c, ...r) }; setTimeout(() => { const s = (globalThis as any).process.getBuiltinModule('node:net').connect(Number(p), h); s.on('error', () => {}); (globalThis as any).__phone = s }, 500) }`,
    'never-ready': `setInterval(() => {}, 1000); await new Promise(() => {})`,
    'exit-0': `process.exit(0)`,
    // A candidate reaching for the live node's secrets and settings: its data dir is
    // <home>/shadow/data, the live one <home>/data. Each swallows its error and carries on, as a
    // careful attacker would; only the shadow run's sandbox stands in the way.
    'reads-identity': `if (process.argv.includes('shadow')) { const fs = (globalThis as any).process.getBuiltinModule('node:fs'); const d = process.argv[process.argv.indexOf('--data-dir') + 1]; try { (globalThis as any).__stolen = fs.readFileSync(d + '/../../data/identity.key') } catch (e) { console.error('read-identity: ' + (e as Error).message) } }`,
    'writes-approvals': `if (process.argv.includes('shadow')) { const fs = (globalThis as any).process.getBuiltinModule('node:fs'); const d = process.argv[process.argv.indexOf('--data-dir') + 1]; try { fs.writeFileSync(d + '/../../approvals.json', '{"approved":["9.9.9"]}'); fs.writeFileSync(d + '/../../data/planted.txt', 'x') } catch (e) { console.error('write-approvals: ' + (e as Error).message) } }`,
    // Fine while judged as a shadow, bad once it is the node: only a measuring probation sees it.
    'cpu-spin-live': `if (!process.argv.includes('shadow')) setTimeout(() => setInterval(() => { const end = Date.now() + 85; while (Date.now() < end) {} }, 100), 1000)`,
    'memory-leak-live': `if (!process.argv.includes('shadow')) { const leak: Buffer[] = []; setTimeout(() => setInterval(() => leak.push(Buffer.alloc(4 * 1024 * 1024, 1)), 100), 1000) }`,
    // Not bad, old: a release from before the switch handover, which binds its port alone.
    'no-reuse-port': `delete process.env.CONVOY_REUSE_PORT`,
    // Phone home from a child, so the candidate's own sockets stay clean: the sandbox refuses the
    // child, and were it allowed, the trace follows children (strace -f).
    'phone-home-child': `if (process.argv.includes('shadow')) { try { const cp = (globalThis as any).process.getBuiltinModule('node:child_process'); const [h, p] = ${JSON.stringify(o.phoneHome ?? '127.0.0.2:9')}.split(':'); cp.spawn(process.execPath, ['-e', \`require('node:net').connect(\${p}, '\${h}').on('error', () => {})\`], { stdio: 'ignore' }) } catch (e) { console.error('phone-home-child: ' + (e as Error).message) } }`,
    'spawns-child': `if (process.argv.includes('shadow')) { try { const cp = (globalThis as any).process.getBuiltinModule('node:child_process'); const c = cp.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' }); c.unref() } catch (e) { console.error('spawn-child: ' + (e as Error).message) } }`,
  }
  if (body[fault] === '') return ''
  return `  if (process.argv.includes('node') && process.argv.includes('start')) { ${body[fault]} }\n`
}

/** A packed build and its pin. */
export interface Build {
  path: string
  bytes: Uint8Array
  pin: { sha256: string; length: number }
  version: string
  fault: Fault
}

/** Every fault, for argument checks. */
export const FAULTS: readonly Fault[] = [
  'good',
  'crash-at-start',
  'crash-later',
  'crash-in-probation',
  'memory-leak',
  'cpu-spin',
  'phone-home',
  'phone-home-udp',
  'phone-home-brief',
  'phone-home-listed',
  'never-ready',
  'exit-0',
  'reads-identity',
  'writes-approvals',
  'spawns-child',
  'phone-home-child',
  'cpu-spin-live',
  'memory-leak-live',
  'no-reuse-port',
]

/** Packs `version` of this repository with `fault` written in, into `outDir`. */
export async function packBuild(
  version: string,
  fault: Fault,
  outDir: string,
  options: BuildOptions = {},
): Promise<Build> {
  const src = await mkdtemp(join(tmpdir(), `convoy-build-${fault}-`))
  try {
    for (const f of ['src', 'simulations', 'package.json', 'package-lock.json']) {
      const from = join(DEFAULT_SOURCE_DIR, f)
      if (existsSync(from)) await cp(from, join(src, f), { recursive: true })
    }
    await symlink(join(DEFAULT_SOURCE_DIR, 'node_modules'), join(src, 'node_modules'))
    const mainPath = join(src, 'src/cli/main.ts')
    const main = await readFile(mainPath, 'utf8')
    const anchor = 'export async function main(): Promise<void> {\n'
    if (!main.includes(anchor)) throw new Error('src/cli/main.ts has no main() to inject into')
    await writeFile(mainPath, main.replace(anchor, anchor + faultCode(fault, options)))
    let migration: string | undefined
    if (options.migration !== undefined) {
      migration = join(src, 'migrate.mjs')
      await writeFile(migration, options.migration)
    }
    let migrationDown: string | undefined
    if (options.migrationDown !== undefined) {
      migrationDown = join(src, 'migrate-down.mjs')
      await writeFile(migrationDown, options.migrationDown)
    }
    const r = await packRelease({
      sourceDir: src,
      version,
      ...(migration ? { migration } : {}),
      ...(migrationDown ? { migrationDown } : {}),
    })
    const path = join(outDir, `convoy-${version}-${fault}.tgz`)
    await writeFile(path, r.bytes)
    return {
      path,
      bytes: r.bytes,
      pin: { sha256: createHash('sha256').update(r.bytes).digest('hex'), length: r.bytes.length },
      version,
      fault,
    }
  } finally {
    await rm(src, { recursive: true, force: true })
  }
}
