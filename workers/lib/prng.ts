/**
 * Deterministic randomness for the example executors: the same seed gives the same
 * data on every worker, every retry and every machine, so a run's output can be
 * computed independently in a test. mulberry32 is a tiny 32-bit generator with
 * good enough statistics for test data and small Monte Carlo studies.
 */

/** A source of floats in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32 seeded with a 32-bit integer.
 * @example const rng = mulberry32(7); rng(); // 0.0812... (always the same)
 */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * FNV-1a 32-bit hash of a string: a stable, well-spread unsigned integer.
 * @example fnv1a("item-1") // 3 925 ... (always the same)
 */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A child seed for `label` under `seed`, so every task of a grid gets its own stream.
 * @example deriveSeed(7, "run-plain-n1000-r1")
 */
export function deriveSeed(seed: number, label: string): number {
  return fnv1a(`${seed >>> 0}:${label}`);
}

/** An integer in [lo, hi] inclusive. */
export function intBetween(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** One element of a non-empty array. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}
