/** Resolving key arguments: a public key in hex, or a key file. */
import {
  isEncryptedKeyFile,
  KeyFileError,
  type LoadedKey,
  loadKeyFile,
  type PublicKeyInfo,
  readPublicKey,
} from '../adapters/fs/keys.ts'
import { rootKey } from '../core/manifest/draft.ts'
import type { RootKey } from '../core/manifest/signing.ts'
import { CliError } from './errors.ts'
import { type CliContext, getPassphrase } from './io.ts'

/** A root key from a 64-hex public key or from a key file's public part. */
export async function resolvePublicKey(arg: string): Promise<RootKey> {
  if (/^[0-9a-f]{64}$/.test(arg)) return rootKey(arg)
  try {
    const info = await readPublicKey(arg)
    return rootKey(info.publicKey, info.name)
  } catch (e) {
    if (e instanceof KeyFileError) {
      throw new CliError(`--key ${arg}: not a 64-hex public key, and ${e.message}`)
    }
    throw e
  }
}

/** Reads the public part of a key file (no passphrase), turning errors into one line. */
export async function readKeyFilePublic(path: string): Promise<PublicKeyInfo> {
  try {
    return await readPublicKey(path)
  } catch (e) {
    if (e instanceof KeyFileError) throw new CliError(e.message)
    throw e
  }
}

/** Loads a signing key, asking for its passphrase only if it is sealed. */
export async function loadSigningKey(
  path: string,
  ctx: CliContext,
  varName = 'CONVOY_PASSPHRASE',
): Promise<LoadedKey> {
  try {
    const encrypted = await isEncryptedKeyFile(path)
    return await loadKeyFile(path, () =>
      encrypted ? getPassphrase(ctx, varName, `key ${path}`) : Promise.resolve(''),
    )
  } catch (e) {
    if (e instanceof KeyFileError) throw new CliError(e.message)
    throw e
  }
}

/** Finds a key in a key set by full key id or a unique prefix of at least 8 hex digits. */
export function findKeyId(keys: readonly RootKey[], ref: string, flag: string): string {
  if (!/^[0-9a-f]{8,64}$/.test(ref))
    throw new CliError(`${flag} ${ref}: give a key id (at least 8 hex digits)`, 2)
  const hits = keys.filter((k) => k.keyid.startsWith(ref))
  if (hits.length === 0) throw new CliError(`${flag} ${ref}: no key in the key set has this id`)
  if (hits.length > 1)
    throw new CliError(`${flag} ${ref}: ambiguous, matches ${hits.length} keys; give more digits`)
  return hits[0]!.keyid
}
