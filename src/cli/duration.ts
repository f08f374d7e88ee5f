/**
 * Durations on the command line: `7d`, `12h`, `30m`, `45s`, `500ms`, or plain milliseconds.
 */
import { UsageError } from "../errors/base.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parse a duration flag into milliseconds.
 * @throws UsageError naming the flag and the accepted forms
 * @example parseDuration("7d", "--retention") // 604800000
 */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} "${text}" is not a duration; use e.g. 7d, 12h, 30m, 45s or 500ms`);
  const ms = Math.round(Number(m[1]) * (UNITS[m[2] ?? "ms"] ?? 1));
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`${flag} "${text}" must be longer than 0`);
  return ms;
}

/** 500 -> "500ms", 30000 -> "30s", 90000 -> "1m30s", 1500 -> "1.5s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
  const m = Math.floor(ms / 60_000);
  const rest = ms - m * 60_000;
  return rest === 0 ? `${m}m` : `${m}m${duration(rest)}`;
}
