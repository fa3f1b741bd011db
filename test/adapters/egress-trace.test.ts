/**
 * The shadow run's tracer (adapters/process/egress-trace.ts): strace's lines parsed into
 * attempts, and a real traced process whose TCP connect closed at once, IPv6 connect, datagram,
 * local socket and child process's connect are all seen.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  EgressTrace,
  parseTraceLine,
  tracedArgs,
  tracee,
  tracerProblem,
} from '../../src/adapters/process/egress-trace.ts'
import { EgressWatch } from '../../src/adapters/process/egress-watch.ts'

// Lines as strace 6.1 writes them with -yy.
const LINES = [
  '11941 connect(23<UNIX-STREAM:[1284353]>, {sa_family=AF_UNIX, sun_path="/tmp/x.sock"}, 110) = -1 ENOENT (No such file or directory)',
  '11941 connect(24<TCP:[1284356]>, {sa_family=AF_INET, sin_port=htons(38147), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)',
  '11941 connect(25<TCPv6:[1283806]>, {sa_family=AF_INET6, sin6_port=htons(38147), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 EINPROGRESS (Operation now in progress)',
  '11941 sendmsg(26<UDP:[0.0.0.0:50034]>, {msg_name={sa_family=AF_INET, sin_port=htons(9999), sin_addr=inet_addr("127.0.0.3")}, msg_namelen=16, msg_iov=[...], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 1',
  '11948 connect(21<TCPv6:[1284372]>, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.4", &sin6_addr), sin6_scope_id=0}, 28) = -1 EINPROGRESS',
]

describe('egress trace', () => {
  it('parses connects and datagrams of every kind', () => {
    assert.deepEqual(LINES.flatMap(parseTraceLine), [
      { proto: 'unix', dest: '"/tmp/x.sock"' },
      { proto: 'tcp', dest: '127.0.0.1:38147' },
      { proto: 'tcp', dest: '[::1]:38147' },
      { proto: 'udp', dest: '127.0.0.3:9999' },
      { proto: 'tcp', dest: '127.0.0.4:80' },
    ])
    assert.deepEqual(parseTraceLine('11941 +++ exited with 0 +++'), [])
    assert.deepEqual(parseTraceLine('garbage'), [])
  })

  it('sees a real process and its child, however short the connection', async (t) => {
    const problem = await tracerProblem()
    if (problem !== undefined) return t.skip(problem)
    const dir = await mkdtemp(join(tmpdir(), 'convoy-egress-'))
    try {
      const script = join(dir, 'reach.mjs')
      await writeFile(
        script,
        `import net from 'node:net'; import dgram from 'node:dgram'; import cp from 'node:child_process'
const srv = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1', () => {
  const p = srv.address().port
  const s = net.connect(p, '127.0.0.1', () => s.destroy())
  const d = dgram.createSocket('udp4'); d.send('x', 9999, '127.0.0.3', () => d.close())
  net.connect(join('/nonexistent', 'x.sock')).on('error', () => {})
  const c = cp.spawn(process.execPath, ['-e', "require('net').connect(9, '127.0.0.4').on('error', () => {})"], { stdio: 'ignore' })
  c.on('exit', () => process.exit(0))
  function join(a, b) { return a + '/' + b }
})\n`,
      )
      const file = join(dir, 'trace')
      const child = spawn('strace', tracedArgs(file, [process.execPath, script]), {
        stdio: 'ignore',
      })
      const pid = await tracee(child.pid!, [process.execPath, script])
      assert.ok(pid !== undefined && pid !== child.pid, 'the tracee is strace’s child')
      const [code] = await once(child, 'exit')
      assert.equal(code, 0)
      const trace = new EgressTrace(file)
      await trace.poll()
      const seen = [...trace.seen.keys()]
      for (const want of [
        /^tcp 127\.0\.0\.1:\d+$/,
        /^udp 127\.0\.0\.3:9999$/,
        /^unix "\/nonexistent\/x\.sock"$/,
        /^tcp 127\.0\.0\.4:9$/,
      ])
        assert.ok(
          seen.some((k) => want.test(k)),
          `${want} in ${seen.join(', ')}`,
        )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a trace past its byte limit is a flood, read no further', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'convoy-egress-'))
    try {
      const file = join(dir, 'trace')
      await writeFile(file, `${LINES.join('\n')}\n`.repeat(50))
      const trace = new EgressTrace(file, 1024)
      await trace.poll()
      assert.equal(trace.flooded, true)
      assert.ok(trace.attempts < 50 * 5)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('asks the live node one question at a time; only a peer answer excuses a destination', async () => {
    let open = 0
    let most = 0
    const watch = new EgressWatch({
      resolvers: new Set(),
      confirm: async (hp) => {
        open++
        most = Math.max(most, open)
        await new Promise((r) => setTimeout(r, 20))
        open--
        return { peer: hp.startsWith('127.0.0.5:'), reason: 'test' }
      },
      log: () => {},
    })
    watch.allow(['127.0.0.1:4001'])
    watch.sawSockets(['127.0.0.1:4001', '127.0.0.5:4002', '127.0.0.6:80', '127.0.0.7:80'])
    await watch.poll()
    // Still being asked: not yet phone home, but phone home if the run ended now.
    assert.deepEqual(watch.phoneHome(), [])
    assert.equal(watch.phoneHome(true).length, 3)
    await watch.settle(5000)
    assert.equal(most, 1)
    assert.deepEqual(watch.phoneHome(true), ['tcp 127.0.0.6:80', 'tcp 127.0.0.7:80'])
  })

  it('a destination the live node could not be asked about is asked again, and is not phone home meanwhile', async () => {
    let liveUp = false
    let asked = 0
    const watch = new EgressWatch({
      resolvers: new Set(),
      confirm: async (hp) => {
        asked++
        if (hp.startsWith('127.0.0.8:')) throw new Error('socket hang up')
        if (!liveUp)
          return { peer: false, reason: 'the live node is not running', unanswered: true }
        return { peer: hp.startsWith('127.0.0.5:'), reason: 'test' }
      },
      log: () => {},
    })
    watch.sawSockets(['127.0.0.5:4002', '127.0.0.6:80', '127.0.0.8:80'])
    await watch.poll()
    await watch.settle(5000)
    assert.deepEqual(watch.phoneHome(true), [])
    assert.deepEqual(watch.unconfirmed(), [
      'tcp 127.0.0.5:4002',
      'tcp 127.0.0.6:80',
      'tcp 127.0.0.8:80',
    ])
    liveUp = true
    await watch.poll()
    await watch.settle(5000)
    assert.equal(asked, 6)
    assert.deepEqual(watch.phoneHome(true), ['tcp 127.0.0.6:80'])
    // A question that fails by itself stays unconfirmed: the run is inconclusive, not passed.
    assert.deepEqual(watch.unconfirmed(), ['tcp 127.0.0.8:80'])
  })
})
