/**
 * How a waiting node reads on a terminal and in logs: `waiting for signal "approve"`,
 * `sleeping until 14:05`. Times are the viewer's local wall clock (HH:MM, with the date
 * when it is not today), since that is what a person watching a run compares them with.
 */
import type { PlanTask } from "../plan/schema.js";
import type { Wait } from "../transport/messages.js";
import { duration } from "./duration.js";

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
  if (wait.kind === "child") return `waiting for child run ${wait.runId} (${wait.workflow}${wait.version === null ? "" : `@${wait.version}`})`;
  const limit = wait.deadline === null ? "" : ` (times out at ${clockTime(wait.deadline, now)})`;
  return `waiting for signal "${wait.name}"${limit}`;
}

/** Whole days and hours read as such (waits are long): 86400000 -> "1d", 7200000 -> "2h". */
function longDuration(ms: number): string {
  if (ms >= 86_400_000 && ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return duration(ms);
}

/** What a wait node shows where a task shows its executor: `signal verdict`, `sleep 1m`, `sleep until(...)`; undefined for a task. */
export function waitNodeLabel(t: PlanTask): string | undefined {
  const w = t.wait;
  if (!w) return undefined;
  if (w.kind === "signal") return `signal ${w.signal}`;
  if (w.kind === "child") return `child ${w.workflow}${w.version === null ? "" : `@${w.version}`}`;
  return w.ms !== null ? `sleep ${longDuration(w.ms)}` : "sleep until(input)";
}

/** Settings of a wait node for the compile listing: its signal timeout and what a timeout does. */
export function waitNodeSettings(t: PlanTask): string[] {
  const w = t.wait;
  if (w?.kind !== "signal" || w.timeoutMs === null) return [];
  return [`times out after ${longDuration(w.timeoutMs)}${w.onTimeout ? ` -> ${JSON.stringify(w.onTimeout.output)}` : " (SIGNAL_TIMEOUT)"}`];
}
