/** The API token file: made once, mode 0600, kept across starts, a damaged one replaced. */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import { ensureApiToken, readApiToken } from '../../src/adapters/fs/api-token.ts'

it('ensureApiToken makes a 0600 token once and keeps it; a damaged one is replaced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convoy-token-'))
  try {
    assert.equal(await readApiToken(dir), undefined)
    const t = await ensureApiToken(dir)
    assert.match(t, /^[0-9a-f]{64}$/)
    assert.equal((await stat(join(dir, 'api.token'))).mode & 0o777, 0o600)
    assert.equal(await ensureApiToken(dir), t, 'kept across starts')
    assert.equal(await readApiToken(dir), t)
    await writeFile(join(dir, 'api.token'), 'not a token', { mode: 0o644 })
    const t2 = await ensureApiToken(dir)
    assert.notEqual(t2, t)
    assert.equal((await readFile(join(dir, 'api.token'), 'utf8')).trim(), t2)
    assert.equal((await stat(join(dir, 'api.token'))).mode & 0o777, 0o600)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
