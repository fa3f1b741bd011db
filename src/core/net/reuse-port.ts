/**
 * Whether a release switch can hand the node's port over without refusing a connection.
 *
 * With SO_REUSEPORT (Node's `net.Server.listen({ reusePort: true })`) the new node binds the port
 * the old one still listens on, and the kernel spreads new connections over both until the old
 * one, drained, closes. The kernel allows it only when both sockets opted in, so a handover needs
 * a live node that listens with it. Node has the option from 22.12 (22.x) and 23.1; convoy uses it
 * on Linux only, whose SO_REUSEPORT balances connections between the listeners (elsewhere the
 * option is missing, refused or means something else). Pure: the platform facts are arguments.
 */

/** Where the caller runs: the platform name ("linux", "darwin") and the Node version ("24.21.0"). */
export interface PlatformFacts {
  platform: string
  nodeVersion: string
}

/** True when this platform and Node can listen with `reusePort`. */
export function reusePortAvailable(facts: PlatformFacts): boolean {
  if (facts.platform !== 'linux') return false
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(facts.nodeVersion)
  if (m === null) return false
  const major = Number(m[1])
  const minor = Number(m[2])
  if (major === 22) return minor >= 12
  if (major === 23) return minor >= 1
  return major > 23
}

/** How a switch replaces the running node. */
export type SwitchMode =
  /** The old node drains (releases the data dir, keeps listening); the new one binds beside it. */
  | 'handover'
  /** Today's switch: the old node stops, then the new one starts and binds the freed port. */
  | 'stop-first'

/** The switch mode for a node on `facts` whose live process does or does not listen with reusePort. */
export function switchMode(facts: PlatformFacts & { liveNodeReusesPort: boolean }): {
  mode: SwitchMode
  reason: string
} {
  if (!reusePortAvailable(facts))
    return {
      mode: 'stop-first',
      reason: `no reusePort on ${facts.platform} with Node ${facts.nodeVersion}`,
    }
  if (!facts.liveNodeReusesPort)
    return { mode: 'stop-first', reason: 'the running node does not listen with reusePort' }
  return { mode: 'handover', reason: 'both nodes listen with reusePort' }
}
