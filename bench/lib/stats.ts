/** Small statistics for benchmark samples: medians and percentiles, never means of noisy timings. */

/**
 * The median of `values` (the mean of the two middle values for an even count); NaN when empty.
 * @example median([5, 1, 3]) // 3
 */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * The p-th percentile (0..100) by linear interpolation between closest ranks; NaN when empty.
 * @example percentile([1, 2, 3, 4], 75) // 3.25
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (Math.min(Math.max(p, 0), 100) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** min, median and max of a sample set. */
export function summarize(values: readonly number[]): { min: number; median: number; max: number } {
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}
