/** The pure rule of schedules: ticks, first sight, and each catch-up policy. */
import { describe, expect, it } from "vitest";
import type { ScheduleOptions } from "../../src/dsl/triggers.js";
import { parsePeriod } from "../../src/triggers/period.js";
import { dueTicks, MAX_CATCH_UP, resolveSchedule, tickStamp, type ResolvedSchedule } from "../../src/triggers/schedule-rule.js";

const T = Date.parse("2026-03-10T00:00:00Z");
const MIN = 60_000;

function schedule(s: ScheduleOptions): ResolvedSchedule {
  const r = resolveSchedule(s, 0);
  if (!r.ok) throw new Error(r.reason);
  return r.schedule;
}

describe("triggers - schedule rule", () => {
  it("triggers - every ticks at multiples of the period since the epoch", () => {
    const s = schedule({ every: "15m" });
    expect(s.nextAfter(T + 1)).toBe(T + 15 * MIN);
    expect(s.nextAfter(T + 15 * MIN)).toBe(T + 30 * MIN);
  });

  it("triggers - cron ticks are read in the schedule's time zone", () => {
    const utc = schedule({ cron: "0 2 * * *" });
    const berlin = schedule({ cron: "0 2 * * *", timezone: "Europe/Berlin" });
    expect(new Date(utc.nextAfter(T)!).toISOString()).toBe("2026-03-10T02:00:00.000Z");
    expect(new Date(berlin.nextAfter(T)!).toISOString()).toBe("2026-03-10T01:00:00.000Z"); // CET = UTC+1 in March before DST
    expect(berlin.describe).toBe('cron "0 2 * * *" (Europe/Berlin)');
  });

  it("triggers - a schedule seen for the first time starts nothing for the past", () => {
    const d = dueTicks(schedule({ every: "1m" }), undefined, T + 30_000);
    expect(d.start).toEqual([]);
    expect(d.last).toBe(T + 30_000);
    expect(d.next).toBe(T + MIN);
  });

  it("triggers - an on-time tick starts one run under every policy", () => {
    for (const catchUp of ["skip", "latest", "all"] as const) {
      const d = dueTicks(schedule({ every: "1m", catchUp }), T, T + MIN + 5);
      expect(d.start, catchUp).toEqual([T + MIN]);
      expect(d.last).toBe(T + MIN);
      expect(d.next).toBe(T + 2 * MIN);
    }
  });

  it("triggers - missed ticks: latest starts the most recent, all each one oldest first, skip none", () => {
    const now = T + 10 * MIN + 30_000; // ten ticks missed, the last 30 s ago: late for a 10 s grace
    const grace = 10_000;
    expect(dueTicks(schedule({ every: "1m", catchUp: "latest" }), T, now, grace).start).toEqual([T + 10 * MIN]);
    expect(dueTicks(schedule({ every: "1m", catchUp: "all" }), T, now, grace).start).toEqual(Array.from({ length: 10 }, (_, i) => T + (i + 1) * MIN));
    const skipped = dueTicks(schedule({ every: "1m", catchUp: "skip" }), T, now, grace);
    expect(skipped.start).toEqual([]);
    expect(skipped.last).toBe(T + 10 * MIN); // dropped for good: not offered again
  });

  it("triggers - default catch-up is latest, and all keeps at most the newest MAX_CATCH_UP ticks", () => {
    expect(schedule({ every: "1m" }).catchUp).toBe("latest");
    const d = dueTicks(schedule({ every: "1s", catchUp: "all" }), T, T + 5000 * 1000);
    expect(d.start).toHaveLength(MAX_CATCH_UP);
    expect(d.start.at(-1)).toBe(T + 5000 * 1000);
  });

  it("triggers - cron catch-up walks the missed cron ticks", () => {
    const s = schedule({ cron: "0 * * * *", catchUp: "all" }); // hourly
    const d = dueTicks(s, T, T + 3 * 60 * MIN + 1);
    expect(d.start.map(tickStamp)).toEqual(["20260310T010000Z", "20260310T020000Z", "20260310T030000Z"]);
  });

  it("triggers - bad cron, time zone and period are refused with the reason", () => {
    const bad = (s: ScheduleOptions): string => {
      const r = resolveSchedule(s, 0);
      return r.ok ? "" : r.reason;
    };
    expect(bad({ cron: "61 * * * *" })).toMatch(/minute/);
    expect(bad({ cron: "0 2 * * *", timezone: "Mars/Olympus" })).toMatch(/Mars\/Olympus/);
    expect(bad({ every: "1.5h" })).toMatch(/whole number and a unit/);
    expect(bad({ every: "10ms" })).toMatch(/at least "1s"/);
    expect(parsePeriod("60s")).toEqual({ ok: true, ms: 60_000 });
  });
});
