/**
 * The local API's token: 32 random bytes, hex, in `<dataDir>/api.token` with mode 0600. The node
 * makes it on first start and keeps it; a POST to its API must present it (core/net/api-guard.ts).
 * Only the node's own user can read it: its supervisor does, a web page or another user cannot.
 */
import { randomBytes } from 'node:crypto'
import { chmod, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { API_TOKEN_FILE } from '../../core/net/api-guard.ts'
import { writeFileAtomic } from './atomic.ts'

const TOKEN_RE = /^[0-9a-f]{64}$/

/** The token of the node whose data dir is `dataDir`; undefined when it has none yet. */
export async function readApiToken(dataDir: string): Promise<string | undefined> {
  try {
    const t = (await readFile(join(dataDir, API_TOKEN_FILE), 'utf8')).trim()
    return TOKEN_RE.test(t) ? t : undefined
  } catch {
    return undefined
  }
}

/**
 * The data dir's token, made when missing or unreadable as one (a damaged file is replaced: the
 * token guards nothing but this API, and the next start makes it anew). Mode 0600, always.
 */
export async function ensureApiToken(dataDir: string): Promise<string> {
  const path = join(dataDir, API_TOKEN_FILE)
  const held = await readApiToken(dataDir)
  if (held !== undefined) {
    await chmod(path, 0o600)
    return held
  }
  const token = randomBytes(32).toString('hex')
  await writeFileAtomic(path, `${token}\n`, { mode: 0o600 })
  return token
}
