/**
 * `convoy upgrade approve VERSION` and `convoy upgrade status`: the operator's side of a
 * supervisor's rollout, through files in its home (so they work whether or not it is running).
 */
import { Home } from '../../adapters/fs/home.ts'
import type { RolloutState } from '../../core/rollout/machine.ts'
import { CliError } from '../errors.ts'
import { type CliContext, type CommandOutput, parse, parseVersion, required } from '../io.ts'

const APPROVE_USAGE = 'convoy upgrade approve VERSION --home DIR'
const STATUS_USAGE = 'convoy upgrade status --home DIR [--json]'

/** `upgrade approve`: lets a supervisor with --auto-upgrade off take VERSION. */
export async function upgradeApprove(argv: string[], _ctx: CliContext): Promise<CommandOutput> {
  const { values, positionals } = parse(argv, { home: { type: 'string' } }, APPROVE_USAGE)
  const version = parseVersion(
    required(positionals[0], 'VERSION', APPROVE_USAGE),
    'VERSION',
    APPROVE_USAGE,
  )
  const home = await openHome(required(values.home, '--home', APPROVE_USAGE))
  const prior = (await home.readJson<{ approved?: string[] }>('approvals.json'))?.approved ?? []
  const approved = [...new Set([...prior.filter((v) => typeof v === 'string'), version])].sort()
  await home.writeJson('approvals.json', { approved })
  return {
    text: `approved ${version}: the supervisor of ${home.dir} takes it at its next tick, within its rollout rules`,
    json: { approved },
  }
}

/** `upgrade status`: where the supervisor's rollout is, and why. */
export async function upgradeStatus(argv: string[], _ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(argv, { home: { type: 'string' } }, STATUS_USAGE)
  const home = await openHome(required(values.home, '--home', STATUS_USAGE))
  const s = await home.loadState<RolloutState>()
  if (s === undefined)
    throw new CliError(`${home.dir} has no state.json yet: start \`convoy run --home ${home.dir}\``)
  const current = await home.current()
  const lines = [
    `running ${s.current} (pointer: ${current ?? 'none'}), last good ${s.lastGood}${s.previous ? `, previous ${s.previous}` : ''}`,
    `phase ${s.phase}: ${s.reason}`,
  ]
  if (s.target)
    lines.push(
      `target ${s.target.version} (sequence ${s.target.sequence})${s.canary ? ', this node is a canary' : ''}${s.slot !== undefined ? `, slot ${(s.slot * 100).toFixed(2)}% of the window` : ''}`,
    )
  if (s.evidence) lines.push(`evidence: ${s.evidence.reason}`)
  for (const [v, why] of Object.entries(s.bad)) lines.push(`skipped ${v}: ${why}`)
  lines.push(
    `settings: auto-upgrade ${s.settings.autoUpgrade ? 'on' : 'off'}${s.settings.holdAt ? `, held at ${s.settings.holdAt}` : ''}${s.settings.approved.length ? `, approved ${s.settings.approved.join(', ')}` : ''}`,
  )
  return { text: lines.join('\n'), json: { ...s, pointer: current } as Record<string, unknown> }
}

async function openHome(dir: string): Promise<Home> {
  const home = new Home(dir)
  if ((await home.current()) === undefined && (await home.loadState()) === undefined)
    throw new CliError(`${dir} is not a supervisor home (no current release, no state.json)`)
  return home
}
