/** `convoy network init`: the file a community hands its node runners. */
import { multiaddr } from '@multiformats/multiaddr'
import { opensslVerify } from '../../adapters/crypto/ed25519.ts'
import { writeFileAtomic } from '../../adapters/fs/atomic.ts'
import { verifyAnchorRoot } from '../../core/manifest/root.ts'
import {
  decodeNetworkConfig,
  encodeNetworkConfig,
  MAX_NETWORK_BYTES,
  type NetworkConfig,
} from '../../core/net/network-config.ts'
import { CliError } from '../errors.ts'
import {
  type CliContext,
  type CommandOutput,
  parse,
  readCapped,
  readRootFile,
  required,
  unwrap,
} from '../io.ts'

const INIT_USAGE =
  'convoy network init --root root.json [--bootstrap MULTIADDR ...] --out network.json'

/** Checks that a bootstrap address parses and names its peer. */
export function checkBootstrap(addr: string): void {
  let ma: ReturnType<typeof multiaddr>
  try {
    ma = multiaddr(addr)
  } catch (e) {
    throw new CliError(`--bootstrap "${addr}" is not a multiaddr (${(e as Error).message})`, 2)
  }
  if (!ma.toString().includes('/p2p/')) {
    throw new CliError(
      `--bootstrap "${addr}" must end in /p2p/<peer id> so the peer can be authenticated`,
      2,
    )
  }
}

/** `network init`. */
export async function networkInit(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(
    argv,
    {
      root: { type: 'string' },
      bootstrap: { type: 'string', multiple: true },
      out: { type: 'string' },
    },
    INIT_USAGE,
  )
  const rootPath = required(values.root, '--root', INIT_USAGE)
  const out = required(values.out, '--out', INIT_USAGE)
  const { bytes } = await readRootFile(rootPath)
  const anchor = unwrap(
    verifyAnchorRoot(bytes, { now: ctx.now(), verify: opensslVerify }),
    rootPath,
  )
  const bootstrap = values.bootstrap ?? []
  for (const b of bootstrap) checkBootstrap(b)
  await writeFileAtomic(out, encodeNetworkConfig(bytes, anchor.signed.network, bootstrap))
  return {
    text: `wrote ${out}: network "${anchor.signed.network}", trust anchor root v${anchor.signed.version} (${anchor.signed.threshold} of ${anchor.signed.keys.length}), ${bootstrap.length} bootstrap peer(s)`,
    json: {
      file: out,
      network: anchor.signed.network,
      rootVersion: anchor.signed.version,
      bootstrap,
    },
  }
}

/** Reads and verifies a network file, with errors that say what to do. */
export async function readNetworkFile(path: string): Promise<NetworkConfig> {
  const bytes = await readCapped(path, MAX_NETWORK_BYTES)
  const r = decodeNetworkConfig(bytes, { verify: opensslVerify })
  if (!r.ok)
    throw new CliError(
      `${path}: ${r.reason}; get a valid network file from your network's maintainers (convoy network init)`,
    )
  for (const b of r.value.bootstrap) {
    try {
      checkBootstrap(b)
    } catch (e) {
      throw new CliError(`${path}: ${(e as Error).message}`)
    }
  }
  return r.value
}
