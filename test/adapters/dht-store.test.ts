/**
 * The DHT store's file (adapters/libp2p/bounded-datastore.ts) on a real disk: what the quotas
 * count is written on close and read back, nothing else is; a broken file is set aside, not
 * deleted, and the store starts empty.
 */
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { it } from 'node:test'
import { Key } from 'interface-datastore'
import { BoundedDatastore, DHT_STORE_FILE } from '../../src/adapters/libp2p/bounded-datastore.ts'
import { makeTempDir, removeDir } from '../cli/helpers.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

it('keeps records and provider records across a restart, and nothing else', async () => {
  const dir = await makeTempDir('dht-store')
  try {
    const file = join(dir, DHT_STORE_FILE)
    const first = new BoundedDatastore()
    assert.equal(await first.persist(file, () => {}), 0, 'no file yet: empty')
    first.put(new Key('/dht/record/abc'), enc('a record'))
    first.put(new Key('/dht/provider/cid1/peer1'), enc('t'))
    first.put(new Key('/peers/peer1'), enc('the peer store is not kept'))
    first.delete(new Key('/dht/provider/cid1/peer1'))
    first.put(new Key('/dht/provider/cid2/peer1'), enc('u'))
    await first.close()

    const lines: string[] = []
    const second = new BoundedDatastore()
    assert.equal(await second.persist(file, (l) => lines.push(l)), 2)
    assert.deepEqual(lines, [])
    assert.equal(new TextDecoder().decode(await second.get(new Key('/dht/record/abc'))), 'a record')
    assert.equal(await second.has(new Key('/dht/provider/cid2/peer1')), true)
    assert.equal(await second.has(new Key('/dht/provider/cid1/peer1')), false, 'deleted stays so')
    assert.equal(await second.has(new Key('/peers/peer1')), false)
    assert.deepEqual(second.quota.counts, { records: 1, providers: 1, peers: 1 })
  } finally {
    await removeDir(dir)
  }
})

it('a file it cannot read is set aside as .corrupt, said so, and the store starts empty', async () => {
  const dir = await makeTempDir('dht-store')
  try {
    const file = join(dir, DHT_STORE_FILE)
    await writeFile(file, 'not a store\n')
    // And the temporary file of a write a crash cut short: removed.
    await writeFile(join(dir, `.${DHT_STORE_FILE}.0a1b2c.tmp`), 'half')
    const lines: string[] = []
    const ds = new BoundedDatastore()
    assert.equal(await ds.persist(file, (l) => lines.push(l)), 0)
    assert.match(lines.join('\n'), /dht-store\.bin is refused \(not a convoy DHT store.*\.corrupt/)
    assert.deepEqual((await readdir(dir)).sort(), [`${DHT_STORE_FILE}.corrupt`])
    assert.equal(await readFile(`${file}.corrupt`, 'utf8'), 'not a store\n', 'kept as it was')
    // It works on: the next write makes a good file.
    ds.put(new Key('/dht/record/x'), enc('y'))
    await ds.close()
    assert.equal(await new BoundedDatastore().persist(file, () => {}), 1)
  } finally {
    await removeDir(dir)
  }
})
