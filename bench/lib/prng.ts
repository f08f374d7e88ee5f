/** A seeded PRNG so every bench generates the same input on every run: the examples' mulberry32. */
import { mulberry32 } from "../../workers/lib/prng.js";

/**
 * A generator of floats in [0, 1), fully determined by `seed`.
 * @example const rnd = createPrng(42); rnd(); // 0.6011037519201636
 */
export const createPrng: (seed: number) => () => number = mulberry32;

/** An integer in [0, n) from a PRNG. */
export function randomInt(rnd: () => number, n: number): number {
  return Math.floor(rnd() * n);
}
