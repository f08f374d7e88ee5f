/**
 * The limits bookkeeping (runtime/core/limits-table.ts) under random traffic: arrivals with
 * random limits and priorities, completions, cancellations, holders that crash (stop
 * renewing) and time passing (leases lapse, rate windows slide). Checked against a model
 * kept by the test itself, after every step: no concurrency limit ever has more holders in
 * force than its limit, no rate window ever more starts, and no waiter is left behind
 * room in every one of its limits.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { LimitsTable } from "../../src/runtime/core/limits-table.js";
import { limitId, type LimitRef } from "../../src/runtime/core/limit-state.js";

const LEASE = 1_000;
const LIMITS: LimitRef[] = [
  { kind: "concurrency", scope: "llm/complete", key: "acme", limit: 2 },
  { kind: "concurrency", scope: "llm/complete", key: "zeta", limit: 1 },
  { kind: "concurrency", scope: "db/write", key: "", limit: 3 },
  { kind: "rate", scope: "llm/complete", key: "acme", limit: 3, periodMs: 500 },
  { kind: "rate", scope: "mail/send", key: "", limit: 1, periodMs: 300 },
];

type Op =
  | { op: "arrive"; limits: number[]; priority: number }
  | { op: "complete"; pick: number }
  | { op: "cancel"; pick: number }
  | { op: "crash"; pick: number }
  | { op: "tick"; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("arrive" as const), limits: fc.uniqueArray(fc.integer({ min: 0, max: LIMITS.length - 1 }), { minLength: 1, maxLength: 3 }), priority: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("complete" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancel" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("crash" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: LEASE - 1 }) }) },
);

describe("limits table - property", () => {
  test("limits table - random arrivals, completions, crashes and lease expiries never exceed a limit nor leave a waiter behind room", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
        const table = new LimitsTable(LEASE);
        let now = 1_000_000;
        let next = 0;
        const limitsOf = new Map<string, LimitRef[]>();
        // The model: who holds (alive or crashed until its lease lapses, with that lease), who waits, every start.
        const holding = new Map<string, { refs: LimitRef[]; until: number; crashed: boolean }>();
        const waiting = new Set<string>();
        const starts = new Map<string, number[]>();
        const started = (h: string): void => {
          const refs = limitsOf.get(h)!;
          waiting.delete(h);
          holding.set(h, { refs, until: now + LEASE, crashed: false });
          for (const r of refs) if (r.kind === "rate") starts.set(limitId(r), [...(starts.get(limitId(r)) ?? []), now]);
        };
        const inForce = (id: string): number => [...holding.values()].filter((x) => x.until > now && x.refs.some((r) => r.kind === "concurrency" && limitId(r) === id)).length;
        const inWindow = (r: LimitRef & { kind: "rate" }): number => (starts.get(limitId(r)) ?? []).filter((t) => t > now - r.periodMs).length;
        const pump = (): void => {
          for (const w of table.grant(now)) {
            expect(waiting.has(w.holder)).toBe(true);
            started(w.holder);
          }
        };
        const check = (): void => {
          for (const r of LIMITS) {
            if (r.kind === "concurrency") {
              expect(inForce(limitId(r))).toBeLessThanOrEqual(r.limit);
              expect(table.used(r, now)).toBe(inForce(limitId(r)));
            } else {
              // Every window ending at a start holds at most `limit` starts.
              const ts = starts.get(limitId(r)) ?? [];
              for (const t of ts) expect(ts.filter((u) => u > t - r.periodMs && u <= t).length).toBeLessThanOrEqual(r.limit);
            }
          }
          for (const h of waiting) {
            const room = limitsOf.get(h)!.every((r) => (r.kind === "concurrency" ? inForce(limitId(r)) < r.limit : inWindow(r) < r.limit));
            expect(room, `waiter ${h} left behind room`).toBe(false);
          }
        };
        const pick = (set: Iterable<string>, i: number): string | undefined => {
          const all = [...set];
          return all.length === 0 ? undefined : all[i % all.length];
        };
        for (const o of ops) {
          switch (o.op) {
            case "arrive": {
              const h = `a${next++}`;
              const refs = o.limits.map((i) => LIMITS[i]!);
              limitsOf.set(h, refs);
              waiting.add(h);
              if (table.request({ holder: h, limits: refs, priority: o.priority, since: now }, now)) started(h);
              break;
            }
            case "complete": {
              const h = pick([...holding].filter(([, x]) => !x.crashed).map(([k]) => k), o.pick);
              if (h === undefined) break;
              table.release(h);
              holding.delete(h);
              break;
            }
            case "cancel": {
              const h = pick(waiting, o.pick);
              if (h === undefined) break;
              table.release(h);
              waiting.delete(h);
              break;
            }
            case "crash": {
              const h = pick([...holding].filter(([, x]) => !x.crashed).map(([k]) => k), o.pick);
              if (h !== undefined) holding.get(h)!.crashed = true;
              break;
            }
            case "tick": {
              // The living renew before their leases could lapse; then time passes and lapsed holdings are swept.
              for (const [h, x] of holding) {
                if (x.crashed) continue;
                table.renew(h, now);
                x.until = now + LEASE;
              }
              now += o.ms;
              const lapsed = new Set(table.expire(now));
              for (const [h, x] of holding) {
                if (x.until <= now) {
                  expect(x.crashed).toBe(true);
                  holding.delete(h);
                }
              }
              for (const h of lapsed) expect(holding.has(h)).toBe(false);
              break;
            }
          }
          pump();
          check();
        }
      }),
      { numRuns: 300 },
    );
  });

  test("limits table - lets higher priority through first, FIFO within a priority", () => {
    const table = new LimitsTable(Infinity);
    const ref: LimitRef = { kind: "concurrency", scope: "api/call", key: "", limit: 1 };
    expect(table.request({ holder: "first", limits: [ref], priority: 3, since: 0 }, 0)).toBe(true);
    table.request({ holder: "low", limits: [ref], priority: 5, since: 1 }, 1);
    table.request({ holder: "old3", limits: [ref], priority: 3, since: 2 }, 2);
    table.request({ holder: "new3", limits: [ref], priority: 3, since: 3 }, 3);
    table.request({ holder: "high", limits: [ref], priority: 1, since: 4 }, 4);
    const order: string[] = [];
    let holder = "first";
    for (let i = 0; i < 4; i++) {
      table.release(holder);
      const [w] = table.grant(10);
      order.push(w!.holder);
      holder = w!.holder;
    }
    expect(order).toEqual(["high", "old3", "new3", "low"]);
  });

  test("limits table - serves keys in turn, so one busy tenant cannot starve another", () => {
    const table = new LimitsTable(Infinity);
    const rate = (key: string): LimitRef => ({ kind: "rate", scope: "api/call", key: "", limit: 2, periodMs: 1000, ...(key ? {} : {}) });
    const conc = (key: string): LimitRef => ({ kind: "concurrency", scope: "api/call", key, limit: 10 });
    // A shared rate of 2 per second; tenant "busy" queued 6 attempts before "quiet" queued 2.
    for (let i = 0; i < 6; i++) table.request({ holder: `busy${i}`, limits: [conc("busy"), rate("")], priority: 3, since: i }, 0);
    table.request({ holder: "quiet0", limits: [conc("quiet"), rate("")], priority: 3, since: 10 }, 0);
    table.request({ holder: "quiet1", limits: [conc("quiet"), rate("")], priority: 3, since: 11 }, 0);
    const second = table.grant(1000).map((w) => w.holder);
    const third = table.grant(2000).map((w) => w.holder);
    expect([...second, ...third].filter((h) => h.startsWith("quiet"))).toEqual(["quiet0", "quiet1"]);
    expect(third).toContain("quiet1");
  });

  test("limits table - says what a waiter waits for", () => {
    const table = new LimitsTable(Infinity);
    const ref: LimitRef = { kind: "concurrency", scope: "llm/complete", key: "acme", limit: 1 };
    table.request({ holder: "a", limits: [ref], priority: 3, since: 0 }, 0);
    table.request({ holder: "b", limits: [ref], priority: 3, since: 0 }, 0);
    expect(table.waitingFor("b", 0)).toBe("limit llm/complete[acme]: 1/1 in use");
    expect(table.waitingFor("a", 0)).toBeUndefined();
  });
});
