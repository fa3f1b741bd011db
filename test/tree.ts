/** The .ts files under a folder, recursively: what the tree-shape tests read. */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'

export async function tsFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await tsFilesUnder(p)))
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}
