/**
 * `node bench/dht-store.bench.ts`: the cost of the DHT store file (dht-store.bin) at its
 * bounds. A node's store is filled to the provider quota (16,384 provider records: what
 * hostile peers can make it hold) and with BENCH_RECORDS records of 64 KiB (genuine manifests;
 * a real network holds tens), then written and read back the way a node does (flush on stop,
 * persist at start). Prints the file's size and the times.
 */
import { cpus } from 'node:os'
import { join } from 'node:path'
import { Key } from 'interface-datastore'
import { BoundedDatastore, DHT_STORE_FILE } from '../src/adapters/libp2p/bounded-datastore.ts'
import { DEFAULT_STORE_QUOTA } from '../src/core/net/store-quota.ts'
import { makeTempDir, removeDir } from '../test/cli/helpers.ts'

const RECORDS = Number(process.env.BENCH_RECORDS ?? 256)
const dir = await makeTempDir('dht-store-bench')
try {
  const file = join(dir, DHT_STORE_FILE)
  const ds = new BoundedDatastore()
  await ds.persist(file, (l) => console.log(l))
  const time = new Uint8Array([0x80, 0xb0, 0xa4, 0xe6, 0xb5, 0x33])
  for (let i = 0; i < DEFAULT_STORE_QUOTA.providers; i++) {
    const peer = `peer${i % 256}`.padEnd(52, 'x')
    ds.put(new Key(`/dht/provider/${`cid${i}`.padEnd(59, 'y')}/${peer}`), time)
  }
  const record = new Uint8Array(64 * 1024).fill(7)
  for (let i = 0; i < RECORDS; i++)
    ds.put(new Key(`/dht/record/${`r${i}`.padEnd(90, 'z')}`), record)
  let t = performance.now()
  await ds.close()
  const writeMs = performance.now() - t
  const { size } = await (await import('node:fs/promises')).stat(file)
  t = performance.now()
  const back = new BoundedDatastore()
  const kept = await back.persist(file, (l) => console.log(l))
  const readMs = performance.now() - t
  console.log(
    `dht-store.bin with ${DEFAULT_STORE_QUOTA.providers} provider records and ${RECORDS} records of 64 KiB: ${(size / 1024 / 1024).toFixed(1)} MiB; written in ${writeMs.toFixed(0)} ms, read back (${kept} entries) in ${readMs.toFixed(0)} ms (${cpus()[0]?.model ?? 'cpu'}, Node ${process.version})`,
  )
} finally {
  await removeDir(dir)
}
