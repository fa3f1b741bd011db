/** `convoy keys ...`: maintainer key files. */
import { FileExistsError } from '../../adapters/fs/errors.ts'
import {
  generateSecretKey,
  KeyFileError,
  readPublicKey,
  writeKeyFile,
} from '../../adapters/fs/keys.ts'
import { CliError } from '../errors.ts'
import { type CliContext, type CommandOutput, getPassphrase, parse, required } from '../io.ts'

const GENERATE_USAGE =
  'convoy keys generate --out FILE [--name NAME] [--encrypt] [--passphrase-env VAR]'
const SHOW_USAGE = 'convoy keys show FILE'

/** `keys generate`: a new ed25519 key, written mode 0600, never over an existing file. */
export async function keysGenerate(argv: string[], ctx: CliContext): Promise<CommandOutput> {
  const { values } = parse(
    argv,
    {
      out: { type: 'string' },
      name: { type: 'string' },
      encrypt: { type: 'boolean' },
      'passphrase-env': { type: 'string' },
    },
    GENERATE_USAGE,
  )
  const out = required(values.out, '--out', GENERATE_USAGE)
  const varName = values['passphrase-env'] ?? 'CONVOY_PASSPHRASE'
  let passphrase: string | undefined
  if (values.encrypt === true) {
    passphrase = await getPassphrase(ctx, varName, `new key ${out}`)
  }
  try {
    const info = await writeKeyFile(out, generateSecretKey(), {
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(passphrase !== undefined ? { passphrase } : {}),
    })
    return {
      text: [
        `wrote ${out} (mode 0600${info.encrypted ? ', encrypted' : ''})`,
        `key id:     ${info.keyid}`,
        `public key: ${info.publicKey}`,
      ].join('\n'),
      json: { file: out, ...info },
    }
  } catch (e) {
    if (e instanceof FileExistsError)
      throw new CliError(`${out} already exists: refusing to overwrite a key file`)
    if (e instanceof KeyFileError) throw new CliError(e.message)
    throw e
  }
}

/** `keys show`: the public part of a key file, no passphrase needed. */
export async function keysShow(argv: string[]): Promise<CommandOutput> {
  const { positionals } = parse(argv, {}, SHOW_USAGE)
  const file = required(positionals[0], 'FILE', SHOW_USAGE)
  try {
    const info = await readPublicKey(file)
    return {
      text: `key id:     ${info.keyid}\npublic key: ${info.publicKey}${info.name ? `\nname:       ${info.name}` : ''}\nencrypted:  ${info.encrypted ? 'yes' : 'no'}`,
      json: { file, ...info },
    }
  } catch (e) {
    if (e instanceof KeyFileError) throw new CliError(e.message)
    throw e
  }
}
