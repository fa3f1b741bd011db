import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { utf8 } from '../../src/core/bytes.ts'
import {
  backedCapabilities,
  capabilityProtocol,
  DEFAULT_ROLE,
  decodeHelloMessage,
  encodeHelloMessage,
  type Hello,
  type HelloMessage,
  MAX_HELLO_BYTES,
  protocolId,
  type Role,
} from '../../src/core/net/hello.ts'

const hello: Hello = {
  network: 'testnet',
  version: '1.2.0',
  channel: 'stable',
  capabilities: ['hello/1'],
  sequences: { stable: 3 },
  rootVersion: 1,
  role: 'node',
}

describe('hello messages', () => {
  it('round-trip all three message types', () => {
    const messages: HelloMessage[] = [
      { type: 'hello', hello },
      {
        type: 'hello-reply',
        hello,
        verdict: { status: 'outdated', current: { version: '1.3.0', sequence: 4 }, reasons: ['x'] },
      },
      { type: 'verdict', verdict: { status: 'ok', reasons: [] } },
    ]
    for (const m of messages) {
      const r = decodeHelloMessage(encodeHelloMessage(m))
      assert.ok(r.ok, r.ok ? '' : r.reason)
      assert.deepEqual(r.value, m)
    }
  })

  it('refuses oversize before parsing, and bad fields with a reason', () => {
    const big = decodeHelloMessage(new Uint8Array(MAX_HELLO_BYTES + 1))
    assert.equal(!big.ok && big.code, 'too-large')
    const bad = decodeHelloMessage(
      utf8(JSON.stringify({ type: 'hello', hello: { ...hello, version: 'v1' } })),
    )
    assert.match(!bad.ok ? bad.reason : '', /hello.version "v1" is not a semver version/)
    const extra = decodeHelloMessage(
      utf8(JSON.stringify({ type: 'hello', hello: { ...hello, admin: true } })),
    )
    assert.match(!extra.ok ? extra.reason : '', /unknown member "admin"/)
  })

  it('never throws on random or mutated bytes', () => {
    const base = encodeHelloMessage({ type: 'hello', hello })
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (junk, at, v) => {
          assert.equal(typeof decodeHelloMessage(junk).ok, 'boolean')
          const m = new Uint8Array(base)
          m[at % m.length] = v
          assert.equal(typeof decodeHelloMessage(m).ok, 'boolean')
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('a process that names no role is a node; every role travels in a hello', () => {
    assert.equal(DEFAULT_ROLE, 'node')
    for (const role of ['node', 'shadow', 'publisher'] as Role[]) {
      const r = decodeHelloMessage(encodeHelloMessage({ type: 'hello', hello: { ...hello, role } }))
      assert.ok(r.ok && r.value.type === 'hello' && r.value.hello.role === role)
    }
  })

  it('capabilities map to network-scoped protocols and back', () => {
    assert.equal(capabilityProtocol('testnet', 'artifact/1'), '/convoy/testnet/artifact/1.0.0')
    assert.equal(protocolId('testnet', 'hello'), '/convoy/testnet/hello/1.0.0')
    assert.equal(protocolId('testnet', 'kad', 2), '/convoy/testnet/kad/2.0.0')
    assert.deepEqual(
      backedCapabilities('testnet', [
        '/convoy/testnet/artifact/1.0.0',
        '/convoy/testnet/kad/1.0.0',
        '/convoy/othernet/hello/1.0.0',
        '/ipfs/id/1.0.0',
      ]),
      ['artifact/1', 'kad/1'],
    )
  })
})
