/**
 * Reporter admission (src/core/rollout/admission.ts), the reporter book and subnets: the rules
 * one by one, then as properties over random reporters, first sights, stages and subnets. The
 * property that matters most: reports from keys the node first met after it saw the release,
 * however many and whatever they say, change nothing the evidence decides.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DEFAULT_ROLLOUT, type RolloutPolicy } from '../../src/core/manifest/release.ts'
import { subnetOf } from '../../src/core/net/subnet.ts'
import {
  type AdmissionView,
  admitReports,
  JOIN_GRACE_MS,
  judgesFirstSight,
  type KnownReporter,
  LOWEST_SLOT_TOLERANCE,
  MAX_REPORTERS_PER_SUBNET,
  SLOT_GRACE_MS,
  standing,
} from '../../src/core/rollout/admission.ts'
import { type Report, summarize } from '../../src/core/rollout/evidence.ts'
import { MAX_BOOK_RELEASES, ReporterBook } from '../../src/core/rollout/reporter-book.ts'
import { isCanary, rolloutSlot, waveSlotTime } from '../../src/core/rollout/slot.ts'

const DIGEST = 'ab'.repeat(32)
const OTHER = 'cd'.repeat(32)
const SEEN = Date.parse('2026-12-01T00:00:00Z')
const POLICY: RolloutPolicy = { ...DEFAULT_ROLLOUT, canaryFraction: 0.1, windowSeconds: 3600 }

function rep(reporter: string, stage: Report['stage'], verdict: Report['verdict']): Report {
  return { reporter, release: DIGEST, stage, verdict, at: SEEN }
}

/** Ids whose slot on DIGEST is a canary's (or not), found by counting up. */
function idsWhere(n: number, canary: boolean, prefix = 'peer'): string[] {
  const out: string[] = []
  for (let i = 0; out.length < n; i++) {
    const id = `${prefix}-${i}`
    if (isCanary(rolloutSlot(id, DIGEST), POLICY.canaryFraction) === canary) out.push(id)
  }
  return out
}

function view(book: Map<string, KnownReporter>, over: Partial<AdmissionView> = {}): AdmissionView {
  return {
    self: 'self',
    releaseSeenAt: SEEN,
    known: (id) => book.get(id),
    knownNodes: [],
    now: SEEN + 1000,
    ...over,
  }
}

describe('reporter admission: the rules', () => {
  it('counts the node itself, and known reporters; not newcomers nor keys a report introduced', () => {
    const [old, late, viaThis, viaOther] = idsWhere(4, false)
    const book = new Map<string, KnownReporter>([
      [old!, { firstSeen: SEEN - 60_000 }],
      [late!, { firstSeen: SEEN + 1 }],
      [viaThis!, { firstSeen: SEEN - 60_000, via: DIGEST }],
      [viaOther!, { firstSeen: SEEN - 60_000, via: OTHER }],
    ])
    const reports = ['self', old!, late!, viaThis!, viaOther!, 'stranger'].map((id) =>
      rep(id, 'shadow', 'pass'),
    )
    const a = admitReports(reports, POLICY, DIGEST, view(book))
    assert.deepEqual(
      a.counted.map((r) => r.reporter),
      ['self', old!, viaOther!],
    )
    assert.deepEqual(a.refused, { newcomer: 3 })
  })

  it('waives first sight where the node cannot judge it (no book then, or it had just joined)', () => {
    const [a, b] = idsWhere(2, false)
    const book = new Map<string, KnownReporter>([
      [a!, { firstSeen: SEEN + 5 }],
      [b!, { firstSeen: SEEN + 5, via: DIGEST }],
    ])
    const r = admitReports(
      [rep(a!, 'shadow', 'fail'), rep(b!, 'shadow', 'pass'), rep('never-seen', 'shadow', 'pass')],
      POLICY,
      DIGEST,
      view(book, { releaseSeenAt: undefined }),
    )
    assert.equal(r.counted.length, 3)
    // Who decides: a node that met its network JOIN_GRACE_MS or more before it saw the release.
    assert.equal(judgesFirstSight(undefined, SEEN), false)
    assert.equal(judgesFirstSight(SEEN - JOIN_GRACE_MS + 1, SEEN), false)
    assert.equal(judgesFirstSight(SEEN - JOIN_GRACE_MS, SEEN), true)
    const book2 = new ReporterBook()
    book2.sawRelease(OTHER, SEEN)
    book2.join(SEEN)
    book2.sawRelease(DIGEST, SEEN + JOIN_GRACE_MS)
    book2.sawRelease('ef'.repeat(32), SEEN + JOIN_GRACE_MS, true)
    assert.equal(book2.sighting(OTHER)?.waived, true, 'seen before the node met anyone')
    assert.equal(book2.sighting(DIGEST)?.waived, undefined)
    assert.equal(book2.sighting('ef'.repeat(32))?.waived, true)
  })

  it('a permissioned network counts only its listed reporters, known or not', () => {
    const [a, b] = idsWhere(2, false)
    const book = new Map([[b!, { firstSeen: SEEN - 1 }]])
    const r = admitReports(
      [rep(a!, 'shadow', 'pass'), rep(b!, 'shadow', 'pass')],
      POLICY,
      DIGEST,
      view(book, { reporterSet: new Set([a!]) }),
    )
    assert.deepEqual(
      r.counted.map((x) => x.reporter),
      [a!],
    )
    assert.deepEqual(r.refused, { 'not-listed': 1 })
  })

  it('a probation report counts from a canary slot, else only once its wave slot has come', () => {
    const [canary] = idsWhere(1, true)
    const late = idsWhere(50, false).sort(
      (x, y) => rolloutSlot(y, DIGEST) - rolloutSlot(x, DIGEST),
    )[0]!
    const book = new Map<string, KnownReporter>([
      [canary!, { firstSeen: SEEN - 1 }],
      [late, { firstSeen: SEEN - 1 }],
    ])
    const reports = [rep(canary!, 'probation', 'pass'), rep(late, 'probation', 'fail')]
    // Many known nodes below `late`: it is no lowest-slot canary.
    const knownNodes = idsWhere(20, false, 'known')
    const before = admitReports(reports, POLICY, DIGEST, view(book, { knownNodes }))
    assert.deepEqual(
      before.counted.map((r) => r.reporter),
      [canary!],
    )
    assert.deepEqual(before.refused, { 'early-probation': 1 })
    const waveStart = SEEN + 10_000
    const at = waveSlotTime(
      rolloutSlot(late, DIGEST),
      POLICY.canaryFraction,
      waveStart,
      POLICY.windowSeconds,
    )
    const early = admitReports(
      reports,
      POLICY,
      DIGEST,
      view(book, { knownNodes, waveStart, now: at - SLOT_GRACE_MS - 1 }),
    )
    assert.equal(early.counted.length, 1)
    const due = admitReports(
      reports,
      POLICY,
      DIGEST,
      view(book, { knownNodes, waveStart, now: at - SLOT_GRACE_MS }),
    )
    assert.equal(due.counted.length, 2)
    // A shadow report has no slot to wait for.
    const shadow = admitReports(
      [rep(late, 'shadow', 'fail')],
      POLICY,
      DIGEST,
      view(book, { knownNodes }),
    )
    assert.equal(shadow.counted.length, 1)
  })

  it('the lowest slots the node knows may be canaries when the fraction names none', () => {
    const nodes = idsWhere(8, false).sort((x, y) => rolloutSlot(x, DIGEST) - rolloutSlot(y, DIGEST))
    const book = new Map(nodes.map((id) => [id, { firstSeen: SEEN - 1 }]))
    const r = admitReports(
      nodes.map((id) => rep(id, 'probation', 'pass')),
      POLICY,
      DIGEST,
      view(book, { knownNodes: nodes, self: 'zz-self-not-lowest' }),
    )
    // The lowest, and the next one (one offline lower node is tolerated); `self` has a slot too.
    const selfSlot = rolloutSlot('zz-self-not-lowest', DIGEST)
    const expected = nodes.filter(
      (id) =>
        [...nodes, 'zz-self-not-lowest'].filter(
          (o) => o !== id && rolloutSlot(o, DIGEST) < rolloutSlot(id, DIGEST),
        ).length <= LOWEST_SLOT_TOLERANCE,
    )
    assert.ok(expected.length >= 1 && expected.length <= 2, `${selfSlot}`)
    assert.deepEqual(r.counted.map((x) => x.reporter).sort(), expected.sort())
  })

  it('counts at most three reporters per subnet, those known longest', () => {
    const ids = idsWhere(6, false)
    const book = new Map<string, KnownReporter>(
      ids.map((id, i) => [
        id,
        { firstSeen: SEEN - 1000 + i, subnet: i < 5 ? '203.0.113.0/24' : '198.51.100.0/24' },
      ]),
    )
    const r = admitReports(
      ids.map((id) => rep(id, 'shadow', 'fail')),
      POLICY,
      DIGEST,
      view(book),
    )
    assert.deepEqual(
      r.counted.map((x) => x.reporter),
      [ids[0]!, ids[1]!, ids[2]!, ids[5]!],
    )
    assert.deepEqual(r.refused, { subnet: 2 })
    assert.equal(MAX_REPORTERS_PER_SUBNET, 3)
  })

  it('standing: known canaries, known reporters, new canaries, newcomers', () => {
    const [c] = idsWhere(1, true)
    const [n] = idsWhere(1, false)
    const known = { firstSeen: SEEN - 1 }
    assert.equal(standing(c!, DIGEST, POLICY, known, SEEN), 0)
    assert.equal(standing(n!, DIGEST, POLICY, known, SEEN), 1)
    assert.equal(standing(c!, DIGEST, POLICY, undefined, SEEN), 2)
    assert.equal(standing(n!, DIGEST, POLICY, { firstSeen: SEEN + 1 }, SEEN), 3)
    assert.equal(standing(n!, DIGEST, POLICY, { firstSeen: SEEN - 1, via: DIGEST }, SEEN), 3)
  })
})

describe('reporter admission: properties', () => {
  const reporterArb = fc.record({
    seenOffset: fc.integer({ min: -3_600_000, max: 3_600_000 }),
    known: fc.boolean(),
    via: fc.constantFrom(undefined, DIGEST, OTHER),
    subnet: fc.constantFrom(undefined, '203.0.113.0/24', '198.51.100.0/24', '2001:db8:1::/48'),
    stage: fc.constantFrom('shadow' as const, 'probation' as const),
    verdict: fc.constantFrom('pass' as const, 'fail' as const),
  })

  it('every counted report obeys every rule; counted and refused add up', () => {
    fc.assert(
      fc.property(
        fc.array(reporterArb, { maxLength: 40 }),
        fc.option(fc.integer({ min: 0, max: 7_200_000 }), { nil: undefined }),
        fc.integer({ min: 0, max: 7_200_000 }),
        (specs, wave, later) => {
          const book = new Map<string, KnownReporter>()
          const reports: Report[] = []
          specs.forEach((s, i) => {
            const id = `r${i}`
            if (s.known)
              book.set(id, {
                firstSeen: SEEN + s.seenOffset,
                ...(s.via ? { via: s.via } : {}),
                ...(s.subnet ? { subnet: s.subnet } : {}),
              })
            reports.push(rep(id, s.stage, s.verdict))
          })
          reports.push(rep('self', 'probation', 'fail'))
          const v = view(book, {
            knownNodes: specs.map((_, i) => `r${i}`),
            ...(wave !== undefined ? { waveStart: SEEN + wave } : {}),
            now: SEEN + later,
          })
          const a = admitReports(reports, POLICY, DIGEST, v)
          const refused = Object.values(a.refused).reduce((x, y) => x + (y ?? 0), 0)
          assert.equal(a.counted.length + refused, reports.length)
          assert.ok(
            a.counted.some((r) => r.reporter === 'self'),
            'the node itself always counts',
          )
          const perSubnet = new Map<string, number>()
          for (const r of a.counted) {
            if (r.reporter === 'self') continue
            const k = book.get(r.reporter)
            assert.ok(k !== undefined && k.via !== DIGEST && k.firstSeen <= SEEN, r.reporter)
            if (k.subnet) perSubnet.set(k.subnet, (perSubnet.get(k.subnet) ?? 0) + 1)
            if (r.stage === 'probation') {
              const slot = rolloutSlot(r.reporter, DIGEST)
              const lower = [...v.knownNodes, 'self'].filter(
                (o) => o !== r.reporter && rolloutSlot(o, DIGEST) < slot,
              ).length
              const due =
                v.waveStart !== undefined &&
                v.now + SLOT_GRACE_MS >=
                  waveSlotTime(slot, POLICY.canaryFraction, v.waveStart, POLICY.windowSeconds)
              assert.ok(
                isCanary(slot, POLICY.canaryFraction) || lower <= LOWEST_SLOT_TOLERANCE || due,
              )
            }
          }
          for (const n of perSubnet.values()) assert.ok(n <= MAX_REPORTERS_PER_SUBNET)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('keys first met after the release, however many and whatever they say, change no decision', () => {
    fc.assert(
      fc.property(
        fc.array(reporterArb, { maxLength: 30 }),
        fc.array(
          fc.record({
            stage: fc.constantFrom('shadow' as const, 'probation' as const),
            verdict: fc.constantFrom('pass' as const, 'fail' as const),
            after: fc.integer({ min: 1, max: 3_600_000 }),
            introducedByThis: fc.boolean(),
          }),
          { minLength: 1, maxLength: 200 },
        ),
        (honest, sybils) => {
          const book = new Map<string, KnownReporter>()
          const reports: Report[] = []
          honest.forEach((s, i) => {
            const id = `h${i}`
            if (s.known)
              book.set(id, {
                firstSeen: SEEN + s.seenOffset,
                ...(s.subnet ? { subnet: s.subnet } : {}),
              })
            reports.push(rep(id, s.stage, s.verdict))
          })
          const v = view(book, {
            knownNodes: honest.map((_, i) => `h${i}`),
            waveStart: SEEN,
            now: SEEN + 7_200_000,
          })
          const base = admitReports(reports, POLICY, DIGEST, v)
          const flooded = [...reports]
          sybils.forEach((s, i) => {
            const id = `sybil${i}`
            book.set(
              id,
              s.introducedByThis
                ? { firstSeen: SEEN - 1, via: DIGEST }
                : { firstSeen: SEEN + s.after },
            )
            flooded.push(rep(id, s.stage, s.verdict))
          })
          const after = admitReports(flooded, POLICY, DIGEST, v)
          assert.deepEqual(after.counted, base.counted)
          assert.deepEqual(summarize(after.counted, POLICY), summarize(base.counted, POLICY))
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('the reporter book', () => {
  it('keeps first sight, takes a new subnet, and refuses newcomers when full of live reporters', () => {
    const book = new ReporterBook(3)
    assert.ok(book.see('a', 10, { via: DIGEST }))
    assert.ok(!book.see('a', 20, { via: OTHER }), 'first sight and its release are kept')
    assert.deepEqual(book.known('a'), { firstSeen: 10, via: DIGEST })
    assert.ok(book.see('a', 30, { subnet: '203.0.113.0/24' }))
    assert.deepEqual(book.known('a'), { firstSeen: 10, via: DIGEST, subnet: '203.0.113.0/24' })
    assert.ok(book.see('b', 40, {}))
    assert.ok(book.see('c', 50, {}))
    assert.ok(!book.see('d', 60, {}))
    assert.equal(book.known('d'), undefined)
    assert.equal(book.refusedFull, 1)
    assert.equal(book.size, 3)
  })

  it('the electorate: reporters that spoke before the release, not those only heard of', () => {
    const book = new ReporterBook()
    book.join(0)
    book.see('hello', 10, {})
    book.see('reported', 20, { via: OTHER })
    book.see('heard', 30, { hearsay: true })
    book.see('heard-then-spoke', 30, { hearsay: true })
    book.see('heard-then-spoke', 35, {})
    book.see('introduced-by-it', 40, { via: DIGEST })
    book.sawRelease(DIGEST, JOIN_GRACE_MS)
    book.see('late', JOIN_GRACE_MS + 1, {})
    assert.equal(book.electorate(DIGEST), 3)
    assert.equal(book.known('heard')?.firstSeen, 30, 'heard of is still known (rule 2)')
    assert.equal(book.electorate(OTHER), 5, 'a release never seen: everyone who spoke')
  })

  it('a full book gives up a peer it only heard of for one that spoke, never the reverse', () => {
    const book = new ReporterBook(2)
    book.see('heard', 1, { hearsay: true })
    book.see('spoke', 2, {})
    assert.ok(!book.see('heard-2', 3, { hearsay: true }), 'hearsay does not push out anyone')
    assert.ok(book.see('new-node', 4, {}))
    assert.equal(book.known('heard'), undefined)
    assert.ok(book.known('spoke') && book.known('new-node'))
    assert.ok(!book.see('another', 5, {}), 'full of reporters that spoke: refused')
  })

  it('forgets reporters unheard of for 30 days to make room', () => {
    const book = new ReporterBook(2)
    book.see('a', 0, {})
    book.see('b', 0, {})
    const later = 31 * 24 * 3_600_000
    book.see('b', later - 1, {})
    assert.ok(book.see('c', later, {}))
    assert.equal(book.known('a'), undefined)
    assert.ok(book.known('b') && book.known('c'))
  })

  it('records first sight of a release once, opens its wave once, forgets the oldest past the cap', () => {
    const book = new ReporterBook()
    assert.ok(book.sawRelease(DIGEST, 100))
    assert.ok(!book.sawRelease(DIGEST, 200))
    assert.ok(book.openWave(DIGEST, 300))
    assert.ok(!book.openWave(DIGEST, 400))
    assert.deepEqual(book.sighting(DIGEST), { seenAt: 100, waveStart: 300, waived: true })
    assert.ok(!book.openWave(OTHER, 1), 'no wave on a release never seen')
    for (let i = 0; i < MAX_BOOK_RELEASES; i++)
      book.sawRelease(i.toString(16).padStart(64, '0'), 1000 + i)
    assert.equal(book.sighting(DIGEST), undefined)
  })

  it('round-trips through JSON and drops whatever does not parse', () => {
    const book = new ReporterBook()
    book.see('12D3KooWgood', 5, { subnet: '203.0.113.0/24' })
    book.see('12D3KooWvia', 6, { via: DIGEST })
    book.sawRelease(DIGEST, 7)
    book.openWave(DIGEST, 8)
    const json = JSON.parse(JSON.stringify(book.toJSON()))
    const back = ReporterBook.fromJSON(json)
    assert.deepEqual(back.toJSON(), book.toJSON())
    json.reporters.push(
      ['12D3KooWfive', 1, 1, '', ''],
      ['bad id!', 1, 1, '', '', 1],
      ['12D3KooWx', -1, 1, '', '', 1],
      ['12D3KooWy', 1, 1, 'nothex', '', 1],
      ['12D3KooWz', 1, 1, '', '', 2],
      'junk',
    )
    json.releases.zz = { seenAt: 1 }
    json.releases[OTHER] = { seenAt: 'yesterday' }
    assert.deepEqual(ReporterBook.fromJSON(json).toJSON(), book.toJSON())
    for (const junk of [null, 7, 'x', [], { reporters: 'x', releases: 3 }])
      assert.equal(ReporterBook.fromJSON(junk).size, 0)
  })
})

describe('subnets', () => {
  it('groups IPv4 by /24 and IPv6 by /48; loopback and junk are no subnet', () => {
    assert.equal(subnetOf('203.0.113.77'), '203.0.113.0/24')
    assert.equal(subnetOf('2001:db8:1:2::7'), '2001:db8:1::/48')
    assert.equal(subnetOf('2001:0DB8:0001:ffff:0:0:0:1'), '2001:db8:1::/48')
    assert.equal(subnetOf('::ffff:198.51.100.9'), '198.51.100.0/24')
    assert.equal(subnetOf('fe80::1%eth0'), 'fe80:0:0::/48')
    for (const none of [
      '127.0.0.1',
      '127.9.9.9',
      '::1',
      '',
      'x',
      '1.2.3',
      '1.2.3.256',
      '01.2.3.4',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      'a'.repeat(80),
    ])
      assert.equal(subnetOf(none), undefined, none)
  })
})
