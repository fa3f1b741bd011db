/**
 * Chunked artifact fetches between real libp2p nodes on loopback (artifact-chunked.ts): many
 * providers at once, a chunk checked on arrival convicts exactly its sender, partial holders
 * serve onward, an aborted fetch resumes, chunks of a stored artifact are reused, and a server
 * older than chunks (it ignores `end`) still serves ranges.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { BandwidthGate } from '../../src/adapters/libp2p/artifact-types.ts'
import { ArtifactFetchError, artifactProtocol } from '../../src/adapters/libp2p/artifacts.ts'
import { indexFile } from '../../src/adapters/libp2p/partial-artifact.ts'
import {
  artifactFile,
  assertStoreHoldsOnly,
  connect,
  fixed,
  NETWORK,
  scene,
  sha256,
  type TestNode,
} from './artifact-nodes.ts'

const CHUNK = 256 * 1024
const PROTOCOL = artifactProtocol(NETWORK)

/** An upload cap of `bytesPerSecond`, as a fixed wait per send (enough to slow one node down). */
function slowUploads(bytesPerSecond: number): BandwidthGate {
  return {
    takeUpload: (bytes) => (bytes / bytesPerSecond) * 1000,
    takeDownload: () => 0,
    uploadAllowed: () => true,
    uploadSlots: (n) => n,
  }
}

async function seeded(node: TestNode, path: string, pin: { sha256: string; length: number }) {
  await node.node.services.artifacts.import(path, pin)
}

describe('chunked artifact fetch over libp2p', { timeout: 60_000 }, () => {
  it('takes chunks from three providers at once and verifies the whole file', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 24 * CHUNK + 1000)
      const providers = [await s.add(), await s.add(), await s.add()]
      for (const p of providers) await seeded(p, art.path, art.pin)
      const fetcher = await s.add({ chunkParallel: 3 })
      await connect(fetcher, ...providers)
      const index = await indexFile(art.path, CHUNK)
      const result = await fetcher.node.services.artifacts.fetchChunked(index, {
        providers: fixed(...providers),
      })
      assert.equal(result.peers.length, 3, `contributors: ${result.peers.join(', ')}`)
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })

  it('a provider that sends a wrong chunk is banned at that chunk, and nothing unverified is kept', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 16 * CHUNK)
      const honest = await s.add()
      await seeded(honest, art.path, art.pin)
      const liar = await s.add()
      let lies = 0
      await liar.node.unhandle(PROTOCOL)
      await liar.node.handle(PROTOCOL, async (stream: Stream) => {
        const lp = lpStream(stream, { maxDataLength: 256 })
        const req = JSON.parse(new TextDecoder().decode((await lp.read()).subarray()))
        const end = req.end ?? art.pin.length
        await lp.write(
          new TextEncoder().encode(JSON.stringify({ status: 'ok', length: art.pin.length, end })),
        )
        lies++
        stream.send(randomBytes(end - req.offset))
        await stream.close().catch(() => {})
      })
      const fetcher = await s.add({ chunkParallel: 2 })
      await connect(fetcher, honest, liar)
      const index = await indexFile(art.path, CHUNK)
      const drops: string[] = []
      const result = await fetcher.node.services.artifacts.fetchChunked(index, {
        providers: fixed(liar, honest),
        onDrop: (peer, reason) =>
          drops.push(`${peer === liar.node.peerId.toString() ? 'liar' : 'honest'} ${reason}`),
      })
      assert.equal(lies, 1, 'the liar was asked once, then never again')
      assert.deepEqual(drops, ['liar wrong'])
      assert.deepEqual(result.peers, [honest.node.peerId.toString()])
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })

  it('a partial holder serves verified chunks onward before its own copy is complete', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 16 * CHUNK)
      // The seed uploads at about 1 MB/s, so the middle node takes about 4 s to hold it all.
      const seed = await s.add({ bandwidth: slowUploads(1_000_000) })
      await seeded(seed, art.path, art.pin)
      const middle = await s.add()
      const last = await s.add()
      await connect(middle, seed, last)
      const index = await indexFile(art.path, CHUNK)
      let middleDoneAt = 0
      const middleFetch = middle.node.services.artifacts
        .fetchChunked(index, { providers: fixed(seed) })
        .then((r) => {
          middleDoneAt = Date.now()
          return r
        })
      let firstFromMiddle = 0
      // The last node may ask only the middle one.
      const got = await last.node.services.artifacts.fetchChunked(index, {
        providers: fixed(middle),
        onChunk: () => {
          firstFromMiddle ||= Date.now()
        },
      })
      await middleFetch
      assert.ok(firstFromMiddle > 0 && firstFromMiddle < middleDoneAt, 'a chunk came onward early')
      assert.deepEqual(got.peers, [middle.node.peerId.toString()])
      await assertStoreHoldsOnly(last.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })

  it('an aborted fetch keeps its verified chunks, and the next fetch takes only the rest', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 16 * CHUNK)
      const seed = await s.add({ bandwidth: slowUploads(4_000_000) })
      await seeded(seed, art.path, art.pin)
      const fetcher = await s.add({ chunkParallel: 1 })
      await connect(fetcher, seed)
      const index = await indexFile(art.path, CHUNK)
      const stop = new AbortController()
      await assert.rejects(
        fetcher.node.services.artifacts.fetchChunked(index, {
          providers: fixed(seed),
          signal: stop.signal,
          onChunk: (held) => {
            if (held === 8) stop.abort()
          },
        }),
        ArtifactFetchError,
      )
      const partial = (await readdir(fetcher.storeDir)).filter((n) => n.endsWith('.partial.tmp'))
      assert.equal(partial.length, 1, 'the partial file stays for a resume')
      const before = fetcher.node.services.artifacts.stats().bytesDownloaded
      await fetcher.node.services.artifacts.fetchChunked(index, { providers: fixed(seed) })
      const again = fetcher.node.services.artifacts.stats().bytesDownloaded - before
      assert.ok(again <= 9 * CHUNK, `the resumed fetch moved ${again} bytes of ${art.pin.length}`)
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })

  it('copies the chunks it shares with a stored artifact instead of fetching them', async () => {
    const s = await scene()
    try {
      const old = await artifactFile(s.dir, 16 * CHUNK)
      // The new release keeps the first 12 chunks and changes the rest.
      const data = Buffer.concat([old.data.subarray(0, 12 * CHUNK), randomBytes(4 * CHUNK + 77)])
      const path = join(s.dir, 'new.bin')
      await writeFile(path, data)
      const pin = { sha256: sha256(data), length: data.length }
      const seed = await s.add()
      await seeded(seed, path, pin)
      const fetcher = await s.add()
      await seeded(fetcher, old.path, old.pin)
      await connect(fetcher, seed)
      const index = await indexFile(path, CHUNK)
      await fetcher.node.services.artifacts.fetchChunked(index, {
        providers: fixed(seed),
        reuse: [fetcher.node.services.artifacts.pathOf(old.pin.sha256)],
      })
      const moved = fetcher.node.services.artifacts.stats().bytesDownloaded
      assert.ok(moved <= 5 * CHUNK, `moved ${moved} bytes; only the 5 changed chunks should move`)
      const stored = await readFile(fetcher.node.services.artifacts.pathOf(pin.sha256))
      assert.equal(sha256(stored), pin.sha256)
    } finally {
      await s.close()
    }
  })

  it('a server older than chunks (it ignores `end` and sends to the end) still serves ranges', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 8 * CHUNK)
      const old = await s.add()
      await old.node.unhandle(PROTOCOL)
      await old.node.handle(PROTOCOL, async (stream: Stream) => {
        const lp = lpStream(stream, { maxDataLength: 256 })
        const req = JSON.parse(new TextDecoder().decode((await lp.read()).subarray()))
        // No `end` in the answer: the 0.9 server's reply.
        await lp.write(
          new TextEncoder().encode(JSON.stringify({ status: 'ok', length: art.pin.length })),
        )
        stream.send(art.data.subarray(req.offset))
        await stream.close().catch(() => {})
      })
      const fetcher = await s.add({ chunkParallel: 1 })
      await connect(fetcher, old)
      const index = await indexFile(art.path, CHUNK)
      await fetcher.node.services.artifacts.fetchChunked(index, { providers: fixed(old) })
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })
})
