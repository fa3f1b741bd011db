/**
 * Maintainer key files. A key file holds one ed25519 secret key, either in the clear (mode 0600)
 * or sealed with a passphrase: scrypt (N=2^17, r=8, p=1) derives an AES-256-GCM key, and the
 * key id and public key are bound in as associated data so no field can be swapped unnoticed.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fromHex, isHexOfLength, toHex } from '../../core/bytes.ts'
import { prettyJson } from '../../core/manifest/canonical.ts'
import { keyIdOf, publicKeyOf } from '../../core/manifest/signing.ts'
import { parseStrictJson } from '../../core/manifest/strict-json.ts'
import { writeFileAtomic } from './atomic.ts'
import { KeyFileError } from './errors.ts'

export { KeyFileError }

/** Document type of a key file. */
export const KEY_FILE_TYPE = 'convoy/private-key'
const SCRYPT = { N: 2 ** 17, r: 8, p: 1 }

/** A loaded key. */
export interface LoadedKey {
  keyid: string
  publicKey: string
  name?: string
  secretKey: Uint8Array
}

/** The public part of a key file, readable without the passphrase. */
export interface PublicKeyInfo {
  keyid: string
  publicKey: string
  name?: string
  encrypted: boolean
}

interface Sealed {
  kdf: 'scrypt'
  N: number
  r: number
  p: number
  salt: string
  cipher: 'aes-256-gcm'
  iv: string
  ciphertext: string
  tag: string
}

function derive(
  passphrase: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase,
      salt,
      32,
      { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    )
  })
}

/** Makes a new random key. */
export function generateSecretKey(): Uint8Array {
  return new Uint8Array(randomBytes(32))
}

/**
 * Writes a key file at `path` with mode 0600, refusing to overwrite. When `passphrase` is given
 * the secret is sealed; the passphrase itself is never written anywhere.
 */
export async function writeKeyFile(
  path: string,
  secretKey: Uint8Array,
  options: { name?: string; passphrase?: string } = {},
): Promise<PublicKeyInfo> {
  const publicKey = toHex(publicKeyOf(secretKey))
  const keyid = keyIdOf(publicKeyOf(secretKey))
  const doc: Record<string, unknown> = { type: KEY_FILE_TYPE, keyid, publicKey }
  if (options.name !== undefined) doc.name = options.name
  if (options.passphrase !== undefined) {
    if (options.passphrase.length < 8)
      throw new KeyFileError('passphrase too short: use at least 8 characters')
    const salt = randomBytes(16)
    const iv = randomBytes(12)
    const key = await derive(options.passphrase, salt, SCRYPT)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(Buffer.from(`${KEY_FILE_TYPE}\0${keyid}\0${publicKey}`))
    const ciphertext = Buffer.concat([cipher.update(secretKey), cipher.final()])
    const sealed: Sealed = {
      kdf: 'scrypt',
      ...SCRYPT,
      salt: salt.toString('hex'),
      cipher: 'aes-256-gcm',
      iv: iv.toString('hex'),
      ciphertext: ciphertext.toString('hex'),
      tag: cipher.getAuthTag().toString('hex'),
    }
    doc.encrypted = sealed
  } else {
    doc.secretKey = toHex(secretKey)
  }
  await writeFileAtomic(path, prettyJson(doc), { mode: 0o600, noOverwrite: true })
  return {
    keyid,
    publicKey,
    encrypted: options.passphrase !== undefined,
    ...(options.name ? { name: options.name } : {}),
  }
}

async function readKeyDoc(path: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    throw new KeyFileError(
      `cannot read key file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    )
  }
  if (text.length > 16 * 1024)
    throw new KeyFileError(`${path} is not a convoy key file (too large)`)
  const parsed = parseStrictJson(text)
  if (
    !parsed.ok ||
    parsed.value === null ||
    typeof parsed.value !== 'object' ||
    Array.isArray(parsed.value)
  ) {
    throw new KeyFileError(
      `${path} is not a convoy key file (${parsed.ok ? 'not an object' : parsed.reason})`,
    )
  }
  const doc = parsed.value as Record<string, unknown>
  if (doc.type !== KEY_FILE_TYPE)
    throw new KeyFileError(`${path} is not a convoy key file (type is not "${KEY_FILE_TYPE}")`)
  if (!isHexOfLength(doc.publicKey, 32) || doc.keyid !== keyIdOf(fromHex(doc.publicKey)!)) {
    throw new KeyFileError(`${path} is damaged: its keyid does not match its publicKey`)
  }
  return doc
}

/** Reads the public part of a key file; needs no passphrase. */
export async function readPublicKey(path: string): Promise<PublicKeyInfo> {
  const doc = await readKeyDoc(path)
  return {
    keyid: doc.keyid as string,
    publicKey: doc.publicKey as string,
    encrypted: doc.encrypted !== undefined,
    ...(typeof doc.name === 'string' ? { name: doc.name } : {}),
  }
}

/** True when the key file is sealed with a passphrase. */
export async function isEncryptedKeyFile(path: string): Promise<boolean> {
  return (await readKeyDoc(path)).encrypted !== undefined
}

/**
 * Loads a key file. `getPassphrase` is called only for a sealed key. The secret is checked
 * against the public key in the file, so a damaged or swapped file is refused.
 */
export async function loadKeyFile(
  path: string,
  getPassphrase: () => Promise<string>,
): Promise<LoadedKey> {
  const doc = await readKeyDoc(path)
  let secretKey: Uint8Array
  if (doc.encrypted !== undefined) {
    const e = doc.encrypted as Partial<Sealed>
    if (
      e.kdf !== 'scrypt' ||
      e.cipher !== 'aes-256-gcm' ||
      typeof e.N !== 'number' ||
      typeof e.r !== 'number' ||
      typeof e.p !== 'number' ||
      e.N > 2 ** 20 ||
      e.r > 32 ||
      e.p > 16
    ) {
      throw new KeyFileError(`${path}: unsupported or unsafe encryption parameters`)
    }
    const passphrase = await getPassphrase()
    const key = await derive(passphrase, Buffer.from(String(e.salt), 'hex'), {
      N: e.N,
      r: e.r,
      p: e.p,
    })
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(String(e.iv), 'hex'))
      decipher.setAAD(Buffer.from(`${KEY_FILE_TYPE}\0${doc.keyid}\0${doc.publicKey}`))
      decipher.setAuthTag(Buffer.from(String(e.tag), 'hex'))
      secretKey = new Uint8Array(
        Buffer.concat([
          decipher.update(Buffer.from(String(e.ciphertext), 'hex')),
          decipher.final(),
        ]),
      )
    } catch {
      throw new KeyFileError(`${path}: wrong passphrase, or the file was altered`)
    }
  } else {
    if (!isHexOfLength(doc.secretKey, 32))
      throw new KeyFileError(`${path} is damaged: secretKey must be 64 hex digits`)
    secretKey = fromHex(doc.secretKey)!
  }
  if (secretKey.length !== 32 || toHex(publicKeyOf(secretKey)) !== doc.publicKey) {
    throw new KeyFileError(`${path} is damaged: its secret key does not match its public key`)
  }
  return {
    keyid: doc.keyid as string,
    publicKey: doc.publicKey as string,
    secretKey,
    ...(typeof doc.name === 'string' ? { name: doc.name } : {}),
  }
}
