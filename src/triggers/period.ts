/**
 * Periods written as `"15m"`, `"60s"`, `"1h"`, `"1d"`, `"500ms"`: one whole number and
 * one unit. (A regular expression is the whole grammar here; the duration libraries
 * on npm also accept "1.5 hours" or a bare number, which a schedule should refuse.)
 */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PERIOD = /^(\d{1,12})(ms|s|m|h|d)$/;

/** Shortest period a schedule or source may have. */
export const MIN_PERIOD_MS = 1000;

/** Milliseconds of a period, or a reason it is not one. */
export function parsePeriod(text: unknown): { ok: true; ms: number } | { ok: false; reason: string } {
  if (typeof text !== "string") return { ok: false, reason: "must be a string such as \"15m\"" };
  const m = PERIOD.exec(text.trim());
  if (!m) return { ok: false, reason: `"${text}" is not a period; write a whole number and a unit (ms, s, m, h, d), e.g. "15m" or "60s"` };
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  if (ms < MIN_PERIOD_MS) return { ok: false, reason: `"${text}" is shorter than 1s; use at least "1s"` };
  if (!Number.isSafeInteger(ms)) return { ok: false, reason: `"${text}" is too long` };
  return { ok: true, ms };
}
