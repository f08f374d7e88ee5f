/**
 * How a waiting node reads on a terminal and in logs: `waiting for signal "approve"`,
 * `sleeping until 14:05`. Times are the viewer's local wall clock (HH:MM, with the date
 * when it is not today), since that is what a person watching a run compares them with.
 */
import type { Wait } from "../transport/messages.js";

const pad = (n: number): string => String(n).padStart(2, "0");

/** `14:05`, or `2026-12-02 14:05` when `at` is not on the same local day as `now`. */
export function clockTime(at: number, now = Date.now()): string {
  const d = new Date(at);
  const today = new Date(now);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const sameDay = d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate();
  return sameDay ? hm : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

/**
 * @example describeWait({ kind: "sleep", until }) // "sleeping until 14:05"
 * @example describeWait({ kind: "signal", name: "approve", deadline: null }) // 'waiting for signal "approve"'
 */
export function describeWait(wait: Wait, now = Date.now()): string {
  if (wait.kind === "sleep") return `sleeping until ${clockTime(wait.until, now)}`;
  const limit = wait.deadline === null ? "" : ` (times out at ${clockTime(wait.deadline, now)})`;
  return `waiting for signal "${wait.name}"${limit}`;
}
