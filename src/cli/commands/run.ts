/** `convoy run`: the long-running supervisor (install, run, restart, upgrade, roll back, stop). */
import { PackError } from '../../adapters/build/errors.ts'
import { DataDirError, HomeError } from '../../adapters/fs/errors.ts'
import { Supervisor } from '../../adapters/process/supervisor.ts'
import {
  BANDWIDTH_OPTIONS,
  BANDWIDTH_USAGE,
  bandwidthEnv,
  bandwidthFromFlags,
} from '../bandwidth.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  parse,
  parseDuration,
  parseVersion,
  required,
  stamp,
} from '../io.ts'
import { readNetworkFile } from './network.ts'

const USAGE = `convoy run --home DIR --network network.json [--release convoy-<version>.tgz] [--channel stable] [--listen MULTIADDR ...] [--api 127.0.0.1:PORT] [--auto-upgrade on|off] [--hold-at VERSION] [--tick 1s] [--migration-timeout 2m] ${BANDWIDTH_USAGE}`

/** `run`: until SIGINT or SIGTERM. */
export async function run(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(
    argv,
    {
      home: { type: 'string' },
      network: { type: 'string' },
      release: { type: 'string' },
      channel: { type: 'string' },
      listen: { type: 'string', multiple: true },
      api: { type: 'string' },
      'max-connections': { type: 'string' },
      'lookup-interval': { type: 'string' },
      'auto-upgrade': { type: 'string' },
      'hold-at': { type: 'string' },
      tick: { type: 'string' },
      'migration-timeout': { type: 'string' },
      ...BANDWIDTH_OPTIONS,
    },
    USAGE,
  )
  const home = required(values.home, '--home', USAGE)
  const networkPath = required(values.network, '--network', USAGE)
  // Checked here, so a bad budget stops the supervisor, not its node in a restart loop.
  const bandwidth = bandwidthFromFlags(values)
  const network = await readNetworkFile(networkPath)
  const auto = values['auto-upgrade']
  if (auto !== undefined && auto !== 'on' && auto !== 'off')
    throw new CliError(`--auto-upgrade must be on or off, not "${auto}"`, 2)
  const hold =
    values['hold-at'] === undefined ? undefined : parseVersion(values['hold-at'], '--hold-at')
  const migrationTimeoutMs =
    values['migration-timeout'] === undefined
      ? undefined
      : Math.max(1, parseDuration(values['migration-timeout'], '--migration-timeout')) * 1000
  const tickMs = values.tick ? Math.max(1, parseDuration(values.tick, '--tick')) * 1000 : 1000
  const nodeArgs: string[] = []
  for (const l of values.listen ?? []) nodeArgs.push('--listen', l)
  if (values.api) nodeArgs.push('--api', values.api)
  if (values['max-connections']) nodeArgs.push('--max-connections', values['max-connections'])
  if (values['lookup-interval']) nodeArgs.push('--lookup-interval', values['lookup-interval'])
  const log = (line: string) => process.stdout.write(`${stamp()} ${line}\n`)
  const crashAt = (ctx.env.CONVOY_TEST_CRASH ?? '').split(',').filter((x) => x !== '')
  const sup = new Supervisor({
    home,
    networkPath,
    network,
    channel: values.channel ?? 'stable',
    nodeArgs,
    nodeEnv: bandwidthEnv(bandwidth),
    ...(values.release ? { initialRelease: values.release } : {}),
    settings: {
      ...(auto ? { autoUpgrade: auto === 'on' } : {}),
      ...(hold ? { holdAt: hold } : {}),
    },
    tickMs,
    ...(migrationTimeoutMs !== undefined ? { migrationTimeoutMs } : {}),
    ...(crashAt.length > 0 ? { crashAt } : {}),
    now: ctx.now,
    log,
  })
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  try {
    await sup.start()
  } catch (e) {
    await sup.stop().catch(() => {})
    if (e instanceof HomeError || e instanceof PackError || e instanceof DataDirError)
      throw new CliError(e.message)
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && values.release)
      throw new CliError(`--release ${values.release}: no such file`)
    throw e
  }
  const sig = await stopped
  log(`${sig}: stopping; the node gets SIGTERM, then SIGKILL after 10 s`)
  await sup.stop()
  const s = await sup.status()
  return {
    text: `${stamp()} supervisor stopped cleanly (${s.restarts} restart(s))`,
    json: { stopped: true, ...s },
  }
}
