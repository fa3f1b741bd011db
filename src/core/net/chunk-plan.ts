/**
 * Which chunk to ask which provider for: the schedule of a chunked fetch (core/net/chunks.ts).
 *
 * The rules, each a safety property proved in test/core/chunk-plan.test.ts for any order of
 * events:
 * - a provider that sent a chunk whose hash was wrong is banned for the rest of the fetch, and
 *   nothing is ever asked of it again (a chunk convicts exactly its sender);
 * - at most one request per provider at a time (a server grants one upload slot per peer), and
 *   at most `maxParallel` in all; a request asks for a run of up to `maxRun` consecutive chunks
 *   (each new stream costs a round trip or two, so one chunk per request would starve a lone
 *   provider), shortened so that the providers free now share what is left;
 * - a held chunk is never asked for again; a chunk is in flight from at most two providers, and
 *   from two only in the endgame (nothing left that is not already in flight, and no more chunks
 *   missing than requests may run), so one slow provider cannot hold up the last chunks; when
 *   one copy lands, only a request with nothing else left to bring is cut;
 * - rarest first: of the chunks a provider may have, the one the fewest known providers have,
 *   ties broken by the random number passed in, so partial holders spread different chunks;
 * - a provider that answered busy, failed or was slow rests until the next round; a slow one
 *   is asked only when no provider that has not been slow is free; one that named the chunks it
 *   has is asked only for those.
 *
 * Pure: the adapter reports events and asks for the next assignment.
 */

/** How one chunk request ended, as the adapter saw it. */
export type ChunkOutcome = 'done' | 'wrong' | 'slow' | 'busy' | 'error' | 'missing'

/** One request to start: chunks `chunk` to `chunk + count - 1` from provider `provider`. */
export interface ChunkAssignment {
  provider: string
  chunk: number
  count: number
}

/** Options of a {@link ChunkPlan}. @default maxParallel 4, maxRun 8 */
export interface ChunkPlanLimits {
  /** Requests in flight at most, over all providers. */
  maxParallel: number
  /** Consecutive chunks one request asks for at most. */
  maxRun?: number
}

/** Chunk requests in flight at most by default. */
export const DEFAULT_CHUNK_PARALLEL = 4
/** Consecutive chunks one request asks for at most, by default (8 MiB at 1 MiB chunks). */
export const DEFAULT_CHUNK_RUN = 8

interface ProviderState {
  banned: boolean
  /** Resting until the next round (busy, failed, slow, or had none of what is missing). */
  resting: boolean
  /** Times cut as slow. */
  slow: number
  /** The chunks in flight from it (its one request's run), if any. */
  inflight: number[] | undefined
  /** What it said it holds; undefined: not said (a provider record claims the whole artifact). */
  have: boolean[] | undefined
}

/** The schedule of one chunked fetch. */
export class ChunkPlan {
  private readonly have: boolean[]
  private readonly inflight: Map<number, Set<string>> = new Map()
  private readonly providers: Map<string, ProviderState> = new Map()
  private readonly limits: ChunkPlanLimits
  private held: number

  /** `held[i]` is true for chunks already on disk (resumed, or copied from a local artifact). */
  constructor(
    held: readonly boolean[],
    limits: ChunkPlanLimits = { maxParallel: DEFAULT_CHUNK_PARALLEL },
  ) {
    if (!Number.isSafeInteger(limits.maxParallel) || limits.maxParallel < 1)
      throw new RangeError(`maxParallel must be a positive integer, got ${limits.maxParallel}`)
    this.have = [...held]
    this.held = this.have.filter(Boolean).length
    this.limits = limits
  }

  /** Chunks in all. */
  get count(): number {
    return this.have.length
  }

  /** Chunks held. */
  get heldCount(): number {
    return this.held
  }

  /** True once every chunk is held. */
  get complete(): boolean {
    return this.held === this.have.length
  }

  /** Requests in flight. */
  get inflightCount(): number {
    let n = 0
    for (const p of this.providers.values()) if (p.inflight !== undefined) n++
    return n
  }

  /** Whether chunk `i` is held. */
  holds(i: number): boolean {
    return this.have[i] === true
  }

  /** A copy of which chunks are held. */
  heldChunks(): boolean[] {
    return [...this.have]
  }

  /** Providers known and not banned. */
  get usableProviders(): number {
    let n = 0
    for (const p of this.providers.values()) if (!p.banned) n++
    return n
  }

  /** True when `provider` was banned. */
  isBanned(provider: string): boolean {
    return this.providers.get(provider)?.banned === true
  }

  /**
   * A new round: `found` are the providers known now (new ones are added, none is forgotten),
   * and every provider that rested may be asked again; what they said they hold is forgotten,
   * since a partial holder holds more as time goes by. Bans stay.
   */
  newRound(found: readonly string[]): void {
    for (const id of found) {
      if (!this.providers.has(id))
        this.providers.set(id, {
          banned: false,
          resting: false,
          slow: 0,
          inflight: undefined,
          have: undefined,
        })
    }
    for (const p of this.providers.values()) {
      p.resting = false
      p.have = undefined
    }
  }

  /** Nothing can be started and nothing is in flight: the caller should look for providers. */
  get stuck(): boolean {
    return !this.complete && this.inflightCount === 0 && this.peek(() => 0) === undefined
  }

  /**
   * The next request to start, or undefined when none may start now. Marks it in flight.
   * `random` returns numbers in [0, 1) (ties between equally rare chunks).
   */
  next(random: () => number): ChunkAssignment | undefined {
    const a = this.peek(random)
    if (a === undefined) return undefined
    const run = Array.from({ length: a.count }, (_, k) => a.chunk + k)
    this.providers.get(a.provider)!.inflight = run
    for (const c of run) {
      let set = this.inflight.get(c)
      if (set === undefined) {
        set = new Set()
        this.inflight.set(c, set)
      }
      set.add(a.provider)
    }
    return a
  }

  private peek(random: () => number): ChunkAssignment | undefined {
    if (this.complete || this.inflightCount >= this.limits.maxParallel) return undefined
    const free = [...this.providers.entries()].filter(
      ([, p]) => !p.banned && !p.resting && p.inflight === undefined,
    )
    if (free.length === 0) return undefined
    // Providers that have not been slow first; among equals, the order they were found in.
    const minSlow = Math.min(...free.map(([, p]) => p.slow))
    const order = free.filter(([, p]) => p.slow === minSlow)
    const rarity = this.rarity()
    for (const [id, p] of order) {
      const picked = this.pick(p, rarity, random, false)
      if (picked !== undefined) {
        const chunk = this.blockStart(p, picked, rarity)
        return { provider: id, chunk, count: this.runFrom(p, chunk, free.length) }
      }
      const late = this.pick(p, rarity, random, true)
      if (late !== undefined) return { provider: id, chunk: late, count: 1 }
    }
    return undefined
  }

  /**
   * Where the run that takes `chunk` starts: the first chunk of `chunk`'s block of `maxRun`
   * (blocks aligned at multiples of `maxRun`) that is as rare, missing, not in flight and one
   * `p` may have, with none in between that is not. Random picks stay random across blocks, so
   * fetchers still spread over the file, but runs start at block edges and do not cut the file
   * into holes of a chunk or two, each a request of its own (a lone provider's fetch ran at a
   * third of a whole-file fetch that way).
   */
  private blockStart(p: ProviderState, chunk: number, rarity: number[]): number {
    const run = this.limits.maxRun ?? DEFAULT_CHUNK_RUN
    let start = chunk
    for (let i = chunk - 1; i >= chunk - (chunk % run); i--) {
      if (this.have[i] || (this.inflight.get(i)?.size ?? 0) !== 0) break
      if (p.have !== undefined && p.have[i] !== true) break
      if (rarity[i] !== rarity[chunk]) break
      start = i
    }
    return start
  }

  /**
   * How many consecutive chunks from `start` to ask `p` for: missing, not in flight, ones `p`
   * may have, at most `maxRun`, and at most an even share of what is left among `sharing`.
   */
  private runFrom(p: ProviderState, start: number, sharing: number): number {
    let open = 0
    for (let i = 0; i < this.have.length; i++)
      if (!this.have[i] && (this.inflight.get(i)?.size ?? 0) === 0) open++
    const cap = Math.max(
      1,
      Math.min(this.limits.maxRun ?? DEFAULT_CHUNK_RUN, Math.floor(open / Math.max(1, sharing))),
    )
    let n = 1
    while (n < cap) {
      const i = start + n
      if (i >= this.have.length || this.have[i]) break
      if ((this.inflight.get(i)?.size ?? 0) !== 0) break
      if (p.have !== undefined && p.have[i] !== true) break
      n++
    }
    return n
  }

  /** How many known, unbanned providers may have each chunk. */
  private rarity(): number[] {
    const r = new Array<number>(this.have.length).fill(0)
    for (const p of this.providers.values()) {
      if (p.banned) continue
      for (let i = 0; i < r.length; i++) if (p.have === undefined || p.have[i] === true) r[i]!++
    }
    return r
  }

  /** The rarest chunk `p` may have that is missing and (unless `endgame`) not in flight. */
  private pick(
    p: ProviderState,
    rarity: number[],
    random: () => number,
    endgame: boolean,
  ): number | undefined {
    if (endgame) {
      // Only once nothing is left that is not in flight already, and few chunks are missing:
      // a second copy of a chunk is the price of not waiting on one slow provider at the end.
      if (this.have.length - this.held > this.limits.maxParallel) return undefined
      for (let i = 0; i < this.have.length; i++)
        if (!this.have[i] && (this.inflight.get(i)?.size ?? 0) === 0) return undefined
    }
    let best: number | undefined
    let bestRarity = Number.POSITIVE_INFINITY
    let bestTie = 0
    for (let i = 0; i < this.have.length; i++) {
      if (this.have[i]) continue
      if (p.have !== undefined && p.have[i] !== true) continue
      const flying = this.inflight.get(i)?.size ?? 0
      if (endgame ? flying !== 1 : flying !== 0) continue
      const tie = random()
      if (rarity[i]! < bestRarity || (rarity[i] === bestRarity && tie < bestTie)) {
        best = i
        bestRarity = rarity[i]!
        bestTie = tie
      }
    }
    return best
  }

  /**
   * Chunk `chunk` of `provider`'s run arrived and was verified (it is on disk). Returns the
   * providers whose request for the same chunk is now pointless (an endgame copy): the caller
   * cuts them, and reports them with {@link cancelled}.
   */
  delivered(provider: string, chunk: number): string[] {
    const p = this.providers.get(provider)
    if (p?.inflight === undefined || !p.inflight.includes(chunk)) return []
    this.release(provider, [chunk])
    p.inflight = p.inflight.filter((c) => c !== chunk)
    if (!this.have[chunk]) {
      this.have[chunk] = true
      this.held++
    }
    // Cut only requests that had nothing else left to bring: a run with other chunks to come
    // keeps going (the copy of this one is dropped as it lands).
    return [...(this.inflight.get(chunk) ?? [])].filter((other) => {
      const left = this.providers.get(other)?.inflight
      return left?.every((c) => c === chunk || this.have[c]) === true
    })
  }

  /**
   * `provider`'s request ended: the chunks of its run not delivered go back to missing, and the
   * outcome is held against it. `have` is what the provider said it holds, when it answered
   * "missing". An outcome of "done" with chunks undelivered counts as a failure.
   */
  ended(provider: string, outcome: ChunkOutcome, have?: boolean[]): void {
    const p = this.providers.get(provider)
    if (p?.inflight === undefined) return
    const left = p.inflight
    this.release(provider, left)
    p.inflight = undefined
    const kind = outcome === 'done' && left.length > 0 ? 'error' : outcome
    switch (kind) {
      case 'done':
        return
      case 'wrong':
        p.banned = true
        return
      case 'slow':
        p.slow++
        p.resting = true
        return
      case 'missing': {
        // A provider that refuses a run it said it held is not asked again this round (a
        // liar cannot keep this node asking); otherwise its bitfield says what to ask for.
        const claimed = p.have !== undefined && left.every((c) => p.have![c] === true)
        if (have !== undefined && have.length === this.have.length && !claimed) p.have = [...have]
        else p.resting = true
        return
      }
      default:
        p.resting = true
    }
  }

  /** `provider`'s request was cut because others delivered its chunks first: no penalty. */
  cancelled(provider: string): void {
    const p = this.providers.get(provider)
    if (p?.inflight === undefined) return
    this.release(provider, p.inflight)
    p.inflight = undefined
  }

  private release(provider: string, chunks: readonly number[]): void {
    for (const c of chunks) {
      const set = this.inflight.get(c)
      set?.delete(provider)
      if (set?.size === 0) this.inflight.delete(c)
    }
  }
}
