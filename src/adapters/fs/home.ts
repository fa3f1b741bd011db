/**
 * The supervisor's home directory: releases, the `current` pointer, the rollout state file and
 * data backups. Every change is crash-safe, so a supervisor killed at any point comes back to a
 * runnable version:
 *
 *   releases/<version>/      an unpacked release (only complete ones ever appear here)
 *   current -> releases/<v>  a symlink, switched by renaming a new link over the old one
 *   state.json               the rollout state, written before each effect (write, fsync, rename)
 *   archive/<version>.tgz    the verified artifact of every installed release (and its pin in
 *                            <version>.json), to reinstall from when a release dir is damaged
 *   backups/<n>-<version>/   copies of the data dir as <version> left it, the newest `keep` kept
 *   displaced/<n>-<version>/ the data dir a restore replaced, as <version> left it: moved aside,
 *                            never deleted by the restore, the newest `keep` kept
 *   switch.json              the switch in flight: from, to and its backup (a journal)
 *   pids.json                pids of the node and shadow children (reaped after a crash)
 *   approvals.json           versions the operator approved (`convoy upgrade approve`)
 *   data/                    the node's data dir
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  cp,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  statfs,
  symlink,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import type { ArtifactPin } from '../../core/manifest/release.ts'
import { gunzipCapped, readTar } from '../build/tar.ts'
import { syncDir, writeFileAtomic } from './atomic.ts'
import { HomeError } from './errors.ts'

export { HomeError }

/** The journal of the switch in flight (from, to and its backup), in the home directory. */
export const SWITCH_JOURNAL = 'switch.json'

const VERSION_RE = /^[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.-]+)?$/

/** A supervisor home directory. */
export class Home {
  readonly dir: string
  readonly releasesDir: string
  readonly backupsDir: string
  readonly dataDir: string
  readonly archiveDir: string
  readonly shadowDir: string
  readonly displacedDir: string

  constructor(dir: string) {
    this.dir = dir
    this.releasesDir = join(dir, 'releases')
    this.backupsDir = join(dir, 'backups')
    this.dataDir = join(dir, 'data')
    this.archiveDir = join(dir, 'archive')
    this.shadowDir = join(dir, 'shadow')
    this.displacedDir = join(dir, 'displaced')
  }

  /** Creates the layout and removes leftovers of interrupted installs (never a complete release). */
  async open(): Promise<void> {
    for (const d of [this.dir, this.releasesDir, this.backupsDir, this.dataDir, this.archiveDir])
      await mkdir(d, { recursive: true })
    for (const name of await readdir(this.backupsDir)) {
      if (name.endsWith('.partial'))
        await rm(join(this.backupsDir, name), { recursive: true, force: true })
    }
    for (const name of await readdir(this.releasesDir)) {
      if (name.startsWith('.'))
        await rm(join(this.releasesDir, name), { recursive: true, force: true })
    }
    for (const name of await readdir(this.dir)) {
      if (name.startsWith('.current.')) await rm(join(this.dir, name), { force: true })
    }
  }

  /** Directory of an installed release. */
  releaseDir(version: string): string {
    if (!VERSION_RE.test(version)) throw new HomeError(`"${version}" is not a release version`)
    return join(this.releasesDir, version)
  }

  /** Installed versions, unsorted. */
  async installed(): Promise<string[]> {
    return (await readdir(this.releasesDir)).filter((n) => VERSION_RE.test(n))
  }

  /**
   * Installs a release artifact (a `convoy release pack` tarball): checks its length and sha256
   * against the signed pin first (wrong bytes are never unpacked, let alone run), unpacks into a
   * hidden temp dir, then renames it into place. Returns the release dir.
   */
  async install(
    version: string,
    artifact: Uint8Array,
    pin: ArtifactPin,
    options: { force?: boolean } = {},
  ): Promise<string> {
    const target = this.releaseDir(version)
    if (artifact.length !== pin.length)
      throw new HomeError(
        `artifact for ${version} is ${artifact.length} bytes, the manifest pins ${pin.length}: refusing to install`,
      )
    const sha = createHash('sha256').update(artifact).digest('hex')
    if (sha !== pin.sha256)
      throw new HomeError(
        `artifact for ${version} has sha256 ${sha.slice(0, 12)}, the manifest pins ${pin.sha256.slice(0, 12)}: refusing to install`,
      )
    await this.archive(version, artifact, pin)
    if (options.force !== true && (await exists(join(target, 'convoy.mjs')))) return target
    const members = readTar(gunzipCapped(artifact))
    const prefix = `convoy-${version}/`
    const tmp = join(this.releasesDir, `.${version}.${randomBytes(4).toString('hex')}`)
    await mkdir(tmp)
    try {
      for (const m of members) {
        if (m.type === '5') continue
        if (
          m.type !== '0' ||
          !m.path.startsWith(prefix) ||
          m.path.includes('..') ||
          m.path.slice(prefix.length).includes('/')
        ) {
          throw new HomeError(
            `artifact for ${version} holds an unexpected entry ${JSON.stringify(m.path)}: refusing to install`,
          )
        }
        await writeFile(join(tmp, m.path.slice(prefix.length)), m.data, { mode: m.mode & 0o755 })
      }
      if (!(await exists(join(tmp, 'convoy.mjs'))))
        throw new HomeError(`artifact for ${version} has no convoy.mjs`)
      await syncDir(tmp)
      await rm(target, { recursive: true, force: true })
      await rename(tmp, target)
      await syncDir(this.releasesDir)
      return target
    } catch (e) {
      await rm(tmp, { recursive: true, force: true })
      throw e
    }
  }

  /** Keeps the verified artifact of `version` (and its pin) so the release can be reinstalled. */
  private async archive(version: string, artifact: Uint8Array, pin: ArtifactPin): Promise<void> {
    const tgz = join(this.archiveDir, `${version}.tgz`)
    if (await exists(tgz)) return
    await writeFileAtomic(tgz, artifact)
    await writeFileAtomic(join(this.archiveDir, `${version}.json`), `${JSON.stringify(pin)}\n`)
  }

  /**
   * Unpacks `version` again from the archive, replacing its release dir: the repair when the
   * installed copy no longer runs. The archived bytes are checked against their pin again.
   */
  async reinstall(version: string): Promise<string> {
    let bytes: Uint8Array
    let pin: ArtifactPin
    try {
      bytes = new Uint8Array(await readFile(join(this.archiveDir, `${version}.tgz`)))
      pin = JSON.parse(await readFile(join(this.archiveDir, `${version}.json`), 'utf8'))
    } catch {
      throw new HomeError(
        `release ${version} is not in ${this.archiveDir}: nothing to reinstall from`,
      )
    }
    return this.install(version, bytes, pin, { force: true })
  }

  /** Removes installed releases (and their archives) other than `keep`. */
  async prune(keep: readonly string[]): Promise<string[]> {
    const removed: string[] = []
    for (const v of await this.installed()) {
      if (keep.includes(v)) continue
      await rm(join(this.releasesDir, v), { recursive: true, force: true })
      await rm(join(this.archiveDir, `${v}.tgz`), { force: true })
      await rm(join(this.archiveDir, `${v}.json`), { force: true })
      removed.push(v)
    }
    return removed
  }

  /** Reads a small JSON file of the home (journal, pids, approvals); undefined when absent or damaged. */
  async readJson<T>(name: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, name), 'utf8')) as T
    } catch {
      return undefined
    }
  }

  /** Writes a small JSON file of the home atomically. */
  async writeJson(name: string, value: unknown): Promise<void> {
    await writeFileAtomic(join(this.dir, name), `${JSON.stringify(value, null, 2)}\n`)
  }

  /** Removes a small file of the home. */
  async removeFile(name: string): Promise<void> {
    await rm(join(this.dir, name), { force: true })
    await syncDir(this.dir)
  }

  /** The version `current` points to, if any. */
  async current(): Promise<string | undefined> {
    try {
      const link = await readlink(join(this.dir, 'current'))
      const v = link.split('/').at(-1)!
      return VERSION_RE.test(v) ? v : undefined
    } catch {
      return undefined
    }
  }

  /**
   * Points `current` at an installed release: a new symlink is made beside the old one and renamed
   * over it, which is atomic, so `current` always names a complete release.
   */
  async switchCurrent(version: string): Promise<void> {
    const dir = this.releaseDir(version)
    if (!(await exists(join(dir, 'convoy.mjs'))))
      throw new HomeError(`release ${version} is not installed`)
    const tmp = join(this.dir, `.current.${randomBytes(4).toString('hex')}`)
    await symlink(join('releases', version), tmp)
    await rename(tmp, join(this.dir, 'current'))
    await syncDir(this.dir)
  }

  /** Reads the persisted state, or undefined when there is none yet. */
  async loadState<T>(): Promise<T | undefined> {
    let text: string
    try {
      text = await readFile(join(this.dir, 'state.json'), 'utf8')
    } catch {
      return undefined
    }
    try {
      return JSON.parse(text) as T
    } catch {
      throw new HomeError(
        `${join(this.dir, 'state.json')} is damaged; restore it from backups/ or move it away to start over from "current"`,
      )
    }
  }

  /** Persists the state: write, fsync, rename. Call before carrying out the effects of a step. */
  async saveState(state: unknown): Promise<void> {
    await writeFileAtomic(join(this.dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`)
  }

  /**
   * Copies the data dir to backups/<n>-<label>/ after checking there is room for it twice over,
   * then keeps only the newest `keep` backups. Returns the backup's path.
   */
  async backup(
    label: string,
    options: { keep?: number; minFreeBytes?: number } = {},
  ): Promise<string> {
    const keep = options.keep ?? 3
    const size = await dirSize(this.dataDir)
    const fs = await statfs(this.backupsDir)
    const free = fs.bavail * fs.bsize
    const needed = Math.max(2 * size, options.minFreeBytes ?? 0)
    if (free < needed) {
      throw new HomeError(
        `not enough free space for a backup: ${free} bytes free, ${needed} needed; free some space before upgrading`,
      )
    }
    const existing = (await readdir(this.backupsDir)).filter((n) => /^\d+-/.test(n)).sort()
    const n = existing.length === 0 ? 1 : Number.parseInt(existing.at(-1)!, 10) + 1
    const dest = join(this.backupsDir, `${String(n).padStart(6, '0')}-${label}`)
    const tmp = `${dest}.partial`
    await rm(tmp, { recursive: true, force: true })
    await cp(this.dataDir, tmp, { recursive: true, preserveTimestamps: true })
    await rename(tmp, dest)
    await syncDir(this.backupsDir)
    const all = (await readdir(this.backupsDir))
      .filter((name) => /^\d+-/.test(name) && !name.endsWith('.partial'))
      .sort()
    for (const old of all.slice(0, Math.max(0, all.length - keep)))
      await rm(join(this.backupsDir, old), { recursive: true, force: true })
    return dest
  }

  /** The newest complete backup, if any; with `label`, the newest taken of that version's data. */
  async latestBackup(label?: string): Promise<string | undefined> {
    const all = (await readdir(this.backupsDir))
      .filter((name) => /^\d+-/.test(name) && !name.endsWith('.partial'))
      .filter((name) => label === undefined || name.slice(name.indexOf('-') + 1) === label)
      .sort()
    return all.length === 0 ? undefined : join(this.backupsDir, all.at(-1)!)
  }

  /**
   * Replaces the data dir with a backup: copy beside, then swap by rename. What the node trusts
   * only ever grows, so it is carried forward from the data being replaced (a restore never
   * lowers the floor of trusted sequences, nor forgets a root, a manifest or a revocation). The
   * data replaced is moved to displaced/<n>-<label>/, never deleted here; the newest `keep` stay.
   * Returns where the replaced data went.
   */
  async restore(
    backup: string,
    options: { label?: string; keep?: number } = {},
  ): Promise<string | undefined> {
    const tmp = join(this.dir, `.data.${randomBytes(4).toString('hex')}`)
    await cp(backup, tmp, { recursive: true, preserveTimestamps: true })
    await carryTrust(this.dataDir, tmp)
    let moved: string | undefined
    if (await exists(this.dataDir)) {
      await mkdir(this.displacedDir, { recursive: true })
      const label = (options.label ?? 'data').replace(/[^0-9A-Za-z.+-]/g, '_')
      moved = join(
        this.displacedDir,
        `${String(await nextNumber(this.displacedDir)).padStart(6, '0')}-${label}`,
      )
      await rename(this.dataDir, moved)
      await syncDir(this.displacedDir)
    }
    await rename(tmp, this.dataDir)
    await syncDir(this.dir)
    const all = (await readdir(this.displacedDir).catch(() => [] as string[]))
      .filter((name) => /^\d+-/.test(name))
      .sort()
    for (const old of all.slice(0, Math.max(0, all.length - (options.keep ?? 3))))
      await rm(join(this.displacedDir, old), { recursive: true, force: true })
    return moved
  }
}

/** The next number for a `<n>-<label>` entry of `dir`. */
async function nextNumber(dir: string): Promise<number> {
  const names = (await readdir(dir)).filter((n) => /^\d+-/.test(n)).sort()
  return names.length === 0 ? 1 : Number.parseInt(names.at(-1)!, 10) + 1
}

/** Signed documents a node keeps in its data dir: a restore adds the newer copy's to the older. */
const SIGNED_DIRS = ['roots', 'manifests', 'revocations']

/**
 * Carries what the node trusts from `from` (the data being replaced) into `into` (a restored
 * copy): signed documents `into` lacks (re-verified by the node at start, so a damaged one costs
 * nothing), and trust.json's floor, channel by channel the higher. A floor in `from` that does not
 * parse is not carried: the restored copy's own floor stands.
 */
async function carryTrust(from: string, into: string): Promise<void> {
  for (const d of SIGNED_DIRS) {
    if (await exists(join(from, d)))
      await cp(join(from, d), join(into, d), { recursive: true, force: false, errorOnExist: false })
  }
  const read = async (dir: string) => {
    try {
      const v = JSON.parse(await readFile(join(dir, 'trust.json'), 'utf8')) as {
        channels?: Record<string, { sequence?: unknown }>
      }
      return v?.channels !== null && typeof v?.channels === 'object' ? v : undefined
    } catch {
      return undefined
    }
  }
  const newer = await read(from)
  if (newer === undefined) return
  const older = (await read(into)) ?? { channels: {} }
  const channels = { ...older.channels }
  let raised = false
  for (const [ch, f] of Object.entries(newer.channels ?? {})) {
    const seq = f?.sequence
    if (!Number.isSafeInteger(seq)) continue
    const have = channels[ch]?.sequence
    if (!Number.isSafeInteger(have) || (have as number) < (seq as number)) {
      channels[ch] = f
      raised = true
    }
  }
  if (raised)
    await writeFileAtomic(join(into, 'trust.json'), `${JSON.stringify({ channels }, null, 2)}\n`)
}

/** Whether a path exists (a dangling or unreadable one counts as missing). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

async function dirSize(dir: string): Promise<number> {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += await dirSize(p)
    else if (e.isFile()) total += (await stat(p)).size
  }
  return total
}
