/** A seeded PRNG (mulberry32) so every bench generates the same input on every run. */

/**
 * A generator of floats in [0, 1), fully determined by `seed`.
 * @example const rnd = createPrng(42); rnd(); // 0.6011037519201636
 */
export function createPrng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n) from a PRNG. */
export function randomInt(rnd: () => number, n: number): number {
  return Math.floor(rnd() * n);
}
