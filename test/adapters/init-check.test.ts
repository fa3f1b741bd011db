/**
 * Every service's init is checked when the service is made, and the error names the service and
 * the field (issue 14): the hello and manifest-exchange services, the artifact and report
 * services, and a convoy node's own options, refused before its data dir is touched.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import { artifacts } from '../../src/adapters/libp2p/artifacts.ts'
import { hello } from '../../src/adapters/libp2p/hello.ts'
import { manifestExchange } from '../../src/adapters/libp2p/manifest-exchange.ts'
import { ConvoyNode, type ConvoyNodeInit } from '../../src/adapters/libp2p/node.ts'
import { reports } from '../../src/adapters/libp2p/reports.ts'
import { networkConfig } from '../net/harness.ts'

const side = () => ({ ownHello: () => ({}) as never, judge: () => ({}) as never, timeoutMs: 1 })
const helloInit = { network: 'test', side, onHello: () => {}, onFault: () => {} }

it('the hello service names the field it refuses', () => {
  assert.throws(() => hello({ ...helloInit, network: '' }), /^TypeError: hello: network must/)
  assert.throws(
    () => hello({ ...helloInit, maxInboundStreams: 0 }),
    /hello: maxInboundStreams must be a positive integer, got 0/,
  )
  assert.throws(
    () => hello({ ...helloInit, onHello: undefined as never }),
    /hello: onHello must be a function/,
  )
  assert.equal(typeof hello(helloInit), 'function', 'a good init makes a factory')
})

it('the manifest-exchange service names the field it refuses', () => {
  const offerFor = async () => ({ roots: [] })
  assert.throws(
    () => manifestExchange({ network: 'test', offerFor, timeoutMs: -1 }),
    /manifestExchange: timeoutMs must be a positive number, got -1/,
  )
  assert.throws(
    () => manifestExchange({ network: 'test', offerFor: 'x' as never }),
    /manifestExchange: offerFor must be a function/,
  )
  assert.equal(typeof manifestExchange({ network: 'test', offerFor }), 'function')
})

it('the artifact and report services name the field they refuse', () => {
  assert.throws(
    () => artifacts({ network: 'test', storeDir: '/tmp/x', maxUploads: 1.5 }),
    /artifacts: maxUploads must be a positive integer, got 1.5/,
  )
  assert.throws(() => artifacts({ network: 'test', storeDir: '' }), /artifacts: storeDir must/)
  assert.throws(
    () => reports({ network: 'test', fanout: -1 }),
    /reports: fanout must be an integer of at least 0, got -1/,
  )
})

it('a node refuses a bad option before it opens its data dir', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convoy-init-'))
  try {
    const base: ConvoyNodeInit = { network: networkConfig(), dataDir: join(dir, 'data') }
    const cases: Array<[Partial<ConvoyNodeInit>, RegExp]> = [
      [{ maxConnections: 0 }, /convoy node: maxConnections must be a positive integer, got 0/],
      [{ helloTimeoutMs: Number.NaN }, /convoy node: helloTimeoutMs must be a positive integer/],
      [{ channel: 'Not A Name' }, /convoy node: channel must be a name/],
      [{ version: 'v1.2' }, /convoy node: version must be a semver version/],
      [{ role: 'boss' as never }, /convoy node: role must be one of node, shadow, publisher/],
      [{ platform: '../x' }, /convoy node: platform must be a platform name/],
      [{ listen: [] }, /convoy node: listen must be a non-empty list/],
      [{ dataDir: '' }, /convoy node: dataDir must be a non-empty path/],
    ]
    for (const [bad, message] of cases)
      await assert.rejects(ConvoyNode.create({ ...base, ...bad }), message, JSON.stringify(bad))
    assert.deepEqual(await readdir(dir), [], 'nothing was written')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
