/**
 * The shadow candidate's egress, seen from outside: the candidate runs under
 * `strace -f --seccomp-bpf`, which stops it at every connect, sendto, sendmsg and sendmmsg of
 * every process and thread it has (a child inherits the trace), however briefly the connection
 * lives, and writes each one to a file the candidate cannot write (it is outside its sandbox's
 * write path). Only those four system calls trap, so the rest of the candidate runs at full
 * speed. The sandbox refuses native addons and WASI, so the candidate has no way to the network
 * but these calls (no io_uring, no raw syscalls).
 *
 * Where strace is missing or ptrace is refused (a hardened host), {@link tracerProblem} says so,
 * and the shadow run falls back to sampling the candidate's TCP sockets, naming the weaker
 * containment in its verdict.
 */
import { spawn } from 'node:child_process'
import { open, readFile } from 'node:fs/promises'
import type { EgressAttempt } from '../../core/shadow/egress.ts'
import { normalizeIp6 } from './probe.ts'
import { sleep } from './timing.ts'

/** Most trace bytes read in one run: past it the candidate is flooding the network, and fails. */
export const MAX_TRACE_BYTES: number = 16 * 1024 * 1024
/** Most distinct destinations remembered in one run (the rest only count). */
export const MAX_DESTINATIONS = 256

let probed: Promise<string | undefined> | undefined

/** Undefined when this host can trace a child's network calls; else why not, in a few words. */
export function tracerProblem(): Promise<string | undefined> {
  // The node runner's escape hatch (a host where tracing misbehaves): the weaker check, named.
  if (process.env.CONVOY_EGRESS_TRACE === 'off')
    return Promise.resolve('tracing turned off by CONVOY_EGRESS_TRACE=off')
  probed ??= new Promise((resolve) => {
    const c = spawn(
      'strace',
      ['-f', '--seccomp-bpf', '-qq', '-e', 'trace=connect', '-o', '/dev/null', '--', 'true'],
      { stdio: 'ignore', timeout: 10_000 },
    )
    c.on('error', (e) => resolve(`strace not found (${(e as NodeJS.ErrnoException).code})`))
    c.on('exit', (code, sig) =>
      resolve(code === 0 ? undefined : `strace cannot trace here (${sig ?? `exit ${code}`})`),
    )
  })
  return probed
}

/** The strace arguments that run `argv` with its network calls written to `traceFile`. */
export function tracedArgs(traceFile: string, argv: readonly string[]): string[] {
  return [
    '-f',
    '--seccomp-bpf',
    '-qq',
    '-yy',
    '-s',
    '0',
    '-e',
    'trace=connect,sendto,sendmsg,sendmmsg',
    '-e',
    'signal=none',
    '-o',
    traceFile,
    '--',
    ...argv,
  ]
}

const CALL = /^\d+\s+(connect|sendto|sendmsg|sendmmsg)\(\d+(?:<([A-Za-z0-9-]+):)?/
const V4 = /sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([0-9.]+)"\)/g
const V6 =
  /sa_family=AF_INET6, sin6_port=htons\((\d+)\),[^}]*?inet_pton\(AF_INET6, "([0-9a-fA-F:.]+)"/g
const UNIX = /sa_family=AF_UNIX, sun_path=(@?"[^"]*")/g

function v6Host(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  return mapped ? mapped[1]! : normalizeIp6(ip)
}

/** The attempts one line of the trace records (none for lines that carry no address). */
export function parseTraceLine(line: string): EgressAttempt[] {
  const m = CALL.exec(line)
  if (m === null) return []
  const kind = m[2] ?? ''
  // The socket's kind as strace decoded it; undecoded, a connect is judged as TCP (the strict
  // case: it must be a confirmed peer) and a send as UDP (never allowed outside DNS).
  const proto: 'tcp' | 'udp' = kind.startsWith('TCP')
    ? 'tcp'
    : kind.startsWith('UDP')
      ? 'udp'
      : m[1] === 'connect'
        ? 'tcp'
        : 'udp'
  const out: EgressAttempt[] = []
  for (const a of line.matchAll(V4)) out.push({ proto, dest: `${a[2]}:${a[1]}` })
  for (const a of line.matchAll(V6)) out.push({ proto, dest: `${v6Host(a[2]!)}:${a[1]}` })
  for (const a of line.matchAll(UNIX)) out.push({ proto: 'unix', dest: a[1]! })
  return out
}

/** Reads a growing trace file: the attempts so far, each destination once. */
export class EgressTrace {
  readonly file: string
  /** Most bytes of trace read before the run counts as a flood. */
  readonly limitBytes: number
  /** Destinations seen, keyed by protocol and destination. */
  readonly seen: Map<string, EgressAttempt> = new Map()
  /** Every attempt read, repeated ones included. */
  attempts = 0
  /** The trace passed {@link MAX_TRACE_BYTES}: the candidate floods. */
  flooded = false
  private offset = 0
  private rest = ''

  constructor(file: string, limitBytes: number = MAX_TRACE_BYTES) {
    this.file = file
    this.limitBytes = limitBytes
  }

  /** Reads what strace wrote since the last call. */
  async poll(): Promise<void> {
    if (this.flooded) return
    let fh: Awaited<ReturnType<typeof open>>
    try {
      fh = await open(this.file, 'r')
    } catch {
      return
    }
    try {
      const { size } = await fh.stat()
      if (size > this.limitBytes) this.flooded = true
      const end = Math.min(size, this.limitBytes)
      if (end <= this.offset) return
      const buf = Buffer.alloc(end - this.offset)
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset)
      this.offset += bytesRead
      this.take(buf.subarray(0, bytesRead).toString('utf8'))
    } finally {
      await fh.close()
    }
  }

  private take(text: string): void {
    const lines = (this.rest + text).split('\n')
    this.rest = lines.pop() ?? ''
    for (const line of lines) {
      for (const a of parseTraceLine(line)) {
        this.attempts++
        const key = `${a.proto} ${a.dest}`
        if (!this.seen.has(key) && this.seen.size < MAX_DESTINATIONS) this.seen.set(key, a)
      }
    }
  }
}

/** Hosts of the host's DNS resolvers (`nameserver` lines of /etc/resolv.conf). */
export async function hostResolvers(path = '/etc/resolv.conf'): Promise<Set<string>> {
  const out = new Set<string>()
  const text = await readFile(path, 'utf8').catch(() => '')
  for (const m of text.matchAll(/^\s*nameserver\s+(\S+)/gm)) {
    const ip = m[1]!
    out.add(ip.includes(':') ? v6Host(ip) : ip)
  }
  return out
}

/**
 * The pid of the process strace (`tracer`) started for us: its child running `argv`, once it
 * has exec'd. strace also forks short-lived children of its own (to test seccomp support),
 * whose command line is strace's own until they exit, so the whole argv is compared.
 */
export async function tracee(
  tracer: number,
  argv: readonly string[],
  waitMs = 10_000,
): Promise<number | undefined> {
  const want = `${argv.join('\0')}\0`
  const end = Date.now() + waitMs
  while (Date.now() < end) {
    let text: string
    try {
      text = await readFile(`/proc/${tracer}/task/${tracer}/children`, 'utf8')
    } catch {
      // strace is gone (the candidate exited at once, or strace could not start it).
      return undefined
    }
    for (const word of text.trim().split(/\s+/)) {
      const pid = Number(word)
      if (!Number.isSafeInteger(pid) || pid <= 0) continue
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
      if (cmd === want) return pid
    }
    await sleep(20)
  }
  return undefined
}
