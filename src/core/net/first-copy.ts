/**
 * Which bytes of an artifact a seeder has delivered at least once, in blocks of
 * {@link FIRST_COPY_BLOCK}: the first copy a budgeted seeder owes the swarm.
 *
 * Why: a seeder with an upload budget (a publisher seeding a copy or two, then leaving) that
 * serves chunks in whatever order they are asked for can spend its budget on chunks the swarm
 * already holds, while a chunk nobody has ever been sent stays with the seeder alone: every
 * fetcher then waits for it for ever (seen in bench:net: 30 nodes at 18 of 20 chunks, the
 * publisher's budget spent). So the upload ledger (uploads.ts) keeps room in the budget for the
 * bytes never delivered: a range is admitted only if, after it, the budget still covers every
 * byte not yet delivered outside it. With a budget of at least one copy, every byte leaves the
 * seeder at least once.
 *
 * Pure.
 */

/** Granularity of the record: the smallest chunk an index may use (core/net/chunks.ts). */
export const FIRST_COPY_BLOCK: number = 64 * 1024

/** Delivered-at-least-once bytes of one artifact. */
export class FirstCopy {
  readonly length: number
  private readonly done: Uint8Array
  private undelivered: number

  constructor(length: number) {
    this.length = length
    this.done = new Uint8Array(Math.ceil(length / FIRST_COPY_BLOCK))
    this.undelivered = length
  }

  /** Bytes never delivered. */
  get undeliveredBytes(): number {
    return this.undelivered
  }

  /** Bytes never delivered outside `[start, end)`. */
  undeliveredOutside(start: number, end: number): number {
    let inside = 0
    for (let b = Math.floor(start / FIRST_COPY_BLOCK); b * FIRST_COPY_BLOCK < end; b++) {
      if (b >= this.done.length || this.done[b] === 1) continue
      const from = Math.max(start, b * FIRST_COPY_BLOCK)
      const to = Math.min(end, this.length, (b + 1) * FIRST_COPY_BLOCK)
      // Only whole blocks count as inside: a partial block is still owed.
      if (from === b * FIRST_COPY_BLOCK && to === Math.min(this.length, (b + 1) * FIRST_COPY_BLOCK))
        inside += to - from
    }
    return this.undelivered - inside
  }

  /** `[start, end)` reached a requester: the whole blocks in it are delivered. */
  mark(start: number, end: number): void {
    for (let b = Math.ceil(start / FIRST_COPY_BLOCK); b < this.done.length; b++) {
      const to = Math.min(this.length, (b + 1) * FIRST_COPY_BLOCK)
      if (to > end) break
      if (this.done[b] === 1) continue
      this.done[b] = 1
      this.undelivered -= to - b * FIRST_COPY_BLOCK
    }
  }
}
