/**
 * What the supervisor can see of a child process from Linux's /proc, without its cooperation:
 * resident memory, CPU time, open descriptors, and the TCP connections it holds. The shadow run
 * samples the candidate and the live node with these, so a build cannot hide its own footprint
 * by lying in its status API.
 */
import { readdir, readFile, readlink } from 'node:fs/promises'

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const CLOCK_TICKS = 100

/** One raw reading of a process. */
export interface ProcReading {
  /** Resident memory, bytes. */
  rss: number
  /** utime + stime, seconds. */
  cpuSeconds: number
  /** Open file descriptors. */
  fds: number
  /** When it was taken, ms (monotonic enough: Date.now of the supervisor). */
  at: number
}

/** Reads memory, CPU time and descriptor count of `pid`; undefined when the process is gone. */
export async function readProc(pid: number, at: number): Promise<ProcReading | undefined> {
  try {
    const [status, stat, fds] = await Promise.all([
      readFile(`/proc/${pid}/status`, 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readdir(`/proc/${pid}/fd`),
    ])
    const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0)
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    const ticks = Number(rest[11]) + Number(rest[12])
    return { rss: rssKb * 1024, cpuSeconds: ticks / CLOCK_TICKS, fds: fds.length, at }
  } catch {
    return undefined
  }
}

/** CPU used between two readings, as a share of one core. */
export function cpuShare(prev: ProcReading, next: ProcReading): number {
  const dt = (next.at - prev.at) / 1000
  return dt <= 0 ? 0 : Math.max(0, next.cpuSeconds - prev.cpuSeconds) / dt
}

/** One TCP socket of a process. */
export interface TcpSocket {
  local: string
  remote: string
  /** /proc/net/tcp state: LISTEN, ESTABLISHED, SYN_SENT, ... */
  state: string
}

const STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
}

/** Decodes /proc/net/tcp's `0100007F:1F90` (little-endian IPv4) or tcp6's 32-hex-digit form. */
export function decodeAddress(hex: string): string {
  const [a, p] = hex.split(':') as [string, string]
  const port = Number.parseInt(p, 16)
  if (a.length === 8) {
    const b = Buffer.from(a, 'hex')
    return `${b[3]}.${b[2]}.${b[1]}.${b[0]}:${port}`
  }
  // IPv6: four 32-bit words, each in host (little-endian) order.
  const words: string[] = []
  for (let i = 0; i < 32; i += 8) {
    const w = Buffer.from(a.slice(i, i + 8), 'hex').reverse()
    words.push(w.toString('hex'))
  }
  const full = words.join('')
  // An IPv4-mapped address reads better as IPv4.
  if (full.startsWith('00000000000000000000ffff')) {
    const v4 = Buffer.from(full.slice(24), 'hex')
    return `${v4[0]}.${v4[1]}.${v4[2]}.${v4[3]}:${port}`
  }
  return `${normalizeIp6(full.match(/.{4}/g)!.join(':'))}:${port}`
}

/** The canonical bracketed, compressed form of an IPv6 address (as a URL prints it). */
export function normalizeIp6(ip: string): string {
  try {
    return new URL(`http://[${ip}]/`).hostname
  } catch {
    return `[${ip}]`
  }
}

/** Parses the text of /proc/<pid>/net/tcp or tcp6 into socket inode -> socket. */
export function parseProcNetTcp(text: string): Map<string, TcpSocket> {
  const out = new Map<string, TcpSocket>()
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 10) continue
    out.set(f[9]!, {
      local: decodeAddress(f[1]!),
      remote: decodeAddress(f[2]!),
      state: STATES[f[3]!] ?? f[3]!,
    })
  }
  return out
}

/** The TCP sockets `pid` holds open (matched through its descriptors' socket inodes). */
export async function tcpSockets(pid: number): Promise<TcpSocket[]> {
  let names: string[]
  try {
    names = await readdir(`/proc/${pid}/fd`)
  } catch {
    return []
  }
  const inodes = new Set<string>()
  await Promise.all(
    names.map(async (n) => {
      const target = await readlink(`/proc/${pid}/fd/${n}`).catch(() => '')
      const m = /^socket:\[(\d+)\]$/.exec(target)
      if (m) inodes.add(m[1]!)
    }),
  )
  const table = new Map<string, TcpSocket>()
  for (const f of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${f}`, 'utf8').catch(() => '')
    for (const [k, v] of parseProcNetTcp(text)) table.set(k, v)
  }
  return [...inodes].flatMap((i) => (table.has(i) ? [table.get(i)!] : []))
}

/**
 * Outbound connections: sockets that are connected or connecting and whose local port is none of
 * the process's listening ports (an accepted inbound connection has the listener's port).
 */
export function outboundRemotes(sockets: readonly TcpSocket[]): string[] {
  const listening = new Set(
    sockets.filter((s) => s.state === 'LISTEN').map((s) => s.local.slice(s.local.lastIndexOf(':'))),
  )
  const out = new Set<string>()
  for (const s of sockets) {
    if (s.state !== 'ESTABLISHED' && s.state !== 'SYN_SENT') continue
    if (listening.has(s.local.slice(s.local.lastIndexOf(':')))) continue
    out.add(s.remote)
  }
  return [...out].sort()
}

/** `host:port` of a TCP multiaddr such as /ip4/127.0.0.1/tcp/4001/p2p/...; undefined otherwise. */
export function multiaddrHostPort(addr: string): string | undefined {
  const m = /^\/(ip4|ip6)\/([^/]+)\/tcp\/(\d+)/.exec(addr)
  if (m === null) return undefined
  return m[1] === 'ip6' ? `${normalizeIp6(m[2]!)}:${m[3]}` : `${m[2]}:${m[3]}`
}

/** Whether /proc/<pid>/cmdline mentions `needle` (so a stale pid is only killed if it is ours). */
export async function cmdlineIncludes(pid: number, needle: string): Promise<boolean> {
  try {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8')
    return cmd.split('\0').some((a) => a.includes(needle))
  } catch {
    return false
  }
}
