/**
 * Seeded randomness for the simulator: nothing here reads a clock or `Math.random`.
 *
 * Two kinds, for two jobs:
 *
 * - {@link Rng}: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state),
 *   a sequential stream for draws whose order is fixed by the event order.
 * - {@link unit} / {@link hash32}: a stateless hash of (seed, entity, ...) for draws that belong
 *   to an entity, such as "does node 812's shadow run of release 2 crash?". The answer does not
 *   depend on the order events ran in, so two policies compared on one seed see the same nodes
 *   fail, the same churn and the same operators (common random numbers): their differences come
 *   from the policy, not from the dice.
 */

/** murmur3's 32-bit finalizer: a bijection on uint32 with full avalanche. */
export function mix32(h: number): number {
  let x = h >>> 0
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x >>> 0
}

/** A uint32 hash of a seed and up to four integers (each taken modulo 2^32). */
export function hash32(seed: number, a: number, b = 0, c = 0, d = 0): number {
  let h = mix32(seed ^ 0x9e3779b9)
  h = mix32(h ^ (a >>> 0))
  h = mix32((h + Math.imul(b >>> 0, 0x27d4eb2f)) >>> 0)
  h = mix32((h ^ Math.imul(c >>> 0, 0x165667b1)) >>> 0)
  h = mix32((h + Math.imul(d >>> 0, 0x61c88647)) >>> 0)
  return h
}

/** A number in (0, 1) from {@link hash32}: never exactly 0 or 1, so logs and powers are safe. */
export function unit(seed: number, a: number, b = 0, c = 0, d = 0): number {
  return (hash32(seed, a, b, c, d) + 0.5) / 4294967296
}

/** A standard normal from two units (Box-Muller). */
export function normalFrom(u1: number, u2: number): number {
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
}

/** sfc32: a small, fast, seeded generator that passes PractRand to many terabytes. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    // Spread the seed over the state with splitmix-style hashing, then discard early output.
    this.a = hash32(seed, 1)
    this.b = hash32(seed, 2)
    this.c = hash32(seed, 3)
    this.d = hash32(seed, 4) | 1
    for (let i = 0; i < 16; i++) this.next()
  }

  /** The next uint32. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** A number in (0, 1). */
  float(): number {
    return (this.next() + 0.5) / 4294967296
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }
}
