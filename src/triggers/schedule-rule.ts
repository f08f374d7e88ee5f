/**
 * The rule of schedules, pure: which ticks a schedule has, and which of them to start
 * now given the last tick started and the catch-up policy. The coordinators' loop
 * (trigger-loop.ts) only reads the clock and the stored last tick and acts on this.
 *
 * - Cron schedules are evaluated by croner in the schedule's time zone (default UTC).
 * - `every` schedules tick at whole multiples of the period since the Unix epoch, so
 *   every coordinator computes the same ticks without agreeing on a start time.
 * - A schedule seen for the first time starts nothing for the past: its first tick is
 *   the first one after it was first served.
 * - Of the ticks in (last, now], those on time (no older than `graceMs`: a loop that
 *   woke late under load) always start. The others were missed while nobody served
 *   the schedule: `"latest"` starts the most recent of them when no tick is on time,
 *   `"all"` starts each (oldest first, at most MAX_CATCH_UP), `"skip"` drops them.
 */
import { Cron } from "croner";
import type { CatchUp, ScheduleOptions } from "../dsl/triggers.js";
import { parsePeriod } from "./period.js";

/** Most missed ticks one catch-up starts with `catchUp: "all"` (the most recent ones). */
export const MAX_CATCH_UP = 1000;
/** A tick no older than this counts as on time (for `catchUp: "skip"`). */
export const DEFAULT_GRACE_MS = 60_000;

export interface ResolvedSchedule {
  /** `name`, or `s<index>`. */
  id: string;
  catchUp: CatchUp;
  input: unknown;
  /** What it is, for people: `cron "0 2 * * *" (Europe/Berlin)` or `every 15m`. */
  describe: string;
  /** The first tick strictly after `after` (epoch ms). */
  nextAfter(after: number): number | undefined;
  /** The period of an `every` schedule (its ticks are then computed, not walked). */
  everyMs?: number;
}

/** A schedule's options made usable, or the reason they are not (for the compiler's issues). */
export function resolveSchedule(s: ScheduleOptions, index: number): { ok: true; schedule: ResolvedSchedule } | { ok: false; reason: string } {
  const id = s.name ?? `s${index}`;
  const catchUp = s.catchUp ?? "latest";
  if (!["skip", "latest", "all"].includes(catchUp)) return { ok: false, reason: `catchUp "${String(catchUp)}" is not one of "skip", "latest", "all"` };
  if ("cron" in s && "every" in s) return { ok: false, reason: "give either cron or every, not both" };
  if ("cron" in s) {
    if (typeof s.cron !== "string") return { ok: false, reason: "cron must be a string such as \"0 2 * * *\"" };
    const timezone = s.timezone ?? "UTC";
    let cron: Cron;
    try {
      cron = new Cron(s.cron, { timezone, paused: true });
      // croner checks the zone lazily: evaluate once so a bad zone is caught here.
      cron.nextRun(new Date(0));
    } catch (err) {
      return { ok: false, reason: `cron "${s.cron}"${s.timezone !== undefined ? ` in time zone "${s.timezone}"` : ""} is invalid: ${err instanceof Error ? err.message : String(err)}` };
    }
    return {
      ok: true,
      schedule: {
        id,
        catchUp,
        input: s.input,
        describe: `cron "${s.cron}" (${timezone})`,
        nextAfter: (after) => cron.nextRun(new Date(after))?.getTime(),
      },
    };
  }
  if (!("every" in s)) return { ok: false, reason: "a schedule needs cron (e.g. \"0 2 * * *\") or every (e.g. \"15m\")" };
  const period = parsePeriod(s.every);
  if (!period.ok) return { ok: false, reason: `every ${period.reason}` };
  const ms = period.ms;
  return { ok: true, schedule: { id, catchUp, input: s.input, describe: `every ${s.every}`, everyMs: ms, nextAfter: (after) => (Math.floor(after / ms) + 1) * ms } };
}

export interface DueTicks {
  /** Ticks to start a run for now, oldest first. */
  start: number[];
  /** What to store as the last tick handled. */
  last: number;
  /** The next tick after `now`, if the schedule has one. */
  next: number | undefined;
}

/**
 * Which ticks to start at `now`.
 * @example
 * dueTicks(schedule, lastTick, Date.now()) // { start: [t], last: t, next }
 */
export function dueTicks(s: ResolvedSchedule, last: number | undefined, now: number, graceMs = DEFAULT_GRACE_MS): DueTicks {
  const next = s.nextAfter(now);
  if (last === undefined || last >= now) return { start: [], last: last ?? now, next };
  // The ticks in (last, now], keeping only the most recent MAX_CATCH_UP.
  const ticks: number[] = [];
  // An `every` schedule's ticks are arithmetic: walk only the last MAX_CATCH_UP periods.
  const from = s.everyMs !== undefined ? Math.max(last, now - (MAX_CATCH_UP + 1) * s.everyMs) : last;
  for (let t = s.nextAfter(from); t !== undefined && t <= now; t = s.nextAfter(t)) {
    ticks.push(t);
    if (ticks.length > MAX_CATCH_UP) ticks.shift();
  }
  const latest = ticks.at(-1);
  if (latest === undefined) return { start: [], last, next };
  // On time: no older than the grace (a loop that woke late under load still starts them all).
  const onTime = ticks.filter((t) => now - t <= graceMs);
  const start = s.catchUp === "all" ? ticks : s.catchUp === "latest" && onTime.length === 0 ? [latest] : onTime;
  return { start, last: latest, next };
}

/** `20260101T020000Z`: a tick in run ids and keys. */
export function tickStamp(tick: number): string {
  return new Date(tick).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}
