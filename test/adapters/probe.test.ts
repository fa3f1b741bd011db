/** The /proc probes the shadow run relies on: address decoding, socket tables, real sockets. */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { describe, it } from 'node:test'
import {
  cpuShare,
  decodeAddress,
  multiaddrHostPort,
  outboundRemotes,
  parseProcNetTcp,
  readProc,
  tcpSockets,
} from '../../src/adapters/process/probe.ts'

describe('/proc probes', () => {
  it('decodes /proc/net/tcp and tcp6 addresses', () => {
    assert.equal(decodeAddress('0100007F:1F90'), '127.0.0.1:8080')
    assert.equal(decodeAddress('00000000000000000000000001000000:0050'), '[::1]:80')
    assert.equal(decodeAddress('0000000000000000FFFF00000100007F:0050'), '127.0.0.1:80')
    assert.equal(multiaddrHostPort('/ip4/10.0.0.2/tcp/4001/p2p/12D3Koo'), '10.0.0.2:4001')
    assert.equal(multiaddrHostPort('/ip6/::1/tcp/5'), '[::1]:5')
    assert.equal(multiaddrHostPort('/dns4/example/tcp/5'), undefined)
  })

  it('tells outbound connections from listeners and accepted ones', () => {
    const table = parseProcNetTcp(
      [
        '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
        '   0: 0100007F:0FA1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1',
        '   1: 0100007F:0FA1 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 102 1',
        '   2: 0100007F:D432 0200007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 103 1',
        '   3: 0100007F:D433 0300007F:0051 02 00000000:00000000 00:00000000 00000000     0        0 104 1',
        '   4: 0100007F:D434 0400007F:0052 06 00000000:00000000 00:00000000 00000000     0        0 105 1',
      ].join('\n'),
    )
    assert.equal(table.get('101')?.state, 'LISTEN')
    // The accepted connection (local port 4001, a listener's) is not outbound; TIME_WAIT is gone.
    assert.deepEqual(outboundRemotes([...table.values()]), ['127.0.0.2:80', '127.0.0.3:81'])
  })

  it('reads a real process: its memory, CPU time, descriptors and a real outbound socket', async () => {
    const a = await readProc(process.pid, Date.now())
    assert.ok(a && a.rss > 10 * 2 ** 20 && a.fds > 0)
    // Spin until this process used 100 ms of CPU (by its own count), however busy the machine.
    const start = process.cpuUsage()
    for (let t = Date.now(); Date.now() - t < 5000; ) {
      const u = process.cpuUsage(start)
      if (u.user + u.system >= 100_000) break
    }
    const b = await readProc(process.pid, Date.now())
    assert.ok(b!.cpuSeconds - a.cpuSeconds >= 0.05, `${a.cpuSeconds} -> ${b!.cpuSeconds}`)
    assert.ok(cpuShare(a, b!) > 0)
    assert.equal(await readProc(2 ** 22 + 12345, Date.now()), undefined)

    const server = createServer((s) => s.on('error', () => {}))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const c = connect(port, '127.0.0.1')
    await once(c, 'connect')
    try {
      const remotes = outboundRemotes(await tcpSockets(process.pid))
      assert.ok(remotes.includes(`127.0.0.1:${port}`), remotes.join(', '))
    } finally {
      c.destroy()
      server.close()
    }
  })
})
