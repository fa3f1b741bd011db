/**
 * Running a release's migration and gathering what the core's `judgeMigration` judges: the
 * process (its own process group, killed whole at the deadline), and what makes the node itself
 * in a data dir (the peer id of identity.key, trust.json's floor, whether every state file
 * parses). Also the rehearsal: the migration applied to the shadow's copy of the data before the
 * candidate starts on it, and its reverse tried on a second copy, so a migration that hangs,
 * fails or breaks the node's own state is caught before any node goes down.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { access, cp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  judgeMigration,
  type MigrationLimits,
  type MigrationRun,
  type MigrationVerdict,
  type NodeSelf,
} from '../../core/shadow/migration.ts'

/** The forward migration a release may ship. */
export const MIGRATION_UP = 'migrate.mjs'
/** Its reverse, which rollback runs when present (the migration's `down`). */
export const MIGRATION_DOWN = 'migrate-down.mjs'

/** Most state files read for the self check; past this the rest are not looked at. */
const MAX_STATE_FILES = 20_000
/** Directories of the data dir whose files are not state (artifacts are checked by hash). */
const NOT_STATE = new Set(['artifacts', 'lock'])

/** What makes the node itself in `dataDir`. */
export async function readSelf(dataDir: string): Promise<NodeSelf> {
  const self: NodeSelf = { unreadable: [] }
  try {
    const key = privateKeyFromProtobuf(
      new Uint8Array(await readFile(join(dataDir, 'identity.key'))),
    )
    self.peerId = peerIdFromPrivateKey(key).toString()
  } catch {}
  try {
    const t = JSON.parse(await readFile(join(dataDir, 'trust.json'), 'utf8')) as {
      channels?: Record<string, { sequence?: unknown }>
    }
    if (t?.channels !== null && typeof t?.channels === 'object') {
      const floors: Record<string, number> = {}
      for (const [ch, f] of Object.entries(t.channels))
        if (Number.isSafeInteger(f?.sequence)) floors[ch] = f.sequence as number
      self.floors = floors
    }
  } catch (e) {
    // No trust.json yet is a node that trusts nothing yet: an empty floor, not a broken one.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') self.floors = {}
  }
  let seen = 0
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dataDir, rel), { withFileTypes: true }).catch(() => [])
    for (const e of entries) {
      if (seen >= MAX_STATE_FILES) return
      const path = rel === '' ? e.name : `${rel}/${e.name}`
      if (rel === '' && NOT_STATE.has(e.name)) continue
      if (e.isDirectory()) await walk(path)
      else if (e.isFile() && e.name.endsWith('.json')) {
        seen++
        try {
          JSON.parse(await readFile(join(dataDir, path), 'utf8'))
        } catch {
          self.unreadable.push(path)
        }
      }
    }
  }
  await walk('')
  self.unreadable.sort()
  return self
}

/** Whether `releaseDir` ships a migration in `direction`. */
export async function hasMigration(releaseDir: string, direction: 'up' | 'down'): Promise<boolean> {
  try {
    await access(join(releaseDir, direction === 'up' ? MIGRATION_UP : MIGRATION_DOWN))
    return true
  } catch {
    return false
  }
}

/**
 * Runs `<releaseDir>/migrate.mjs` (or its reverse) over `dataDir` as
 * `node SCRIPT --data-dir DIR --from A --to B`, in its own process group: at the deadline the
 * whole group is killed, children too.
 */
export async function runMigration(
  releaseDir: string,
  direction: 'up' | 'down',
  dataDir: string,
  from: string,
  to: string,
  deadlineMs: number,
): Promise<MigrationRun> {
  const script = join(releaseDir, direction === 'up' ? MIGRATION_UP : MIGRATION_DOWN)
  const started = Date.now()
  const child = spawn(
    process.execPath,
    [script, '--data-dir', dataDir, '--from', from, '--to', to],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  )
  let out = ''
  const keep = (c: Buffer) => {
    out = (out + c.toString('utf8')).slice(-1000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let timedOut = false
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
    } catch {}
  }
  const timer = setTimeout(() => {
    timedOut = true
    killGroup()
  }, deadlineMs)
  const [code] = (await once(child, 'exit')) as [number | null, string | null]
  clearTimeout(timer)
  // Whatever it left running in its group goes with it.
  killGroup()
  return {
    exitCode: code,
    timedOut,
    elapsedMs: Date.now() - started,
    lastLine: out.trim().split('\n').at(-1)?.slice(0, 300) ?? '',
  }
}

/** Runs a migration over `dataDir` and judges it against what the data dir was before. */
export async function migrateAndJudge(
  what: string,
  releaseDir: string,
  direction: 'up' | 'down',
  dataDir: string,
  from: string,
  to: string,
  limits: MigrationLimits,
  before?: NodeSelf,
): Promise<{ verdict: MigrationVerdict; run: MigrationRun }> {
  const self = before ?? (await readSelf(dataDir))
  const run = await runMigration(releaseDir, direction, dataDir, from, to, limits.deadlineMs)
  return { verdict: judgeMigration(what, self, await readSelf(dataDir), run, limits), run }
}

/** What a rehearsal found. */
export interface Rehearsal {
  verdict: MigrationVerdict
  /** How long the forward migration took, ms. */
  upMs: number
  /** True when the release ships a reverse and it passed on a copy. */
  reversible: boolean
}

/**
 * Rehearses the migration of `releaseDir` (from `from` to `to`) on `shadowData`, the shadow's
 * copy of the live data, in place: the candidate then starts on the migrated copy. The copy gets
 * a decoy identity first (never the node's own key), so "the identity is kept" is checked
 * without handing the key to the migration. When the release ships a reverse, it is tried on a
 * second copy of the migrated data, and must leave the node's own state as it found it.
 */
export async function rehearseMigration(
  releaseDir: string,
  shadowData: string,
  from: string,
  to: string,
  limits: MigrationLimits,
): Promise<Rehearsal> {
  await writeFile(
    join(shadowData, 'identity.key'),
    privateKeyToProtobuf(await generateKeyPair('Ed25519')),
    { mode: 0o600 },
  )
  const before = await readSelf(shadowData)
  const up = await migrateAndJudge(
    `the migration ${from} -> ${to} (rehearsed on a copy)`,
    releaseDir,
    'up',
    shadowData,
    from,
    to,
    limits,
    before,
  )
  if (!up.verdict.ok) return { verdict: up.verdict, upMs: up.run.elapsedMs, reversible: false }
  if (!(await hasMigration(releaseDir, 'down')))
    return { verdict: up.verdict, upMs: up.run.elapsedMs, reversible: false }
  const back = `${shadowData}.down`
  await rm(back, { recursive: true, force: true })
  try {
    await cp(shadowData, back, { recursive: true })
    const down = await migrateAndJudge(
      `the reverse migration ${to} -> ${from} (rehearsed on a copy)`,
      releaseDir,
      'down',
      back,
      to,
      from,
      { deadlineMs: limits.deadlineMs },
      before,
    )
    return { verdict: down.verdict, upMs: up.run.elapsedMs, reversible: down.verdict.ok }
  } finally {
    await rm(back, { recursive: true, force: true })
  }
}
