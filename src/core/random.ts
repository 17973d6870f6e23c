/** Seeded randomness for the pure parts and the simulator. Only src/cli
 *  seeds one from the operating system; tests and the simulator use a seed. */

export interface Random {
  /** A uniformly distributed integer in 0..2^32-1. */
  nextUint32(): number;
}

/**
 * xoshiro128** — small, fast and statistically sound for simulation (not for
 * secrets). Guarantees: the same seed yields the same sequence on every platform.
 */
export class SeededRandom implements Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    // splitmix32 spreads one 32-bit seed over the four words of state.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result;
  }

  /** An integer in 0..bound-1 (bound ≤ 2^32). */
  below(bound: number): number {
    return Math.floor((this.nextUint32() / 4294967296) * bound);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
