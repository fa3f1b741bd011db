/** `convoy run`: the long-running supervisor (first part: install, run, restart, stop). */
import { PackError } from '../../adapters/build/pack.ts'
import { HomeError } from '../../adapters/fs/home.ts'
import { Supervisor } from '../../adapters/process/supervisor.ts'
import { type CliContext, CliError, type CommandOutput, parse, required, stamp } from '../io.ts'

const USAGE =
  'convoy run --home DIR --network network.json [--release convoy-<version>.tgz] [--channel stable] [--listen MULTIADDR ...] [--api 127.0.0.1:PORT] [--auto-upgrade on|off] [--hold-at VERSION]'

/** `run`: until SIGINT or SIGTERM. */
export async function run(argv: string[], _ctx: CliContext): Promise<CommandOutput> {
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
    },
    USAGE,
  )
  const home = required(values.home, '--home', USAGE)
  const network = required(values.network, '--network', USAGE)
  const auto = values['auto-upgrade']
  if (auto !== undefined && auto !== 'on' && auto !== 'off')
    throw new CliError(`--auto-upgrade must be on or off, not "${auto}"`, 2)
  const nodeArgs = ['--network', network]
  if (values.channel) nodeArgs.push('--channel', values.channel)
  for (const l of values.listen ?? []) nodeArgs.push('--listen', l)
  if (values.api) nodeArgs.push('--api', values.api)
  if (values['max-connections']) nodeArgs.push('--max-connections', values['max-connections'])
  if (values['lookup-interval']) nodeArgs.push('--lookup-interval', values['lookup-interval'])
  const log = (line: string) => process.stdout.write(`${stamp()} ${line}\n`)
  const sup = new Supervisor({
    home,
    nodeArgs,
    ...(values.release ? { initialRelease: values.release } : {}),
    settings: {
      ...(auto ? { autoUpgrade: auto === 'on' } : {}),
      ...(values['hold-at'] ? { holdAt: values['hold-at'] } : {}),
    },
    log,
  })
  try {
    await sup.start()
  } catch (e) {
    if (e instanceof HomeError || e instanceof PackError) throw new CliError(e.message)
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && values.release)
      throw new CliError(`--release ${values.release}: no such file`)
    throw e
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  log('stopping: the node gets SIGTERM, then SIGKILL after 10 s')
  await sup.stop()
  const s = await sup.status()
  return {
    text: `${stamp()} supervisor stopped cleanly (${s.restarts} restart(s))`,
    json: { stopped: true, ...s },
  }
}
