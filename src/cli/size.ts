/**
 * Sizes on the command line: `64MB`, `512KB`, `1GB`, `0`, or plain bytes (binary units:
 * 1KB = 1024 bytes).
 */
import { UsageError } from "../errors/base.js";

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/**
 * Parse a size flag into bytes.
 * @throws UsageError naming the flag and the accepted forms
 * @example parseSize("64MB", "--keep-finished-bytes") // 67108864
 */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${flag} "${text}" is not a size; use e.g. 64MB, 512KB, 1GB, 0 or a number of bytes`);
  return Math.round(Number(m[1]) * (UNITS[(m[2] ?? "b").toLowerCase()] ?? 1));
}
