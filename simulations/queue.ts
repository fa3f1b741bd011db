/**
 * The simulator's event queue: a binary min-heap ordered by (time, insertion number).
 *
 * Equal times pop in the order they were pushed, so a run is a pure function of its inputs.
 * Times are whole milliseconds.
 * Events are four numbers (time, kind, node, arg) kept in typed arrays, not objects: at a
 * million nodes the queue holds millions of events, and objects would cost the garbage
 * collector more than the simulation itself.
 */

/** One popped event. The queue reuses this object: read it before the next pop. */
export interface PoppedEvent {
  /** Virtual time, ms. */
  time: number
  kind: number
  node: number
  arg: number
}

/** Min-heap of events; see the module comment. */
export class EventQueue {
  private times: Float64Array
  private seqs: Float64Array
  private kinds: Uint8Array
  private nodes: Int32Array
  private args: Int32Array
  /** heap[i] is a slot index into the arrays above. */
  private heap: Int32Array
  private free: Int32Array
  private freeCount = 0
  private used = 0
  private count = 0
  private seq = 0
  /** Events pushed so far. */
  pushed = 0
  private readonly out: PoppedEvent = { time: 0, kind: 0, node: 0, arg: 0 }

  constructor(capacity = 1024) {
    const n = Math.max(16, capacity)
    this.times = new Float64Array(n)
    this.seqs = new Float64Array(n)
    this.kinds = new Uint8Array(n)
    this.nodes = new Int32Array(n)
    this.args = new Int32Array(n)
    this.heap = new Int32Array(n)
    this.free = new Int32Array(n)
  }

  /** Events waiting. */
  get size(): number {
    return this.count
  }

  private grow(): void {
    const n = this.times.length * 2
    const g = <T extends Float64Array | Uint8Array | Int32Array>(
      a: T,
      make: (n: number) => T,
    ): T => {
      const b = make(n)
      b.set(a)
      return b
    }
    this.times = g(this.times, (k) => new Float64Array(k))
    this.seqs = g(this.seqs, (k) => new Float64Array(k))
    this.kinds = g(this.kinds, (k) => new Uint8Array(k))
    this.nodes = g(this.nodes, (k) => new Int32Array(k))
    this.args = g(this.args, (k) => new Int32Array(k))
    this.heap = g(this.heap, (k) => new Int32Array(k))
    this.free = g(this.free, (k) => new Int32Array(k))
  }

  /**
   * Adds an event at `time` (ms), rounded up to a whole millisecond: virtual time moves in the
   * steps of `Date.now()`, the clock a real node feeds its machine.
   */
  push(at: number, kind: number, node: number, arg: number): void {
    const time = Math.ceil(at)
    let slot: number
    if (this.freeCount > 0) slot = this.free[--this.freeCount]!
    else {
      if (this.used === this.times.length) this.grow()
      slot = this.used++
    }
    this.times[slot] = time
    this.seqs[slot] = this.seq++
    this.kinds[slot] = kind
    this.nodes[slot] = node
    this.args[slot] = arg
    this.pushed++
    // Sift up.
    const heap = this.heap
    const times = this.times
    const seqs = this.seqs
    let i = this.count++
    while (i > 0) {
      const p = (i - 1) >> 1
      const ps = heap[p]!
      const pt = times[ps]!
      if (pt < time || (pt === time && seqs[ps]! < seqs[slot]!)) break
      heap[i] = ps
      i = p
    }
    heap[i] = slot
  }

  /** Time of the next event, or Infinity when empty. */
  peekTime(): number {
    return this.count === 0 ? Number.POSITIVE_INFINITY : this.times[this.heap[0]!]!
  }

  /** Removes and returns the earliest event, or undefined when empty. */
  pop(): PoppedEvent | undefined {
    if (this.count === 0) return undefined
    const heap = this.heap
    const times = this.times
    const seqs = this.seqs
    const top = heap[0]!
    const out = this.out
    out.time = times[top]!
    out.kind = this.kinds[top]!
    out.node = this.nodes[top]!
    out.arg = this.args[top]!
    this.free[this.freeCount++] = top
    const n = --this.count
    if (n > 0) {
      const last = heap[n]!
      const lt = times[last]!
      const ls = seqs[last]!
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        let c = l
        let cs = heap[l]!
        const r = l + 1
        if (r < n) {
          const rs = heap[r]!
          const rt = times[rs]!
          const lt2 = times[cs]!
          if (rt < lt2 || (rt === lt2 && seqs[rs]! < seqs[cs]!)) {
            c = r
            cs = rs
          }
        }
        const ct = times[cs]!
        if (lt < ct || (lt === ct && ls < seqs[cs]!)) break
        heap[i] = cs
        i = c
      }
      heap[i] = last
    }
    return out
  }
}
