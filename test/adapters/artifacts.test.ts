/**
 * Artifact transfer between real libp2p nodes on loopback TCP (noise, yamux, identify, ping,
 * kad-dht). Hostile providers are real nodes whose artifact handler is replaced by one written
 * here: a trickler, liars, a provider that sends more than the pinned length.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { UPLOAD_CHUNK } from '../../src/adapters/libp2p/artifact-upload.ts'
import {
  ArtifactFetchError,
  ArtifactMismatchError,
  announceArtifact,
  artifactCid,
  artifactProtocol,
  type ProviderDropReason,
} from '../../src/adapters/libp2p/artifacts.ts'
import { routingTableSize } from '../../src/adapters/libp2p/node.ts'
import type { ArtifactPin } from '../../src/core/manifest/release.ts'
import {
  artifactFile,
  assertStoreHoldsOnly,
  connect,
  fixed,
  NETWORK,
  scene,
  type TestNode,
  waitFor,
} from './artifact-nodes.ts'

const PROTOCOL = artifactProtocol(NETWORK)

/**
 * `seeder` imports `art`; `reader` connects and asks it for the whole artifact on a stream of
 * its own, counting the bytes that arrive (the caller pauses and resumes the stream).
 */
async function askWhole(
  reader: TestNode,
  seeder: TestNode,
  art: { path: string; pin: ArtifactPin },
): Promise<{ stream: Stream; received: () => number }> {
  await seeder.node.services.artifacts.import(art.path, art.pin)
  await connect(reader, seeder)
  const stream = await reader.node.dialProtocol(seeder.node.peerId, PROTOCOL)
  let received = 0
  stream.addEventListener('message', (e) => {
    received += e.data.byteLength
  })
  await lpStream(stream).write(
    new TextEncoder().encode(JSON.stringify({ sha256: art.pin.sha256, offset: 0 })),
  )
  return { stream, received: () => received }
}

/** Reads a request the way a server must, then hands it to `serve`. */
function handler(
  serve: (
    stream: Stream,
    request: { sha256: string; offset: number },
    header: (h: object) => Promise<void>,
  ) => Promise<void>,
) {
  return async (stream: Stream): Promise<void> => {
    try {
      const lp = lpStream(stream, { maxDataLength: 256 })
      const request = JSON.parse(new TextDecoder().decode((await lp.read()).subarray()))
      await serve(stream, request, (h) => lp.write(new TextEncoder().encode(JSON.stringify(h))))
    } catch {
      stream.abort(new Error('test handler ended'))
    }
  }
}

/** Sends `bytes`, waiting for the muxer to drain; stops quietly once the stream is gone. */
async function send(stream: Stream, bytes: Uint8Array): Promise<void> {
  if (stream.writeStatus !== 'writable') throw new Error('stream gone')
  if (!stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(10_000) })
}

/** Serves correct bytes: the first `burst` fast, then 256 bytes every 250 ms (~1 KiB/s). */
function trickler(data: Buffer, burst: number, sent: { bytes: number }) {
  return handler(async (stream, { offset }, header) => {
    await header({ status: 'ok', length: data.length })
    let at = offset
    const fast = Math.min(data.length, offset + burst)
    await send(stream, data.subarray(at, fast))
    sent.bytes += fast - at
    at = fast
    while (at < data.length && stream.writeStatus === 'writable') {
      await sleep(250)
      const end = Math.min(data.length, at + 256)
      await send(stream, data.subarray(at, end))
      sent.bytes += end - at
      at = end
    }
    await stream.close()
  })
}

/** Announces the right length, then sends that many random bytes whatever the offset. */
function liar(length: number) {
  return handler(async (stream, _request, header) => {
    await header({ status: 'ok', length })
    await send(stream, randomBytes(length))
    await stream.close()
  })
}

/** Serves correct bytes from the requested offset and records each offset asked for. */
function recordingHonest(data: Buffer, offsets: number[]) {
  return handler(async (stream, { offset }, header) => {
    offsets.push(offset)
    await header({ status: 'ok', length: data.length })
    await send(stream, data.subarray(offset))
    await stream.close()
  })
}

function dropsOf(): {
  list: Array<{ peer: string; reason: ProviderDropReason; detail: string }>
  onDrop: (peer: string, reason: ProviderDropReason, detail: string) => void
} {
  const list: Array<{ peer: string; reason: ProviderDropReason; detail: string }> = []
  return { list, onDrop: (peer, reason, detail) => list.push({ peer, reason, detail }) }
}

/** `fetcher` asks only `provider` for 2 s: the fetch fails, and every wait gave `reason`. */
async function assertWaitsOnly(
  fetcher: TestNode,
  pin: ArtifactPin,
  provider: TestNode,
  reason: string,
): Promise<void> {
  const waits: string[] = []
  await assert.rejects(
    fetcher.node.services.artifacts.fetch(pin, {
      providers: fixed(provider),
      onWait: (w) => waits.push(w.reason),
      deadlineMs: 2000,
    }),
    ArtifactFetchError,
  )
  assert.ok(waits.length > 0 && waits.every((w) => w === reason), waits.join(', '))
}

describe('artifact transfer over libp2p', { timeout: 60_000 }, () => {
  it('fetches intact from an honest provider found through the DHT', async () => {
    const s = await scene()
    try {
      const provider = await s.add()
      const fetcher = await s.add()
      await connect(fetcher, provider)
      const routingSize = (n: TestNode): number => routingTableSize(n.node.services.dht)
      await waitFor(
        'DHT routing tables',
        () => routingSize(fetcher) > 0 && routingSize(provider) > 0,
      )

      const art = await artifactFile(s.dir, 3 * 1024 * 1024)
      await provider.node.services.artifacts.import(art.path, art.pin)
      await announceArtifact(provider.node.services.dht, art.pin.sha256, {
        signal: AbortSignal.timeout(10_000),
      })

      const progress: number[] = []
      const result = await fetcher.node.services.artifacts.fetch(art.pin, {
        providers: async ({ signal }) => {
          const found: PeerId[] = []
          for await (const ev of fetcher.node.services.dht.findProviders(
            artifactCid(art.pin.sha256),
            { signal },
          )) {
            if (ev.name === 'PROVIDER') found.push(...ev.providers.map((p) => p.id))
          }
          return found
        },
        onProgress: (received) => progress.push(received),
        deadlineMs: 20_000,
      })

      assert.equal(result.path, join(fetcher.storeDir, art.pin.sha256))
      assert.equal(result.length, art.pin.length)
      assert.deepEqual(result.peers, [provider.node.peerId.toString()])
      assert.equal(progress.at(-1), art.pin.length)
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
      assert.equal(await fetcher.node.services.artifacts.has(art.pin.sha256), true)
      assert.equal(provider.node.services.artifacts.stats().bytesUploaded, art.pin.length)
      assert.equal(provider.node.services.artifacts.stats().uploadsServed, 1)
      assert.equal(fetcher.node.services.artifacts.stats().bytesDownloaded, art.pin.length)
    } finally {
      await s.close()
    }
  })

  it('gets the honest bytes past a trickler and a liar, keeping nothing unverified', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 3 * 1024 * 1024)
      const fetcher = await s.add()
      const slow = await s.add()
      const lying = await s.add()
      const honest = await s.add()
      const trickled = { bytes: 0 }
      await slow.node.handle(PROTOCOL, trickler(art.data, 64 * 1024, trickled), { force: true })
      await lying.node.handle(PROTOCOL, liar(art.pin.length), { force: true })
      await honest.node.services.artifacts.import(art.path, art.pin)
      await connect(fetcher, slow, lying, honest)

      const drops = dropsOf()
      const result = await fetcher.node.services.artifacts.fetch(art.pin, {
        providers: fixed(slow, lying, honest),
        onDrop: drops.onDrop,
        deadlineMs: 20_000,
      })

      assert.equal(result.length, art.pin.length)
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
      const stats = fetcher.node.services.artifacts.stats()
      assert.ok(stats.providersDropped.slow >= 1, 'the trickler was dropped as slow')
      assert.ok(stats.providersDropped.wrong >= 1, 'the liar was dropped as wrong')
      assert.deepEqual(
        drops.list.map((d) => [d.peer, d.reason]),
        [
          [slow.node.peerId.toString(), 'slow'],
          [lying.node.peerId.toString(), 'wrong'],
        ],
      )
      // The liar's bytes were rolled back; the file is the trickler's start plus the honest rest.
      assert.deepEqual(
        result.peers.sort(),
        [slow.node.peerId.toString(), honest.node.peerId.toString()].sort(),
      )
      const uploaded = honest.node.services.artifacts.stats().bytesUploaded
      assert.ok(uploaded < art.pin.length, `honest sent only the rest (${uploaded} bytes)`)
    } finally {
      await s.close()
    }
  })

  it('fails with ArtifactFetchError and leaves the store empty when the only provider lies', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 512 * 1024)
      const fetcher = await s.add()
      const lying = await s.add()
      await lying.node.handle(PROTOCOL, liar(art.pin.length), { force: true })
      await connect(fetcher, lying)

      const drops = dropsOf()
      let calls = 0
      const started = Date.now()
      await assert.rejects(
        fetcher.node.services.artifacts.fetch(art.pin, {
          providers: async () => {
            calls++
            return [lying.node.peerId]
          },
          onDrop: drops.onDrop,
          deadlineMs: 2500,
        }),
        (e: unknown) => {
          assert.ok(e instanceof ArtifactFetchError)
          assert.equal(e.reason, 'deadline')
          assert.match(e.message, /not fetched: no verified copy arrived within 2500 ms/)
          assert.match(e.message, /1 wrong/)
          return true
        },
      )
      assert.ok(Date.now() - started < 5000, 'gave up at the deadline')
      assert.ok(calls >= 2, 'asked for providers again while waiting')
      assert.deepEqual(
        drops.list.map((d) => d.reason),
        ['wrong'],
        'a convicted liar is never asked again',
      )
      assert.deepEqual(await readdir(fetcher.storeDir), [], 'no final file and no temp file')
      assert.equal(await fetcher.node.services.artifacts.has(art.pin.sha256), false)
    } finally {
      await s.close()
    }
  })

  it('drops a provider at the first byte past the signed length', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 1024 * 1024)
      // Both fetcher limits are long, so only the length rule can explain a quick drop.
      const fetcher = await s.add({ stallTimeoutMs: 8000, rateGraceMs: 8000 })
      const longer = await s.add()
      const excess = await s.add()
      const honest = await s.add()
      // Announces one byte more than the pin.
      await longer.node.handle(
        PROTOCOL,
        handler(async (stream, _r, header) => {
          await header({ status: 'ok', length: art.pin.length + 1 })
          await send(stream, art.data)
          await stream.close()
        }),
        { force: true },
      )
      // Announces the right length, sends the right bytes plus 64 KiB, and never closes.
      await excess.node.handle(
        PROTOCOL,
        handler(async (stream, { offset }, header) => {
          await header({ status: 'ok', length: art.pin.length })
          await send(stream, Buffer.concat([art.data.subarray(offset), randomBytes(64 * 1024)]))
          await new Promise((resolve) => stream.addEventListener('close', resolve))
        }),
        { force: true },
      )
      await honest.node.services.artifacts.import(art.path, art.pin)
      await connect(fetcher, longer, excess, honest)

      const drops = dropsOf()
      const started = Date.now()
      const result = await fetcher.node.services.artifacts.fetch(art.pin, {
        providers: fixed(longer, excess, honest),
        onDrop: drops.onDrop,
        deadlineMs: 20_000,
      })
      assert.ok(Date.now() - started < 4000, 'dropped at once, not after a stall')
      assert.deepEqual(
        drops.list.map((d) => [d.peer, d.reason]),
        [
          [longer.node.peerId.toString(), 'wrong'],
          [excess.node.peerId.toString(), 'wrong'],
        ],
      )
      assert.match(drops.list[0]!.detail, /announced 1048577 bytes/)
      assert.match(drops.list[1]!.detail, /more than the pinned 1048576 bytes/)
      assert.equal(fetcher.node.services.artifacts.stats().providersDropped.wrong, 2)
      assert.equal(fetcher.node.services.artifacts.stats().providersDropped.slow, 0)
      assert.deepEqual(result.peers, [honest.node.peerId.toString()])
      assert.equal(honest.node.services.artifacts.stats().bytesUploaded, art.pin.length)
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })

  it('resumes from the offset reached when a trickler is dropped mid-file', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 2 * 1024 * 1024)
      const fetcher = await s.add()
      const slow = await s.add()
      const honest = await s.add()
      const trickled = { bytes: 0 }
      const offsets: number[] = []
      await slow.node.handle(PROTOCOL, trickler(art.data, 256 * 1024, trickled), { force: true })
      await honest.node.handle(PROTOCOL, recordingHonest(art.data, offsets), { force: true })
      await connect(fetcher, slow, honest)

      const drops = dropsOf()
      const result = await fetcher.node.services.artifacts.fetch(art.pin, {
        providers: fixed(slow, honest),
        onDrop: drops.onDrop,
        deadlineMs: 20_000,
      })

      assert.deepEqual(
        drops.list.map((d) => d.reason),
        ['slow'],
      )
      assert.equal(offsets.length, 1)
      const offset = offsets[0]!
      assert.ok(offset >= 256 * 1024, `resumed at ${offset}, after the trickler's burst`)
      assert.ok(offset <= trickled.bytes && offset < art.pin.length)
      assert.equal(
        fetcher.node.services.artifacts.stats().bytesDownloaded,
        art.pin.length,
        'no byte fetched twice',
      )
      assert.deepEqual(
        result.peers.sort(),
        [slow.node.peerId.toString(), honest.node.peerId.toString()].sort(),
      )
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })

  it('after a mismatch from several contributors, restarts at 0 with an unsuspected provider', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 1024 * 1024)
      const fetcher = await s.add()
      const slow = await s.add()
      const lying = await s.add()
      const honest = await s.add()
      const offsets: number[] = []
      await slow.node.handle(PROTOCOL, trickler(art.data, 64 * 1024, { bytes: 0 }), {
        force: true,
      })
      // A careful liar: honours the offset, so only the final hash can expose it.
      await lying.node.handle(
        PROTOCOL,
        handler(async (stream, { offset }, header) => {
          await header({ status: 'ok', length: art.pin.length })
          await send(stream, randomBytes(art.pin.length - offset))
          await stream.close()
        }),
        { force: true },
      )
      await honest.node.handle(PROTOCOL, recordingHonest(art.data, offsets), { force: true })
      await connect(fetcher, slow, lying, honest)

      // The honest provider appears only later (as if it had just completed its own fetch), and
      // then listed last, so only the preference for unsuspected providers puts it first.
      let calls = 0
      const providers = async (): Promise<PeerId[]> =>
        calls++ === 0
          ? [slow.node.peerId, lying.node.peerId]
          : [lying.node.peerId, slow.node.peerId, honest.node.peerId]
      const drops = dropsOf()
      const result = await fetcher.node.services.artifacts.fetch(art.pin, {
        providers,
        onDrop: drops.onDrop,
        deadlineMs: 20_000,
      })
      // Two contributors: neither is convicted, both become suspects, and the never-suspected
      // honest provider serves the new attempt from offset 0.
      assert.equal(calls, 2)
      assert.deepEqual(
        drops.list.map((d) => d.reason),
        ['slow'],
      )
      assert.deepEqual(offsets, [0])
      assert.deepEqual(result.peers, [honest.node.peerId.toString()])
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })

  it('skips a busy provider without penalty; a reader that stops cannot hold a slot', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 2 * 1024 * 1024)
      const fetcher = await s.add()
      const hog = await s.add()
      const busy = await s.add({ maxUploads: 1, stallTimeoutMs: 2000 })
      const honest = await s.add()
      await busy.node.services.artifacts.import(art.path, art.pin)
      await honest.node.services.artifacts.import(art.path, art.pin)
      await connect(fetcher, busy, honest)
      await connect(hog, busy)

      // The hog takes the only upload slot and stops reading (no more yamux window updates).
      const hogStream = await hog.node.dialProtocol(busy.node.peerId, PROTOCOL)
      hogStream.pause()
      await lpStream(hogStream).write(
        new TextEncoder().encode(JSON.stringify({ sha256: art.pin.sha256, offset: 0 })),
      )
      await waitFor('the hog holds the slot', () => {
        return busy.node.services.artifacts.stats().uploadsActive === 1
      })

      const drops = dropsOf()
      const result = await fetcher.node.services.artifacts.fetch(art.pin, {
        providers: fixed(busy, honest),
        onDrop: drops.onDrop,
        deadlineMs: 20_000,
      })
      assert.deepEqual(
        drops.list.map((d) => [d.peer, d.reason]),
        [[busy.node.peerId.toString(), 'busy']],
      )
      assert.equal(fetcher.node.services.artifacts.stats().providersDropped.busy, 1)
      assert.deepEqual(result.peers, [honest.node.peerId.toString()])
      await assertStoreHoldsOnly(fetcher.storeDir, art.pin)

      // The stalled upload is given up after the server's stall timeout, freeing the slot.
      await waitFor('the slot is freed', () => {
        return busy.node.services.artifacts.stats().uploadsActive === 0
      })
      assert.equal(busy.node.services.artifacts.stats().uploadsServed, 0)
    } finally {
      await s.close()
    }
  })

  it('a reader that takes bytes below the upload pace, never stalling, loses its slot', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 8 * 1024 * 1024)
      const reader = await s.add()
      // A floor of 1 MiB/s over 1 s windows: a reader that lets one yamux window (256 KiB)
      // through every 400 ms never stalls past the 6 s stall timeout (a margin for a loaded
      // machine's late timers), and still falls below the floor.
      const seeder = await s.add({
        maxUploads: 1,
        stallTimeoutMs: 6000,
        uploadMinBytesPerSecond: 1024 * 1024,
        uploadRateGraceMs: 300,
        uploadRateWindowMs: 1000,
      })
      const { stream, received } = await askWhole(reader, seeder, art)
      // Resumed and paused at once: one window update (the bytes already taken), no more.
      const trickle = setInterval(() => {
        stream.resume()
        stream.pause()
      }, 400)
      stream.pause()
      try {
        await waitFor('the slow reader holds the slot', () => {
          return seeder.node.services.artifacts.stats().uploadsActive === 1
        })
        const t0 = Date.now()
        await waitFor(
          'the slow reader is cut by the pace',
          () => seeder.node.services.artifacts.stats().uploadsActive === 0,
          10_000,
        )
        const st = seeder.node.services.artifacts.stats()
        assert.equal(st.uploadsTooSlow, 1, JSON.stringify(st))
        assert.equal(st.uploadsServed, 0)
        assert.ok(received() < art.pin.length, `got ${received()} of ${art.pin.length}`)
        // By the pace, well before a stall could have cut it.
        assert.ok(Date.now() - t0 < 6000, `cut after ${Date.now() - t0} ms`)
      } finally {
        clearInterval(trickle)
      }
    } finally {
      await s.close()
    }
  })

  it('a trickling reader: the seeder holds at most two chunks in its write buffer', async () => {
    // libp2p's onDrain() returns at once after a stream's first drain (artifact-upload.ts,
    // drained): trusting it, a seeder read the rest of the file into memory for a slow reader.
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 16 * 1024 * 1024)
      const reader = await s.add()
      const seeder = await s.add({ stallTimeoutMs: 20_000, uploadMinBytesPerSecond: 1 })
      const { stream, received } = await askWhole(reader, seeder, art)
      stream.pause()
      // One window update every 250 ms: many drains, each letting a little through.
      const trickle = setInterval(() => {
        if (stream.status !== 'open') return
        stream.resume()
        stream.pause()
      }, 250)
      let most = 0
      try {
        const t0 = Date.now()
        while (Date.now() - t0 < 3000) {
          for (const c of seeder.node.getConnections(reader.node.peerId))
            for (const st of c.streams)
              if (st.protocol === PROTOCOL) most = Math.max(most, st.writeBufferLength)
          await sleep(10)
        }
      } finally {
        clearInterval(trickle)
      }
      assert.ok(received() > 1024 * 1024, `the reader got ${received()} B: it was not trickling`)
      assert.ok(received() < art.pin.length, 'the reader got it all: nothing was held back')
      assert.ok(most <= 2 * UPLOAD_CHUNK, `the seeder buffered ${most} B for one slow reader`)
    } finally {
      await s.close()
    }
  })

  it('the upload budget counts delivered copies: a requester that leaves mid-copy is refunded', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 2 * 1024 * 1024)
      // A seeder with a budget of one copy, whose tickets end after 1 s without a transfer.
      const seeder = await s.add({ uploadBudgetBytes: art.pin.length, ticketIdleMs: 1000 })
      const leaver = await s.add()
      const a = await s.add()
      const b = await s.add()
      await seeder.node.services.artifacts.import(art.path, art.pin)
      await connect(seeder, leaver, a, b)

      // The leaver asks as a 0.2 fetcher does (it will confirm), takes a part and resets.
      const stream = await leaver.node.dialProtocol(seeder.node.peerId, PROTOCOL)
      let got = 0
      const some = new Promise<void>((resolve) => {
        stream.addEventListener('message', (evt) => {
          got += evt.data.byteLength
          if (got >= 256 * 1024) resolve()
        })
      })
      await lpStream(stream).write(
        new TextEncoder().encode(
          JSON.stringify({ sha256: art.pin.sha256, offset: 0, confirm: true }),
        ),
      )
      await some
      stream.abort(new Error('leaving'))
      await waitFor('the leaver is gone', () => {
        return seeder.node.services.artifacts.stats().uploadsActive === 0
      })
      assert.equal(seeder.node.services.artifacts.stats().budgetChargedBytes, art.pin.length)

      // Once the leaver's ticket has ended, the copy goes to A, and is then spent.
      const waits: string[] = []
      await a.node.services.artifacts.fetch(art.pin, {
        providers: fixed(seeder),
        onWait: (w) => waits.push(w.reason),
        deadlineMs: 30_000,
      })
      assert.ok(
        waits.every((w) => w === 'budget-spent'),
        waits.join(', '),
      )
      await waitFor('the copy is confirmed', () => {
        return seeder.node.services.artifacts.stats().uploadsActive === 0
      })
      assert.equal(seeder.node.services.artifacts.stats().budgetChargedBytes, art.pin.length)
      await assertWaitsOnly(b, art.pin, seeder, 'budget-spent')
    } finally {
      await s.close()
    }
  })

  it('a busy reply without a reason (a 0.1 server) reads as busy slots', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 64 * 1024)
      const old = await s.add()
      const fetcher = await s.add()
      await connect(fetcher, old)
      await old.node.unhandle(PROTOCOL)
      await old.node.handle(PROTOCOL, async (stream: Stream) => {
        const lp = lpStream(stream)
        await lp.read()
        await lp.write(new TextEncoder().encode('{"status":"busy"}'))
        await stream.close()
      })
      await assertWaitsOnly(fetcher, art.pin, old, 'all-busy')
    } finally {
      await s.close()
    }
  })

  it('an aborted fetch throws ArtifactFetchError and leaves no temp file', async () => {
    const s = await scene()
    try {
      const art = await artifactFile(s.dir, 1024 * 1024)
      const fetcher = await s.add({ rateGraceMs: 10_000 })
      const slow = await s.add()
      await slow.node.handle(PROTOCOL, trickler(art.data, 64 * 1024, { bytes: 0 }), {
        force: true,
      })
      await connect(fetcher, slow)
      const controller = new AbortController()
      let sawBytes = false
      const fetching = fetcher.node.services.artifacts.fetch(art.pin, {
        providers: fixed(slow),
        onProgress: () => {
          sawBytes = true
        },
        signal: controller.signal,
      })
      await waitFor('bytes arriving', () => sawBytes)
      assert.equal((await readdir(fetcher.storeDir)).length, 1, 'a temp file while fetching')
      controller.abort()
      await assert.rejects(fetching, (e: unknown) => {
        assert.ok(e instanceof ArtifactFetchError)
        assert.equal(e.reason, 'aborted')
        return true
      })
      assert.deepEqual(await readdir(fetcher.storeDir), [])
    } finally {
      await s.close()
    }
  })

  it('import refuses a file whose hash or length does not match the pin', async () => {
    const s = await scene()
    try {
      const node = await s.add()
      const svc = node.node.services.artifacts
      const art = await artifactFile(s.dir, 100_000)
      const other = await artifactFile(s.dir, 100_000)

      await assert.rejects(svc.import(other.path, art.pin), ArtifactMismatchError)
      await assert.rejects(
        svc.import(art.path, { ...art.pin, length: art.pin.length + 1 }),
        /has 100000 bytes but the pin says 100001/,
      )
      await assert.rejects(
        svc.import(art.path, { ...art.pin, length: art.pin.length - 1 }),
        /longer than the pinned 99999 bytes/,
      )
      assert.deepEqual(await readdir(node.storeDir), [], 'nothing kept from refused imports')
      assert.equal(await svc.has(art.pin.sha256), false)

      const path = await svc.import(art.path, art.pin)
      assert.equal(path, join(node.storeDir, art.pin.sha256))
      await assertStoreHoldsOnly(node.storeDir, art.pin)
    } finally {
      await s.close()
    }
  })
})
