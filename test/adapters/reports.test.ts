/**
 * Report gossip between real convoy nodes on TCP loopback (libp2p: noise, yamux, identify,
 * kad-dht): spread along a line, refusal of forgeries at the first node, sync to a late joiner,
 * latest-per-reporter, shadows that carry nothing, and the HTTP API in front of it.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { MAX_REPORT_BODY_BYTES, startApi } from '../../src/adapters/http/api.ts'
import { type ConvoyNode, RoleRefusedError } from '../../src/adapters/libp2p/node.ts'
import {
  readIdentityKey,
  reports,
  reportsProtocol,
  signReport,
} from '../../src/adapters/libp2p/reports.ts'
import { utf8 } from '../../src/core/bytes.ts'
import { decodeRelease } from '../../src/core/manifest/release.ts'
import { encodeReport, type ReportBody, signReportBody } from '../../src/core/rollout/report.ts'
import { NETWORK, networkConfig, release, TestNet, waitFor } from '../net/harness.ts'

const net = new TestNet()
/** n0 - n1 - n2 - n3 - n4, each dialled only by the next. */
let line: ConvoyNode[] = []

const digestOf = (label: string) => createHash('sha256').update(label).digest('hex')
const RELEASE = digestOf('release 1.3.0')

function draft(over: Partial<ReportBody> = {}) {
  return {
    network: NETWORK,
    release: RELEASE,
    version: '1.3.0',
    stage: 'shadow' as const,
    verdict: 'pass' as const,
    at: Date.now(),
    reason: 'stayed up, within limits',
    ...over,
  }
}

/** A node on its own (no bootstrap), joined by dialling `to`. */
async function join_(to: ConvoyNode | undefined, init: Parameters<TestNet['add']>[0] = {}) {
  const n = await net.add({ network: networkConfig([]), ...init })
  if (to !== undefined) await n.dial(to.libp2p.getMultiaddrs()[0]!.toString())
  return n
}

// Gossip carries every verified report; which of them count is admission's business.
const holds = (n: ConvoyNode, reporter: string, digest = RELEASE) =>
  n.heldReports(digest).find((r) => r.reporter === reporter)

async function all(what: string, list: ConvoyNode[], check: (n: ConvoyNode) => boolean) {
  return waitFor(what, () => list.every(check), 60_000, 50)
}

describe('report gossip', { timeout: 300_000 }, () => {
  let alice: PrivateKey
  let aliceId: string

  before(async () => {
    alice = await generateKeyPair('Ed25519')
    aliceId = peerIdFromPrivateKey(alice).toString()
    for (let i = 0; i < 5; i++) line.push(await join_(line.at(-1)))
    await all(
      'the line is connected and identified',
      line,
      (n) => n.libp2p.getConnections().length >= (n === line[0] || n === line[4] ? 1 : 2),
    )
  })
  after(async () => {
    await net.stop()
    line = []
  })

  it('a report submitted at one end reaches every node', async () => {
    const r = line[0]!.submitReport(signReport(alice, draft()))
    assert.ok(r.ok && r.value.isNew, r.ok ? '' : r.reason)
    // Waits on the event with a generous deadline; how fast it spreads is bench:net's business.
    await all('every node holds the report', line, (n) => holds(n, aliceId) !== undefined)
    const s = await line[4]!.status()
    assert.deepEqual(s.evidence[RELEASE], { passing: 1, failing: 0, reporters: 1 })
    assert.equal(holds(line[4]!, aliceId)?.reason, 'stayed up, within limits')
    // Submitting it again changes nothing and is not passed on.
    const again = line[2]!.submitReport(
      signReport(alice, draft({ at: holds(line[2]!, aliceId)!.at })),
    )
    assert.ok(again.ok && !again.value.isNew)
  })

  it('a forged report is refused at the first node and reaches no other', async () => {
    const mallory = await generateKeyPair('Ed25519')
    // Mallory signs a failing verdict in Alice's name.
    const body: ReportBody = {
      type: 'convoy-report',
      ...draft({ verdict: 'fail', at: Date.now() + 1000, release: digestOf('forged') }),
      reporter: aliceId,
    }
    const forged = encodeReport(signReportBody(body, mallory.raw.subarray(0, 32)))
    const r = line[0]!.submitReport(forged)
    assert.equal(!r.ok && r.code, 'threshold')
    assert.match(!r.ok ? r.reason : '', /bad signature/)

    // Pushed straight onto the wire by a raw libp2p peer: counted as misbehaviour, dropped.
    const attacker = await net.rawNode()
    await attacker.dial(line[0]!.libp2p.getMultiaddrs()[0]!)
    const before = (await line[0]!.status()).counters.misbehaviour ?? 0
    const stream = await attacker.dialProtocol(
      line[0]!.libp2p.getMultiaddrs()[0]!,
      reportsProtocol(NETWORK),
    )
    const lp = lpStream(stream)
    try {
      await lp.write(forged)
      await lp.write(utf8('{"not":"a report"}'))
      await stream.close()
    } catch {
      // The node may drop the stream at the first fault, before the rest is written.
    }
    await waitFor('misbehaviour counted', async () => {
      const s = await line[0]!.status()
      return (s.counters.misbehaviour ?? 0) > before
    })
    const s = await line[0]!.status()
    assert.equal(s.counters.reports_misbehaviour, 1, 'one fault: the rest of the stream is dropped')
    const entry = s.peers.find((p) => p.peerId === attacker.peerId.toString())
    assert.equal(entry?.misbehaviour, 1)
    await sleep(500)
    for (const n of line) assert.deepEqual(n.heldReports(digestOf('forged')), [])
    // Nobody else was bothered: the gossip carried nothing.
    for (const n of line.slice(1)) assert.equal((await n.status()).counters.reports_misbehaviour, 0)
  })

  it('the latest report per reporter wins everywhere; an older one is not taken', async () => {
    const t = Date.now()
    const fail = signReport(alice, draft({ verdict: 'fail', stage: 'probation', at: t + 5 }))
    assert.ok(line[2]!.submitReport(fail).ok)
    await all(
      'every node holds the failing report',
      line,
      (n) => holds(n, aliceId)?.verdict === 'fail',
    )
    const older = line[4]!.submitReport(signReport(alice, draft({ at: t })))
    assert.ok(older.ok && !older.value.isNew)
    await sleep(300)
    for (const n of line) {
      assert.equal(holds(n, aliceId)?.verdict, 'fail')
      assert.deepEqual((await n.status()).evidence[RELEASE], {
        passing: 0,
        failing: 1,
        reporters: 1,
      })
    }
  })

  it('a node that joins later receives the held reports by sync', async () => {
    const bob = await generateKeyPair('Ed25519')
    const other = digestOf('release 1.2.0')
    assert.ok(line[1]!.submitReport(signReport(bob, draft({ release: other }))).ok)
    await all('the line holds bob', line, (n) => n.heldReports(other).length === 1)
    const late = await join_(line[3])
    await waitFor(
      'the late joiner holds both releases',
      () => late.heldReports(RELEASE).length === 1 && late.heldReports(other).length === 1,
      15_000,
      50,
    )
    assert.equal(holds(late, aliceId)?.verdict, 'fail')
    const s = await late.status()
    assert.equal(Object.keys(s.evidence).length, 2)
    // knownAddrs: host:port of the TCP addresses the peer store learned, among them line[3]'s.
    const addr3 = line[3]!.libp2p.getMultiaddrs()[0]!.toString().split('/')
    assert.ok(s.knownAddrs.includes(`${addr3[2]}:${addr3[4]}`), JSON.stringify(s.knownAddrs))
    assert.ok(s.knownAddrs.every((a) => /^[^/]+:\d+$/.test(a)))
  })

  it('a shadow neither accepts nor forwards reports, and makes no DHT puts', async () => {
    // a - shadow - b: the shadow is a DHT client, so a and b cannot find each other through it.
    const a = line[4]!
    const shadow = await join_(a, { role: 'shadow' })
    const b = await join_(shadow)
    await waitFor('b is connected to the shadow', () => b.libp2p.getConnections().length >= 1)
    // Identify has run both ways once the shadow sees b's protocols.
    await waitFor('the shadow identified b', async () => {
      try {
        const peer = await shadow.libp2p.peerStore.get(b.libp2p.peerId)
        return peer.protocols.includes(reportsProtocol(NETWORK))
      } catch {
        return false
      }
    })
    const carol = await generateKeyPair('Ed25519')
    const carolId = peerIdFromPrivateKey(carol).toString()
    const local = shadow.submitReport(signReport(carol, draft()))
    assert.equal(!local.ok && local.code, 'disabled')
    assert.ok(a.submitReport(signReport(carol, draft({ at: Date.now() + 1 }))).ok)
    await all('the line holds carol', line, (n) => holds(n, carolId) !== undefined)
    await sleep(1500)
    assert.equal(holds(shadow, carolId), undefined)
    assert.equal(holds(b, carolId), undefined, 'nothing reached b through the shadow')
    assert.deepEqual(b.heldReports(RELEASE), [], 'the shadow sent b no sync either')
    const ss = await shadow.status()
    assert.deepEqual(ss.evidence, {})
    assert.equal(ss.counters.reports_accepted, 0)
    // A shadow makes no DHT puts, no provider records, and fetches no artifacts.
    const rel = release('1.3.0', 1)
    await assert.rejects(shadow.publish(rel), RoleRefusedError)
    const d = decodeRelease(rel)
    assert.ok(d.ok)
    assert.equal(await shadow.fetchReleaseArtifact(d.value.signed), undefined)
  })

  it('HTTP: POST a signed report, GET it back; garbage is 400 with a reason, oversize 413', async () => {
    const node = line[2]!
    const api = await startApi({ host: '127.0.0.1', port: 0 }, () => node.status(), {
      reports: {
        submit: (bytes) => node.submitReport(bytes),
        reportsFor: (digest) => node.heldReports(digest),
      },
    })
    try {
      const base = `http://127.0.0.1:${api.address.port}`
      const JSON_TYPE = { 'content-type': 'application/json' }
      // The supervisor's path: read the node's key from its data dir (no lock) and sign as it.
      const key = await readIdentityKey(node.store.dir)
      assert.equal(peerIdFromPrivateKey(key).toString(), node.libp2p.peerId.toString())
      const digest = digestOf('release 1.4.0')
      const signed = signReport(key, draft({ release: digest, reason: 'line one\nline two' }))
      const post = await fetch(`${base}/reports`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: signed,
      })
      assert.equal(post.status, 202)
      const posted = (await post.json()) as { accepted: boolean; new: boolean }
      assert.deepEqual([posted.accepted, posted.new], [true, true])
      const again = await fetch(`${base}/reports`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: signed,
      })
      assert.equal(again.status, 202, 'already held is accepted too')
      assert.equal(((await again.json()) as { new: boolean }).new, false)

      const get = await fetch(`${base}/reports?release=${digest}`)
      assert.equal(get.status, 200)
      const got = (await get.json()) as {
        release: string
        reports: Array<{ reporter: string; reason: string }>
      }
      assert.equal(got.release, digest)
      assert.equal(got.reports.length, 1)
      assert.equal(got.reports[0]!.reporter, node.libp2p.peerId.toString())
      assert.equal(got.reports[0]!.reason, 'line one line two')

      const garbage = await fetch(`${base}/reports`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: 'not json',
      })
      assert.equal(garbage.status, 400)
      assert.match(await garbage.text(), /^malformed: .+\n$/)
      // Unsigned (a local process without the key): refused.
      const body = JSON.parse(new TextDecoder().decode(signed))
      body.body.verdict = 'fail'
      const forged = await fetch(`${base}/reports`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: JSON.stringify(body),
      })
      assert.equal(forged.status, 400)
      assert.match(await forged.text(), /bad signature/)

      const big = await fetch(`${base}/reports`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: 'x'.repeat(MAX_REPORT_BODY_BYTES + 1),
      })
      assert.equal(big.status, 413)
      const badQuery = await fetch(`${base}/reports?release=nope`)
      assert.equal(badQuery.status, 400)
      // Through the node's own counting, a release it never verified counts nothing.
      const c = node.countedReports(digest)
      assert.deepEqual([c.counted.length, c.held, c.notCounted], [0, 1, { 'unknown-release': 1 }])
      const none = await fetch(`${base}/reports?release=${digestOf('unknown')}`)
      assert.deepEqual(((await none.json()) as { reports: unknown[] }).reports, [])
      const metrics = await (await fetch(`${base}/metrics`)).text()
      assert.match(metrics, new RegExp(`convoy_reports_held\\{release="${digest}"\\} 1`))
      assert.match(metrics, /convoy_reports_refused_total [1-9]/)
      // The report spreads from there like any other.
      await all('the line holds the node report', line, (n) => n.heldReports(digest).length === 1)
    } finally {
      await api.close()
    }
  })

  it('readIdentityKey refuses a missing or damaged identity with a DataDirError', async () => {
    const dir = await net.tempDir()
    await assert.rejects(readIdentityKey(dir), { name: 'DataDirError', message: /does not exist/ })
    await writeFile(join(dir, 'identity.key'), 'junk')
    await assert.rejects(readIdentityKey(dir), { name: 'DataDirError', message: /damaged/ })
  })
})

describe('report holding (the service without a network)', () => {
  async function service(init: Partial<Parameters<typeof reports>[0]> = {}) {
    const key = await generateKeyPair('Ed25519')
    return reports({ network: NETWORK, ...init })({
      registrar: {} as never,
      connectionManager: {} as never,
      peerId: peerIdFromPrivateKey(key),
    })
  }
  const keys = (n: number) =>
    Promise.all(Array.from({ length: n }, () => generateKeyPair('Ed25519')))

  it('tracks at most maxReleases releases, dropping the oldest-seen, unknown ones first', async () => {
    const known = new Set([digestOf('r0'), digestOf('r1')])
    const svc = await service({ maxReleases: 3, isKnownRelease: (d) => known.has(d) })
    const [k] = await keys(1)
    const put = (label: string) => svc.submit(signReport(k!, draft({ release: digestOf(label) })))
    for (const l of ['r0', 'u1', 'r1']) assert.ok(put(l).ok)
    // Full: the unknown u1 goes first, although r0 is older.
    assert.ok(put('u2').ok)
    assert.deepEqual(
      Object.keys(svc.evidence()).sort(),
      [digestOf('r0'), digestOf('r1'), digestOf('u2')].sort(),
    )
    // A known release displaces the oldest unknown one; with only known ones left, the oldest.
    known.add(digestOf('r2'))
    known.add(digestOf('r3'))
    assert.ok(put('r2').ok)
    assert.equal(svc.reportsFor(digestOf('u2')).length, 0)
    assert.ok(put('r3').ok)
    assert.equal(svc.reportsFor(digestOf('r0')).length, 0)
    // An unknown release cannot displace known ones.
    const refused = put('u3')
    assert.equal(!refused.ok && refused.code, 'full')
    assert.equal(svc.stats().releases, 3)
    assert.equal(svc.stats().releasesDropped, 3)
  })

  it('a full release makes room for a reporter of higher standing, never for a newcomer', async () => {
    const ks = await keys(4)
    const ids = ks.map((k) => peerIdFromPrivateKey(k).toString())
    // Standing as admission ranks it: 1 a reporter known before the release, 3 a newcomer.
    const standing = new Map([[ids[2]!, 1]])
    const svc = await service({
      maxReportersPerRelease: 2,
      standing: (r) => standing.get(r.reporter) ?? 3,
    })
    assert.ok(svc.submit(signReport(ks[0]!, draft())).ok)
    assert.ok(svc.submit(signReport(ks[1]!, draft())).ok)
    const newcomer = svc.submit(signReport(ks[3]!, draft()))
    assert.equal(!newcomer.ok && newcomer.code, 'full')
    assert.ok(svc.submit(signReport(ks[2]!, draft())).ok, 'the known reporter is never refused')
    // The newest-held newcomer made room.
    assert.deepEqual(
      svc
        .reportsFor(RELEASE)
        .map((r) => r.reporter)
        .sort(),
      [ids[0]!, ids[2]!].sort(),
    )
    assert.equal(svc.stats().evicted, 1)
    // A newer report of a held reporter always fits.
    assert.ok(svc.submit(signReport(ks[0]!, draft({ at: Date.now() + 5 }))).ok)
  })

  it('holds at most maxReportersPerRelease reporters, but a held reporter may still update', async () => {
    const svc = await service({ maxReportersPerRelease: 2 })
    const [a, b, c] = await keys(3)
    assert.ok(svc.submit(signReport(a!, draft({ at: 1 }))).ok)
    assert.ok(svc.submit(signReport(b!, draft({ at: 1 }))).ok)
    const third = svc.submit(signReport(c!, draft({ at: 1 })))
    assert.equal(!third.ok && third.code, 'full')
    const update = svc.submit(signReport(a!, draft({ at: 2, verdict: 'fail' })))
    assert.ok(update.ok && update.value.isNew)
    assert.deepEqual(svc.evidence()[RELEASE], { passing: 1, failing: 1, reporters: 2 })
  })

  it('two fail reports of one reporter with one date resolve the same way in either order', async () => {
    const [a] = await keys(1)
    const x = signReport(a!, draft({ at: 7, verdict: 'fail', reason: 'x' }))
    const y = signReport(a!, draft({ at: 7, verdict: 'fail', reason: 'y' }))
    const one = await service()
    const two = await service()
    one.submit(x)
    one.submit(y)
    two.submit(y)
    two.submit(x)
    assert.deepEqual(one.reportsFor(RELEASE), two.reportsFor(RELEASE))
    // Whichever is held, offering the other again changes nothing: no endless ping-pong.
    const r1 = one.submit(x)
    const r2 = one.submit(y)
    assert.ok(r1.ok && !r1.value.isNew && r2.ok && !r2.value.isNew)
    // A pass at the same date never displaces a fail (evidence.ts's rule).
    const pass = one.submit(signReport(a!, draft({ at: 7 })))
    assert.ok(pass.ok && !pass.value.isNew)
  })

  it('refuses reporters whose peer id is not an Ed25519 id in canonical form', async () => {
    const svc = await service()
    const [a] = await keys(1)
    const signedAs = (reporter: string) =>
      encodeReport(
        signReportBody({ type: 'convoy-report', ...draft(), reporter }, a!.raw.subarray(0, 32)),
      )
    // A secp256k1 peer id: no Ed25519 key to check the signature with.
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
    const r = svc.submit(signedAs(secp))
    assert.equal(!r.ok && r.code, 'reporter-key')
    // Base58 text that is no peer id at all.
    const junk = svc.submit(signedAs('1111111111'))
    assert.equal(!junk.ok && junk.code, 'reporter-key')
    // The same key spelled as a CIDv1 would count as a second reporter. The format refuses it
    // when it holds a letter base58 lacks (most do: "l"); else the service does, as no canonical
    // peer id. Either way it never counts.
    const cidForm = peerIdFromPrivateKey(a!).toCID().toString()
    let bytes: Uint8Array | undefined
    try {
      bytes = signedAs(cidForm)
    } catch (e) {
      assert.match((e as Error).message, /body.reporter/)
    }
    if (bytes !== undefined) {
      const cid = svc.submit(bytes)
      assert.equal(!cid.ok && cid.code, 'reporter-key')
    }
  })

  it('a disabled service refuses everything and signReport checks its key', async () => {
    const svc = await service({ relay: false })
    const [a, b] = await keys(2)
    const r = svc.submit(signReport(a!, draft()))
    assert.equal(!r.ok && r.code, 'disabled')
    assert.throws(
      () => signReport(a!, { ...draft(), reporter: peerIdFromPrivateKey(b!).toString() }),
      { name: 'TypeError', message: /is not the peer id of this key/ },
    )
    assert.throws(() => signReport(a!, draft({ release: 'short' })), {
      name: 'TypeError',
      message: /body.release/,
    })
  })
})
