/**
 * A node's data directory:
 *
 *   identity.key                 libp2p private key (protobuf), mode 0600, created once
 *   trust.json                   highest trusted sequence per channel: the floor that never drops
 *   roots/<version>.json         every verified root, as received
 *   manifests/<channel>/<seq>.json  every verified release manifest, as received
 *   revocations/<channel>-<seq>.json  every verified revocation, as received
 *   artifacts/<sha256>           verified artifacts only (temp files start with ".")
 *   lock                         pid of the node using the directory
 *
 * On start the trust state is rebuilt by re-verifying the stored documents from the anchor, then
 * the floor in trust.json is applied: a replayed older manifest can never win after a restart.
 */
import { constants } from 'node:fs'
import { mkdir, open, readdir, readFile, rm, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { prettyJson } from '../../core/manifest/canonical.ts'
import type { RootSigned } from '../../core/manifest/root.ts'
import type { VerifyFn } from '../../core/manifest/signing.ts'
import { parseStrictJson } from '../../core/manifest/strict-json.ts'
import { acceptRelease, acceptRoot, initialTrust, type TrustState } from '../../core/trust/trust.ts'
import { writeFileAtomic } from './atomic.ts'
import { DataDirError } from './errors.ts'

export { DataDirError }

/** The persisted floor: per channel, the highest sequence ever trusted and its digest. */
export interface TrustFloor {
  channels: Record<string, { sequence: number; digest: string; version: string }>
}

/** Opens (creating if needed) a data directory and takes its lock. */
export class NodeStore {
  readonly dir: string
  readonly artifactsDir: string
  private locked = false
  /** Set by close(): a store that let go of its lock writes nothing more. */
  private closed = false

  constructor(dir: string) {
    this.dir = dir
    this.artifactsDir = join(dir, 'artifacts')
  }

  /** Creates the layout, checks it is writable, and takes the lock (refused if a live node holds it). */
  async open(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      for (const sub of ['roots', 'manifests', 'artifacts', 'revocations'])
        await mkdir(join(this.dir, sub), { recursive: true })
    } catch (e) {
      throw new DataDirError(
        `data dir ${this.dir} cannot be created: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; choose a writable --data-dir`,
      )
    }
    const lock = join(this.dir, 'lock')
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(
          lock,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
          0o600,
        )
        await fh.writeFile(String(process.pid))
        await fh.close()
        this.locked = true
        break
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code !== 'EEXIST') {
          throw new DataDirError(
            `data dir ${this.dir} is not writable (${code ?? (e as Error).message}); fix its permissions or choose another --data-dir`,
          )
        }
        const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim())
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
          throw new DataDirError(
            `data dir ${this.dir} is in use by process ${pid}; stop that node or choose another --data-dir`,
          )
        }
        await unlink(lock).catch(() => {})
      }
    }
    if (!this.locked) throw new DataDirError(`data dir ${this.dir}: could not take the lock`)
    // Leftovers of an interrupted artifact fetch are never trusted.
    for (const name of await readdir(this.artifactsDir)) {
      if (name.startsWith('.')) await rm(join(this.artifactsDir, name), { force: true })
    }
  }

  /** Releases the lock; any write after it is refused (another node may own the dir by then). */
  async close(): Promise<void> {
    this.closed = true
    if (this.locked) await unlink(join(this.dir, 'lock')).catch(() => {})
    this.locked = false
  }

  /** Throws when the store was closed: its directory may belong to another node now. */
  private writable(): void {
    if (this.closed)
      throw new DataDirError(
        `data dir ${this.dir} was released by this node: nothing more is written`,
      )
  }

  /** The node's libp2p identity, created once (mode 0600) and reused across restarts. */
  async identity(): Promise<PrivateKey> {
    const path = join(this.dir, 'identity.key')
    try {
      return privateKeyFromProtobuf(new Uint8Array(await readFile(path)))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new DataDirError(
          `${path} is damaged (${(e as Error).message}); move it away to start with a new identity`,
        )
      }
    }
    const key = await generateKeyPair('Ed25519')
    await writeFileAtomic(path, privateKeyToProtobuf(key), { mode: 0o600, noOverwrite: true })
    return key
  }

  /** Stores a verified root document. */
  async saveRoot(version: number, bytes: Uint8Array): Promise<void> {
    this.writable()
    await writeFileAtomic(join(this.dir, 'roots', `${version}.json`), bytes)
  }

  /** Stores a verified manifest. */
  async saveManifest(channel: string, sequence: number, bytes: Uint8Array): Promise<void> {
    this.writable()
    await mkdir(join(this.dir, 'manifests', channel), { recursive: true })
    await writeFileAtomic(join(this.dir, 'manifests', channel, `${sequence}.json`), bytes)
  }

  /** Reads a stored manifest, if present. */
  async readManifest(channel: string, sequence: number): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(
        await readFile(join(this.dir, 'manifests', channel, `${sequence}.json`)),
      )
    } catch {
      return undefined
    }
  }

  /** Stores a verified revocation. */
  async saveRevocation(channel: string, sequence: number, bytes: Uint8Array): Promise<void> {
    this.writable()
    await writeFileAtomic(join(this.dir, 'revocations', `${channel}-${sequence}.json`), bytes)
  }

  /** The stored revocations (at most `max`), for the caller to verify again. */
  async readRevocations(max: number): Promise<Uint8Array[]> {
    const names = (await readdir(join(this.dir, 'revocations')).catch(() => [] as string[]))
      .filter((n) => n.endsWith('.json'))
      .sort()
      .slice(0, max)
    const out: Uint8Array[] = []
    for (const n of names) {
      const bytes = await readFile(join(this.dir, 'revocations', n)).catch(() => undefined)
      if (bytes !== undefined) out.push(new Uint8Array(bytes))
    }
    return out
  }

  /** Reads a stored root, if present. */
  async readRoot(version: number): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(join(this.dir, 'roots', `${version}.json`)))
    } catch {
      return undefined
    }
  }

  /** Persists the floor (write, fsync, rename). */
  async saveFloor(state: TrustState): Promise<void> {
    this.writable()
    const floor: TrustFloor = { channels: {} }
    for (const [ch, t] of Object.entries(state.channels))
      if (t.latest) floor.channels[ch] = t.latest
    await writeFileAtomic(join(this.dir, 'trust.json'), prettyJson(floor))
  }

  /**
   * Rebuilds the trust state from the anchor and the stored documents, re-verifying each, then
   * raises each channel's floor to what trust.json recorded.
   */
  async loadTrust(
    anchor: RootSigned,
    now: number,
    verify?: VerifyFn,
  ): Promise<{ state: TrustState; floor: TrustFloor }> {
    let state = initialTrust(anchor)
    const opts = { now, ...(verify ? { verify } : {}) }
    const rootFiles = (await readdir(join(this.dir, 'roots')))
      .map((f) => Number.parseInt(f, 10))
      .filter((v) => v > anchor.version)
    for (const v of rootFiles.sort((a, b) => a - b)) {
      const bytes = await this.readRoot(v)
      if (bytes === undefined) break
      const r = acceptRoot(state, bytes, opts)
      if (!r.ok) break
      state = r.value.state
    }
    for (const channel of await readdir(join(this.dir, 'manifests'))) {
      const seqs = (await readdir(join(this.dir, 'manifests', channel)))
        .map((f) => Number.parseInt(f, 10))
        .filter((n) => n > 0)
      for (const seq of seqs.sort((a, b) => a - b)) {
        const bytes = await this.readManifest(channel, seq)
        if (bytes === undefined) continue
        const r = acceptRelease(state, bytes, { ...opts, allowExpired: true })
        if (r.ok) state = r.value.state
      }
    }
    const floor = await this.readFloor()
    for (const [ch, f] of Object.entries(floor.channels)) {
      const t = state.channels[ch] ?? { releases: [] }
      if (t.latest === undefined || t.latest.sequence < f.sequence) {
        state = { ...state, channels: { ...state.channels, [ch]: { ...t, latest: f } } }
      }
    }
    return { state, floor }
  }

  private async readFloor(): Promise<TrustFloor> {
    let text: string
    try {
      text = await readFile(join(this.dir, 'trust.json'), 'utf8')
    } catch {
      return { channels: {} }
    }
    const parsed = parseStrictJson(text)
    const v = parsed.ok ? (parsed.value as { channels?: unknown }) : undefined
    const channels = v && typeof v === 'object' ? v.channels : undefined
    const sane =
      channels !== null &&
      typeof channels === 'object' &&
      !Array.isArray(channels) &&
      Object.values(channels as object).every(
        (c: { sequence?: unknown; digest?: unknown; version?: unknown }) =>
          Number.isSafeInteger(c?.sequence) &&
          typeof c?.digest === 'string' &&
          typeof c?.version === 'string',
      )
    if (!parsed.ok || !sane) {
      throw new DataDirError(
        `${join(this.dir, 'trust.json')} is damaged (${parsed.ok ? 'unexpected shape' : parsed.reason}); restore it from a backup — deleting it would let older manifests be trusted again`,
      )
    }
    return parsed.value as unknown as TrustFloor
  }
}

/** Whether a process with this pid exists (signal 0; EPERM means it does, as another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
