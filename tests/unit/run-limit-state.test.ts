/**
 * The bookkeeping of runs in flight per key on a fleet (runtime/core/run-limit-state.ts):
 * places and queue entries carry their own leases, the queue is ordered by priority then
 * age, and a random mix of starts, ends, renewals and lapses never admits more than the
 * limit nor leaves a live queued run behind a free place it could take.
 */
import { describe, expect, it } from "vitest";
import {
  admitRun,
  describeRunWait,
  emptyRunLimitState,
  enqueueRun,
  holdAnyway,
  inFlight,
  oldestHolders,
  queuedAhead,
  releaseRun,
  sweepRunLimit,
  type RunLimitState,
} from "../../src/runtime/core/run-limit-state.js";

const ref = { workflow: "signup", key: "user-7", limit: 1 };
const LEASE = 1000;

describe("run limit state", () => {
  it("run limits - a run takes the free place; the next is queued and says what it waits for; the place comes back when the first ends", () => {
    let s = admitRun(emptyRunLimitState(), ref, { runId: "a", priority: 3, at: 0 }, 0, LEASE)!;
    expect(inFlight(s, 1)).toBe(1);
    expect(admitRun(s, ref, { runId: "b", priority: 3, at: 1 }, 1, LEASE)).toBeUndefined();
    s = enqueueRun(s, { runId: "b", priority: 3, at: 1 }, 1, LEASE);
    expect(describeRunWait(s, ref, "b", 2)).toBe("queued: workflow limit signup[user-7] 1/1 in use, 0 queued ahead");
    s = releaseRun(s, "a");
    s = admitRun(s, ref, { runId: "b", priority: 3, at: 1 }, 3, LEASE)!;
    expect(s.queue).toEqual([]);
    expect(Object.keys(s.holders)).toEqual(["b"]);
  });

  it("run limits - priority 1 goes before priority 3 queued earlier, FIFO within a priority; a later start waits behind the queue", () => {
    let s = admitRun(emptyRunLimitState(), ref, { runId: "a", priority: 3, at: 0 }, 0, LEASE)!;
    s = enqueueRun(s, { runId: "b", priority: 3, at: 1 }, 1, LEASE);
    s = enqueueRun(s, { runId: "c", priority: 1, at: 2 }, 2, LEASE);
    s = enqueueRun(s, { runId: "d", priority: 1, at: 3 }, 3, LEASE);
    s = releaseRun(s, "a");
    expect(admitRun(s, ref, { runId: "b", priority: 3, at: 1 }, 4, LEASE)).toBeUndefined();
    expect(admitRun(s, ref, { runId: "d", priority: 1, at: 3 }, 4, LEASE)).toBeUndefined();
    expect(queuedAhead(s, { runId: "b", priority: 3, at: 1 }, 4)).toBe(2);
    expect(admitRun(s, ref, { runId: "e", priority: 3, at: 5 }, 5, LEASE)).toBeUndefined();
    s = admitRun(s, ref, { runId: "c", priority: 1, at: 2 }, 4, LEASE)!;
    expect(Object.keys(s.holders)).toEqual(["c"]);
  });

  it("run limits - a place whose lease lapsed is free and swept; a queue entry that lapsed is skipped until renewed in its place", () => {
    let s = admitRun(emptyRunLimitState(), ref, { runId: "a", priority: 3, at: 0 }, 0, LEASE)!;
    s = enqueueRun(s, { runId: "b", priority: 3, at: 1 }, 1, LEASE);
    // Both leases lapse (their coordinator died); a run queued later is let through once nothing live is ahead.
    expect(admitRun(s, ref, { runId: "c", priority: 3, at: 900 }, 900, LEASE)).toBeUndefined(); // a still holds
    const later = admitRun(s, ref, { runId: "c", priority: 3, at: 2500 }, 2500, LEASE)!;
    expect(Object.keys(later.holders)).toEqual(["c"]);
    expect(later.queue).toEqual([]);
    // Renewed in time by the coordinator that took b over: it keeps its place at its age.
    s = enqueueRun(s, { runId: "b", priority: 3, at: 1 }, 900, LEASE);
    s = enqueueRun(s, { runId: "c", priority: 3, at: 950 }, 950, LEASE);
    expect(queuedAhead(s, { runId: "c", priority: 3, at: 950 }, 1000)).toBe(1);
  });

  it("run limits - a run in flight taken over keeps (or takes back) its place whatever the room; the oldest in flight comes first", () => {
    let s = holdAnyway(emptyRunLimitState(), "a", 0, LEASE);
    s = holdAnyway(s, "b", 10, LEASE);
    expect(inFlight(s, 20)).toBe(2);
    expect(oldestHolders(s, 20)).toEqual(["a", "b"]);
    s = holdAnyway(s, "a", 500, LEASE);
    expect(s.holders.a).toEqual({ until: 1500, since: 0 });
    expect(sweepRunLimit(s, 1200).holders).toEqual({ a: { until: 1500, since: 0 } });
  });

  it("run limits - random starts, ends, renewals and lapses never admit over the limit and never leave a live queued run behind a free place", () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 50; round++) {
      const limit = 1 + Math.floor(rand() * 3);
      const r = { ...ref, limit };
      let s: RunLimitState = emptyRunLimitState();
      let now = 0;
      /** Runs whose coordinator is alive: they renew; the others lapse. */
      const alive = new Set<string>();
      const entries = new Map<string, { runId: string; priority: number; at: number }>();
      for (let step = 0; step < 200; step++) {
        now += Math.floor(rand() * 200);
        const roll = rand();
        if (roll < 0.35) {
          const e = { runId: `r${round}-${step}`, priority: 1 + Math.floor(rand() * 5), at: now };
          const admitted = admitRun(s, r, e, now, LEASE);
          s = admitted ?? enqueueRun(s, e, now, LEASE);
          if (!admitted) entries.set(e.runId, e);
          alive.add(e.runId);
        } else if (roll < 0.55) {
          const held = Object.keys(s.holders);
          if (held.length > 0) s = releaseRun(s, held[Math.floor(rand() * held.length)]!);
        } else if (roll < 0.6) {
          const all = [...alive];
          if (all.length > 0) alive.delete(all[Math.floor(rand() * all.length)]!); // kill -9 of its coordinator
        } else {
          // Renewals, then every live coordinator tries its queued runs in the fleet's order.
          for (const id of alive) if (s.holders[id]) s = holdAnyway(s, id, now, LEASE);
          for (const id of alive) {
            const e = entries.get(id);
            if (e && !s.holders[id]) s = enqueueRun(s, e, now, LEASE);
          }
          const order = [...s.queue].sort((a, b) => a.priority - b.priority || a.at - b.at || (a.runId < b.runId ? -1 : 1));
          for (const q of order) {
            if (!alive.has(q.runId)) continue;
            const next = admitRun(s, r, entries.get(q.runId)!, now, LEASE);
            if (next) s = next;
          }
          expect(inFlight(s, now)).toBeLessThanOrEqual(limit);
          // The first queued run whose coordinator lives waits only behind a full limit (places and entries not lapsed yet).
          const first = [...s.queue].filter((q) => q.until > now && alive.has(q.runId)).sort((a, b) => a.priority - b.priority || a.at - b.at || (a.runId < b.runId ? -1 : 1))[0];
          if (first) expect(inFlight(s, now) + queuedAhead(s, first, now)).toBeGreaterThanOrEqual(limit);
        }
        expect(inFlight(s, now)).toBeLessThanOrEqual(limit);
      }
    }
  });
});
