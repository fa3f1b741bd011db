/** A small FIFO of (arrival time, passing delta, failing delta). */
export class DeltaQueue {
  private items: number[] = []
  private head = 0
  get empty(): boolean {
    return this.head >= this.items.length
  }
  get headTime(): number {
    return this.head < this.items.length ? this.items[this.head]! : Number.POSITIVE_INFINITY
  }
  push(t: number, dp: number, df: number, dpp: number, dpf: number): void {
    this.items.push(t, dp, df, dpp, dpf)
  }
  /** Pops the head into `out` ([dp, df, dpp, dpf]: pass, fail, probation pass, probation fail). */
  pop(out: number[]): void {
    out[0] = this.items[this.head + 1]!
    out[1] = this.items[this.head + 2]!
    out[2] = this.items[this.head + 3]!
    out[3] = this.items[this.head + 4]!
    this.head += 5
    if (this.head > 5120 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}
