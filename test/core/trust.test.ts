import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  acceptRelease,
  acceptRoot,
  channelHistory,
  checkReleaseRecord,
  initialTrust,
} from '../../src/core/trust/trust.ts'
import { releasesBehind } from '../../src/core/version/history.ts'
import { bytesOf, keys, makeRelease, makeRoot, makeRotation, NOW } from './fixtures.ts'

const K = keys('trust-', 3)
const anchor = makeRoot(K, 2)

describe('trust state', () => {
  it('a newer manifest raises the floor; an older one joins the history but never lowers it', () => {
    let s = initialTrust(anchor.signed)
    const r3 = acceptRelease(
      s,
      bytesOf(makeRelease(K.slice(0, 2), { version: '1.2.0', sequence: 3 })),
      { now: NOW },
    )
    assert.ok(r3.ok && r3.value.isLatest)
    s = r3.value.state
    const r1 = acceptRelease(
      s,
      bytesOf(makeRelease(K.slice(0, 2), { version: '1.0.0', sequence: 1 })),
      { now: NOW },
    )
    assert.ok(r1.ok && !r1.value.isLatest)
    s = r1.value.state
    assert.equal(s.channels.stable?.latest?.sequence, 3)
    assert.equal(releasesBehind(channelHistory(s, 'stable'), '1.0.0'), 1)
  })

  it('an honest DHT node refuses to store an older latest-pointer record, but keeps history records', () => {
    let s = initialTrust(anchor.signed)
    const r = acceptRelease(s, bytesOf(makeRelease(K.slice(0, 2), { sequence: 3 })), { now: NOW })
    assert.ok(r.ok)
    s = r.value.state
    const old = bytesOf(makeRelease(K.slice(0, 2), { version: '1.0.0', sequence: 1 }))
    const asLatest = checkReleaseRecord(s, old, { channel: 'stable', now: NOW })
    assert.equal(!asLatest.ok && asLatest.code, 'stale-sequence')
    assert.ok(checkReleaseRecord(s, old, { channel: 'stable', sequence: 1, now: NOW }).ok)
    const misfiled = checkReleaseRecord(s, old, { channel: 'stable', sequence: 2, now: NOW })
    assert.match(!misfiled.ok ? misfiled.reason : '', /names sequence 2, manifest has 1/)
  })

  it('roots advance one verified version at a time; a gap or a different known root is refused', () => {
    const s = initialTrust(anchor.signed)
    const v2 = makeRotation(anchor.signed, K, 2, K.slice(0, 2))
    const v3 = makeRotation(v2.signed, K, 2, K.slice(0, 2))
    const gap = acceptRoot(s, bytesOf(v3), { now: NOW })
    assert.equal(!gap.ok && gap.code, 'root-version')
    const step = acceptRoot(s, bytesOf(v2), { now: NOW })
    assert.ok(step.ok && step.value.isNew)
    const other = acceptRoot(
      step.value.state,
      bytesOf(makeRotation(anchor.signed, K, 1, K.slice(0, 2))),
      { now: NOW },
    )
    assert.equal(!other.ok && other.code, 'conflict')
  })
})
