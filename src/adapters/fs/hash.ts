/** Streaming sha256 and length of a file, for pinning artifacts without loading them whole. */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'

/** Hex sha256 and exact byte length of the file at `path`. */
export async function hashFile(
  path: string,
  options: { signal?: AbortSignal } = {},
): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256')
  let length = 0
  const stream = createReadStream(path, options.signal ? { signal: options.signal } : {})
  for await (const chunk of stream) {
    hash.update(chunk as Buffer)
    length += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), length }
}
