/**
 * The local record of builds this machine reproduced: one small JSON file per artifact hash under
 * `$CONVOY_HOME/reproduced/`. `release rebuild-check` writes it; `release sign` reads it to
 * decide whether the maintainer's signature may declare a reproduced build. It is a note to
 * oneself, not evidence for anyone else: the signed attestation in the manifest is that.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { writeFileAtomic } from './atomic.ts'

/** One reproduced build. */
export interface ReproducedRecord {
  /** Lowercase hex sha256 of the artifact that was rebuilt byte for byte. */
  sha256: string
  /** The source commit it was rebuilt from (the manifest's `source.commit`). */
  commit: string
  /** The packer that rebuilt it here, e.g. `convoy-pack/1+esbuild/0.28.2`. */
  packTool: string
  /** When, RFC 3339 UTC with whole seconds. */
  when: string
}

const SHA256_RE = /^[0-9a-f]{64}$/

/** convoy's per-user directory: `$CONVOY_HOME`, or `~/.convoy` when that is unset or empty. */
export function convoyHome(env: NodeJS.ProcessEnv): string {
  const set = env.CONVOY_HOME
  return set !== undefined && set !== '' ? set : join(homedir(), '.convoy')
}

/** Path of the record for the artifact `sha256` under `home`. */
export function reproducedPath(home: string, sha256: string): string {
  if (!SHA256_RE.test(sha256)) throw new TypeError('sha256 must be 64 lower-case hex digits')
  return join(home, 'reproduced', `${sha256}.json`)
}

/** Writes (atomically, replacing any older one) the record of a reproduced build; returns its path. */
export async function writeReproduced(home: string, record: ReproducedRecord): Promise<string> {
  const path = reproducedPath(home, record.sha256)
  await mkdir(join(home, 'reproduced'), { recursive: true, mode: 0o700 })
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`)
  return path
}

/**
 * The record for `sha256`, or undefined when there is none or it is unreadable or names another
 * artifact: a damaged note means "not reproduced here", never a crash.
 */
export async function readReproduced(
  home: string,
  sha256: string,
): Promise<ReproducedRecord | undefined> {
  let text: string
  try {
    text = await readFile(reproducedPath(home, sha256), 'utf8')
  } catch {
    return undefined
  }
  try {
    const r = JSON.parse(text) as Partial<ReproducedRecord>
    if (
      r.sha256 !== sha256 ||
      typeof r.commit !== 'string' ||
      typeof r.packTool !== 'string' ||
      typeof r.when !== 'string'
    )
      return undefined
    return { sha256: r.sha256, commit: r.commit, packTool: r.packTool, when: r.when }
  } catch {
    return undefined
  }
}
