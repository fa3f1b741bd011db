/**
 * The chunked fetch's schedule (core/net/chunk-plan.ts) and the chunk index format
 * (core/net/chunks.ts): safety for any order of outcomes, and completion with one honest provider.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type ChunkOutcome, ChunkPlan } from '../../src/core/net/chunk-plan.ts'
import {
  buildChunkIndex,
  chunkCount,
  chunkSizeFor,
  chunksOfRange,
  DEFAULT_CHUNK_BYTES,
  decodeChunkIndex,
  decodeHave,
  encodeChunkIndex,
  encodeHave,
  MAX_CHUNKS,
} from '../../src/core/net/chunks.ts'

const OUTCOMES: ChunkOutcome[] = ['done', 'wrong', 'slow', 'busy', 'error', 'missing']

/** Drives a plan with arbitrary outcomes; checks every invariant after every step. */
function drive(
  count: number,
  providers: string[],
  maxParallel: number,
  maxRun: number,
  script: {
    pick: number
    outcome: ChunkOutcome
    prefix: number
    haveBits: boolean[]
    round: boolean
  }[],
  random: () => number,
): void {
  const plan = new ChunkPlan(new Array(count).fill(false), { maxParallel, maxRun })
  plan.newRound(providers)
  const banned = new Set<string>()
  const held = new Set<number>()
  const flying = new Map<string, number[]>()
  for (const step of script) {
    if (step.round) plan.newRound(providers)
    for (;;) {
      const a = plan.next(random)
      if (a === undefined) break
      assert.ok(!banned.has(a.provider), `asked banned ${a.provider}`)
      assert.ok(a.count >= 1 && a.count <= maxRun, `a run of ${a.count}`)
      const run = Array.from({ length: a.count }, (_, k) => a.chunk + k)
      for (const c of run) {
        assert.ok(c < count, `chunk ${c} past the end`)
        assert.ok(!held.has(c), `asked for held chunk ${c}`)
      }
      assert.ok(!flying.has(a.provider), `second request to ${a.provider}`)
      flying.set(a.provider, run)
      assert.ok(flying.size <= maxParallel, 'more than maxParallel in flight')
      for (const c of run) {
        const same = [...flying.values()].filter((r) => r.includes(c)).length
        assert.ok(same <= 2, `chunk ${c} in flight ${same} times`)
      }
    }
    if (flying.size === 0) continue
    const entries = [...flying.entries()]
    const [provider, run] = entries[step.pick % entries.length]!
    // Deliver a prefix of the run (all of it for "done"), then end the request.
    const n = step.outcome === 'done' ? run.length : step.prefix % (run.length + 1)
    for (const c of run.slice(0, n)) {
      held.add(c)
      for (const other of plan.delivered(provider, c)) {
        const left = flying.get(other)
        assert.ok(left?.includes(c), 'cut a provider not fetching that chunk')
        assert.ok(
          left!.every((x) => held.has(x)),
          'cut a run that still had chunks to bring',
        )
        flying.delete(other)
        plan.cancelled(other)
      }
    }
    flying.delete(provider)
    const have = step.outcome === 'missing' ? step.haveBits.slice(0, count) : undefined
    plan.ended(provider, step.outcome, have?.length === count ? have : undefined)
    if (step.outcome === 'wrong') banned.add(provider)
    assert.equal(plan.heldCount, held.size)
  }
}

describe('chunk plan', () => {
  it('never asks a banned provider, a held chunk, or one provider twice, for any outcomes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.record({
            pick: fc.nat(),
            outcome: fc.constantFrom(...OUTCOMES),
            prefix: fc.nat(),
            haveBits: fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
            round: fc.boolean(),
          }),
          { maxLength: 120 },
        ),
        fc.integer(),
        (count, nProviders, maxParallel, maxRun, script, seed) => {
          const providers = Array.from({ length: nProviders }, (_, i) => `p${i}`)
          drive(count, providers, maxParallel, maxRun, script, seeded(seed))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('completes with one honest provider among liars and slow ones, whatever the order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.constantFrom<ChunkOutcome>('wrong', 'slow', 'busy', 'error', 'missing'), {
          minLength: 0,
          maxLength: 6,
        }),
        fc.integer(),
        (count, others, seed) => {
          const random = seeded(seed)
          const ids = ['honest', ...others.map((_, i) => `o${i}`)]
          const plan = new ChunkPlan(new Array(count).fill(false), { maxParallel: 3 })
          let rounds = 0
          while (!plan.complete) {
            if (plan.stuck) {
              rounds++
              assert.ok(rounds < 10 * count + 10, 'no progress')
              plan.newRound(ids)
              continue
            }
            const started: { provider: string; chunk: number; count: number }[] = []
            for (let a = plan.next(random); a !== undefined; a = plan.next(random)) started.push(a)
            assert.ok(started.length > 0 || plan.inflightCount > 0)
            for (const a of started) {
              const outcome: ChunkOutcome =
                a.provider === 'honest' ? 'done' : others[Number(a.provider.slice(1))]!
              if (outcome === 'done')
                for (let c = a.chunk; c < a.chunk + a.count; c++)
                  for (const o of plan.delivered(a.provider, c)) plan.cancelled(o)
              plan.ended(a.provider, outcome)
            }
          }
          assert.ok(!plan.isBanned('honest'))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('asks rarest first: of what a provider holds, the chunk fewest others hold', () => {
    const plan = new ChunkPlan([false, false, false], { maxParallel: 3, maxRun: 1 })
    plan.newRound(['b', 'c', 'a'])
    const next = () => plan.next(() => 0)
    assert.deepEqual(next(), { provider: 'b', chunk: 0, count: 1 })
    assert.deepEqual(next(), { provider: 'c', chunk: 1, count: 1 })
    assert.deepEqual(next(), { provider: 'a', chunk: 2, count: 1 })
    plan.ended('b', 'missing', [false, true, true])
    plan.ended('c', 'missing', [false, false, true])
    plan.ended('a', 'busy')
    // Chunk 1 is held by a and b, chunk 2 by all three: b is asked for chunk 1.
    assert.deepEqual(next(), { provider: 'b', chunk: 1, count: 1 })
    assert.deepEqual(next(), { provider: 'c', chunk: 2, count: 1 })
    assert.equal(next(), undefined)
  })

  it('a lone provider gets one run; one that named its chunks is asked only for those', () => {
    const plan = new ChunkPlan([false, false, false, false], { maxParallel: 1 })
    plan.newRound(['a'])
    const next = () => plan.next(() => 0)
    assert.deepEqual(next(), { provider: 'a', chunk: 0, count: 4 })
    plan.ended('a', 'missing', [false, true, true, false])
    assert.deepEqual(next(), { provider: 'a', chunk: 1, count: 2 })
  })

  it('a lone provider is asked for whole blocks: 100 chunks in 13 requests, for any ties', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 1 }),
        (rs) => {
          const plan = new ChunkPlan(new Array(100).fill(false), { maxParallel: 4, maxRun: 8 })
          plan.newRound(['a'])
          let k = 0
          const random = () => rs[k++ % rs.length]!
          let requests = 0
          for (let a = plan.next(random); a !== undefined; a = plan.next(random)) {
            requests++
            // Every run starts at a block edge (a multiple of 8) and stays in its block.
            assert.equal(a.chunk % 8, 0, JSON.stringify(a))
            assert.ok(a.count === 8 || a.chunk + a.count === 100, JSON.stringify(a))
            for (let c = a.chunk; c < a.chunk + a.count; c++) plan.delivered('a', c)
            plan.ended('a', 'done')
          }
          assert.ok(plan.complete)
          assert.equal(requests, 13)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('runs are shared: two free providers split what is left', () => {
    const plan = new ChunkPlan(new Array(16).fill(false), { maxParallel: 2, maxRun: 8 })
    plan.newRound(['a', 'b'])
    const first = plan.next(() => 0.5)!
    const second = plan.next(() => 0.5)!
    assert.equal(first.count, 8)
    assert.ok(second.count >= 1 && second.count <= 8)
    const taken = [...Array(first.count).keys()].map((k) => first.chunk + k)
    for (let k = 0; k < second.count; k++) assert.ok(!taken.includes(second.chunk + k))
  })
})

describe('chunk index', () => {
  const pin = { sha256: 'ab'.repeat(32), length: 3 * DEFAULT_CHUNK_BYTES + 5 }
  const index = buildChunkIndex(
    pin,
    DEFAULT_CHUNK_BYTES,
    ['01', '02', '03', '04'].map((x) => x.repeat(32)),
  )

  it('round-trips, and refuses an index of another artifact', () => {
    const bytes = encodeChunkIndex(index)
    const back = decodeChunkIndex(bytes, pin)
    assert.ok(back.ok)
    assert.deepEqual(back.value, index)
    const other = decodeChunkIndex(bytes, { ...pin, length: pin.length + 1 })
    assert.equal(other.ok, false)
  })

  it('refuses a wrong count, a bad chunk size and unknown members', () => {
    const bad = (patch: Record<string, unknown>) =>
      new TextEncoder().encode(
        JSON.stringify({
          ...JSON.parse(new TextDecoder().decode(encodeChunkIndex(index))),
          ...patch,
        }),
      )
    assert.equal(decodeChunkIndex(bad({ chunks: index.chunks.slice(1) }), pin).ok, false)
    assert.equal(decodeChunkIndex(bad({ chunkSize: 1000 }), pin).ok, false)
    assert.equal(decodeChunkIndex(bad({ extra: 1 }), pin).ok, false)
  })

  it('never throws and never accepts what it cannot re-encode, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = decodeChunkIndex(bytes, pin)
        if (r.ok) assert.deepEqual(encodeChunkIndex(r.value), bytes)
      }),
      { numRuns: 2000 },
    )
  })

  it('ranges: only chunk-aligned ranges name chunks', () => {
    assert.deepEqual(chunksOfRange(index, 0, DEFAULT_CHUNK_BYTES), { first: 0, last: 0 })
    assert.deepEqual(chunksOfRange(index, 3 * DEFAULT_CHUNK_BYTES, pin.length), {
      first: 3,
      last: 3,
    })
    assert.equal(chunksOfRange(index, 1, DEFAULT_CHUNK_BYTES), undefined)
    assert.equal(chunksOfRange(index, 0, pin.length + 1), undefined)
  })

  it('chunk sizes keep every artifact within the chunk cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 * 1024 ** 3 }), (length) => {
        assert.ok(chunkCount(length, chunkSizeFor(length)) <= MAX_CHUNKS)
      }),
    )
  })

  it('a have-bitfield round-trips for any count', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: MAX_CHUNKS }), (have) => {
        assert.deepEqual(decodeHave(encodeHave(have), have.length), have)
      }),
      { numRuns: 300 },
    )
    assert.equal(decodeHave('!!', 4), undefined)
    assert.equal(decodeHave(42, 4), undefined)
  })
})

function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 2 ** 32
  }
}
