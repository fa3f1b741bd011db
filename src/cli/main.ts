/**
 * The `convoy` command line: parses the command, runs it, prints text or `--json`, and maps
 * failures to one line on stderr and a non-zero exit code.
 */

import { CliError } from './errors.ts'
import type { CliContext, CommandOutput } from './io.ts'
import { promptHidden } from './prompt.ts'

type Command = (argv: string[], ctx: CliContext) => Promise<CommandOutput>
type Loader = () => Promise<Command>

/**
 * Each command is loaded when it runs, not before: a maintainer command then never loads libp2p
 * or the simulator, and starts in about a third of the time.
 */
const lazy =
  <M, K extends keyof M>(load: () => Promise<M>, name: K): Loader =>
  async () =>
    (await load())[name] as Command
const keys = () => import('./commands/keys.ts')
const root = () => import('./commands/root.ts')
const release = () => import('./commands/release.ts')
const node = () => import('./commands/node.ts')
const pack = () => import('./commands/pack.ts')
const upgrade = () => import('./commands/upgrade.ts')

const COMMANDS: Record<string, Record<string, Loader>> = {
  keys: { generate: lazy(keys, 'keysGenerate'), show: lazy(keys, 'keysShow') },
  root: {
    init: lazy(root, 'rootInit'),
    rotate: lazy(root, 'rootRotate'),
    sign: lazy(root, 'rootSign'),
    verify: lazy(root, 'rootVerify'),
    merge: lazy(root, 'rootMerge'),
  },
  release: {
    draft: lazy(release, 'releaseDraft'),
    sign: lazy(release, 'releaseSign'),
    merge: lazy(release, 'releaseMerge'),
    verify: lazy(release, 'releaseVerify'),
    inspect: lazy(release, 'releaseInspect'),
    publish: lazy(node, 'releasePublish'),
    revoke: lazy(() => import('./commands/revoke.ts'), 'releaseRevoke'),
    pack: lazy(pack, 'releasePack'),
    'rebuild-check': lazy(() => import('./commands/rebuild.ts'), 'releaseRebuildCheck'),
  },
  network: { init: lazy(() => import('./commands/network.ts'), 'networkInit') },
  node: { start: lazy(node, 'nodeStart') },
  run: { '': lazy(() => import('./commands/run.ts'), 'run') },
  upgrade: { approve: lazy(upgrade, 'upgradeApprove'), status: lazy(upgrade, 'upgradeStatus') },
  status: { '': lazy(node, 'status') },
  version: { '': lazy(pack, 'version') },
  sim: { '': lazy(() => import('./commands/sim.ts'), 'sim') },
  testnet: { '': lazy(() => import('./commands/testnet.ts'), 'testnet') },
}

const HELP = `convoy: peer-to-peer upgrades by network consensus

maintainer commands:
  convoy keys generate --out FILE [--name NAME] [--encrypt]
  convoy keys show FILE
  convoy root init --network NAME --threshold T --key PUBKEY_OR_KEYFILE ... --out root.json
  convoy root rotate root.json [--add KEY] [--remove KEYID] [--threshold T] --out root-2.json
  convoy root sign FILE --key KEYFILE [--previous root-N.json]
  convoy root verify FILE ... [--trusted root-1.json]
  convoy root merge A.json B.json ... --out FILE
  convoy release pack --version V --out FILE [--migration SCRIPT.mjs] [--source DIR]
  convoy release draft --root root.json --channel NAME --version V (--from-pack FILE.tgz | --artifact PLATFORM=PATH ...) --out release.json
  convoy release rebuild-check FILE [--source DIR] [--artifact FILE.tgz]
  convoy release sign FILE --key KEYFILE [--root root.json] [--no-rebuild-check]
  convoy release merge A.json B.json ... --out release.json
  convoy release verify FILE --root root.json
  convoy release inspect FILE [--root root.json]
  convoy release publish release.json --network network.json [--root root-N.json ...] [--artifact FILE]
  convoy release revoke VERSION --manifest release.json --reason TEXT [--root root.json ...] --out revoke.json
      (then sign, merge, verify and publish revoke.json like a release)

node runner commands:
  convoy network init --root root.json [--bootstrap MULTIADDR ...] --out network.json
  convoy node start --network network.json --data-dir DIR [--channel stable] [--listen MULTIADDR ...] [--api 127.0.0.1:PORT]
  convoy status [--api 127.0.0.1:PORT]
  convoy run --home DIR --network network.json [--release convoy-<version>.tgz] [--auto-upgrade on|off] [--hold-at V] [node options]
  convoy upgrade approve VERSION --home DIR
  convoy upgrade status --home DIR
  convoy version

researcher commands:
  convoy sim --scenario FILE [--seed N] --out DIR
  convoy sim compare --scenario FILE --policy A.json --policy B.json ... [--seed N] --out DIR
  convoy testnet --nodes N --out DIR [--release good|crash-in-probation|... ...] [--work DIR] [--netns]

Every command takes --json. Passphrases come from CONVOY_PASSPHRASE or a prompt, never argv.
See docs/maintainers.md and docs/node-runners.md.`

/** Runs one command line; returns the exit code. Writes only through `out` and `err`. */
export async function run(
  argv: string[],
  ctx: CliContext,
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const json = argv.includes('--json')
  // Commands registered under '' (status, version, run) take no subcommand: the rest is options.
  const [group, name, ...rest] =
    argv[0] !== undefined && COMMANDS[argv[0]]?.[''] !== undefined
      ? [argv[0], '', ...argv.slice(1)]
      : argv
  if (group === undefined || group === 'help' || group === '--help' || group === '-h') {
    out(`${HELP}\n`)
    return group === undefined ? 2 : 0
  }
  const load = COMMANDS[group]?.[name ?? '']
  if (load === undefined) {
    const known = COMMANDS[group] ? Object.keys(COMMANDS[group]).join(', ') : undefined
    const msg = known
      ? `unknown command "${group} ${name ?? ''}": try one of ${known}`
      : `unknown command "${group}": run \`convoy help\``
    if (json) out(`${JSON.stringify({ ok: false, error: msg })}\n`)
    else err(`convoy: ${msg}\n`)
    return 2
  }
  try {
    const warn = (m: string) => err(`convoy: warning: ${m}\n`)
    const command = await load()
    const result = await command(rest, { warn, ...ctx })
    out(json ? `${JSON.stringify({ ok: true, ...result.json })}\n` : `${result.text}\n`)
    return 0
  } catch (e) {
    const known = e instanceof CliError
    // A failed system call (missing directory, no permission, full disk) is for the user to fix:
    // one line naming the path, not a stack trace.
    const sys = !known && isSystemError(e)
    const msg =
      known || sys ? (e as Error).message : `internal error: ${(e as Error).stack ?? String(e)}`
    if (json) out(`${JSON.stringify({ ok: false, error: msg.split('\n')[0] })}\n`)
    err(`convoy: ${msg}\n`)
    return known ? e.exitCode : sys ? 1 : 70
  }
}

function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  const x = e as NodeJS.ErrnoException
  return e instanceof Error && typeof x.code === 'string' && typeof x.syscall === 'string'
}

/** Entry point used by bin/convoy.js. */
export async function main(): Promise<void> {
  const ctx: CliContext = {
    env: process.env,
    now: () => Date.now(),
    ...(process.stdin.isTTY ? { prompt: promptHidden } : {}),
  }
  process.exitCode = await run(process.argv.slice(2), ctx)
  // `node start` and `run` have stopped everything they own by now, but libp2p can still hold a
  // timer (its address manager debounces for 1 s) that would only delay the exit: during a
  // switch, that second is downtime. stdout and stderr are synchronous on Linux pipes and files.
  if (process.argv[2] === 'node' || process.argv[2] === 'run') process.exit()
}
