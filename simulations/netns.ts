/**
 * Network namespaces for the testnet: one Linux network namespace per node, each with a veth pair
 * to a bridge in the root namespace, on a /24 of the 10.213.0.0/16 range that this lab creates and
 * removes itself (nothing outside it is ever addressed). Needs root and iproute2 (`ip`); where
 * they are missing, {@link netnsAvailable} says so and the testnet stays on loopback.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

const run = promisify(execFile)

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args)
  return stdout
}

/** Whether this process can make namespaces: root, and `ip netns` works. */
export async function netnsAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false
  try {
    await ip('netns', 'list')
    return true
  } catch {
    return false
  }
}

/** A set of namespaces behind one bridge. */
export interface NetnsLab {
  /** The bridge's address in the root namespace (where the bootstrap node listens). */
  hostIp: string
  /** Address of node `i` inside its namespace. */
  nodeIp(i: number): string
  /** The command prefix that runs a program inside node `i`'s namespace. */
  prefix(i: number): string[]
  /** Removes every namespace, link and address the lab made. */
  remove(): Promise<void>
}

/** Makes `n` namespaces (at most 200) behind a new bridge. */
export async function createNetnsLab(n: number): Promise<NetnsLab> {
  if (n < 1 || n > 200) throw new RangeError(`a netns lab holds 1 to 200 nodes, not ${n}`)
  const tag = randomBytes(2).toString('hex')
  // A /24 no route in this namespace uses yet.
  const routes = await ip('route', 'show')
  let net = ''
  for (let k = 0; k < 254 && net === ''; k++) {
    const x = 1 + ((randomBytes(1)[0]! + k) % 254)
    if (!routes.includes(`10.213.${x}.`)) net = `10.213.${x}`
  }
  if (net === '') throw new Error('no free 10.213.x.0/24 for the testnet lab')
  const bridge = `cvb${tag}`
  const names = Array.from({ length: n }, (_, i) => `cvy-${tag}-${i}`)
  const lab: NetnsLab = {
    hostIp: `${net}.1`,
    nodeIp: (i) => `${net}.${10 + i}`,
    prefix: (i) => ['ip', 'netns', 'exec', names[i]!],
    remove: async () => {
      for (const ns of names) await ip('netns', 'del', ns).catch(() => {})
      await ip('link', 'del', bridge).catch(() => {})
    },
  }
  try {
    await ip('link', 'add', bridge, 'type', 'bridge')
    await ip('addr', 'add', `${lab.hostIp}/24`, 'dev', bridge)
    await ip('link', 'set', bridge, 'up')
    for (const [i, ns] of names.entries()) {
      const host = `cvh${tag}${i}`
      const peer = `cvn${tag}${i}`
      await ip('netns', 'add', ns)
      await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer)
      await ip('link', 'set', host, 'master', bridge)
      await ip('link', 'set', host, 'up')
      await ip('link', 'set', peer, 'netns', ns)
      await ip('-n', ns, 'addr', 'add', `${lab.nodeIp(i)}/24`, 'dev', peer)
      await ip('-n', ns, 'link', 'set', peer, 'up')
      await ip('-n', ns, 'link', 'set', 'lo', 'up')
    }
  } catch (e) {
    await lab.remove()
    throw e
  }
  return lab
}
