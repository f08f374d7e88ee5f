/**
 * The fleet's batched limit passes (src/runtime/core/limit-batch.ts) under random traffic:
 * several coordinators, each with its own queue and its own (possibly stale) copy of the
 * limits' states, share one store changed only by compare-and-set, as fleet/kv-limit-gate.ts
 * does. Arrivals, completions, passes on stale copies (lost races), coordinator crashes (their
 * holdings stop being renewed) and time passing (leases lapse, rate windows slide). Checked
 * after every step against a model kept by the test: no concurrency limit ever has more
 * attempts in flight than its limit, no rate window more starts; and once the coordinators'
 * passes settle, no slot is kept by an attempt not in flight (unless its coordinator died:
 * then until its lease lapses) and no waiter is left behind room in every one of its limits.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { applyBatch, planTakes, settleBatch } from "../../src/runtime/core/limit-batch.js";
import { LimitQueue } from "../../src/runtime/core/limit-queue.js";
import { emptyLimitState, limitId, sweepLimit, usedOf, type LimitRef, type LimitState } from "../../src/runtime/core/limit-state.js";

const LEASE = 1_000;
const LIMITS: LimitRef[] = [
  { kind: "concurrency", scope: "llm/complete", key: "acme", limit: 2 },
  { kind: "concurrency", scope: "llm/complete", key: "zeta", limit: 1 },
  { kind: "concurrency", scope: "db/write", key: "", limit: 3 },
  { kind: "rate", scope: "llm/complete", key: "acme", limit: 3, periodMs: 500 },
  { kind: "rate", scope: "mail/send", key: "", limit: 1, periodMs: 300 },
];
const COORDINATORS = 3;

type Op =
  | { op: "arrive"; at: number; limits: number[]; priority: number }
  | { op: "complete"; pick: number }
  | { op: "pass"; at: number }
  | { op: "crash"; at: number }
  | { op: "tick"; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("arrive" as const), at: fc.nat(COORDINATORS - 1), limits: fc.uniqueArray(fc.nat(LIMITS.length - 1), { minLength: 1, maxLength: 3 }), priority: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("complete" as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("pass" as const), at: fc.nat(COORDINATORS - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("crash" as const), at: fc.nat(COORDINATORS - 1) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: LEASE - 1 }) }) },
);

interface Entry {
  state: LimitState;
  revision: number;
}

interface Coordinator {
  alive: boolean;
  queue: LimitQueue;
  /** Each limit as this coordinator last read or wrote it (may be stale). */
  known: Map<string, Entry>;
  /** Holdings to give back with the next pass. */
  pending: Map<string, { ref: LimitRef; holders: Set<string>; unstart: number[] }>;
  /** Attempts in flight driven here: their concurrency limits. */
  mine: Map<string, LimitRef[]>;
}

const refById = new Map(LIMITS.map((r) => [limitId(r), r]));

describe("limit batch - property", () => {
  test("limit batch - coordinators' batched takes and releases never exceed a limit nor leave a waiter behind room", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 100 }), (ops) => {
        let now = 1_000_000;
        let next = 0;
        const store = new Map<string, Entry>();
        const read = (ref: LimitRef): Entry => store.get(limitId(ref)) ?? { state: emptyLimitState(), revision: 0 };
        const coords: Coordinator[] = Array.from({ length: COORDINATORS }, () => ({ alive: true, queue: new LimitQueue(), known: new Map(), pending: new Map(), mine: new Map() }));
        // The model: attempts in flight (until completed, or until the lease of a crashed coordinator's attempt lapses) and every start.
        const flying = new Map<string, { refs: readonly LimitRef[]; until: number; coord: number }>();
        const starts = new Map<string, number[]>();
        let writes = 0;
        const coordOf = new Map<string, number>();

        const giveBack = (c: Coordinator, holder: string, refs: readonly LimitRef[], at?: ReadonlyMap<string, number>): void => {
          for (const ref of refs) {
            const id = limitId(ref);
            const t = at?.get(id);
            if (ref.kind === "rate" && t === undefined) continue;
            let g = c.pending.get(id);
            if (!g) c.pending.set(id, (g = { ref, holders: new Set(), unstart: [] }));
            if (ref.kind === "concurrency") g.holders.add(holder);
            else g.unstart.push(t!);
          }
        };

        /** One pass of coordinator `i`, the way fleet/kv-limit-gate.ts runs it. */
        const pass = (i: number, renew: boolean): void => {
          const c = coords[i]!;
          if (!c.alive) return;
          const waitingOn = new Map<string, number>();
          for (const w of c.queue.waiters()) for (const ref of w.limits) waitingOn.set(limitId(ref), (waitingOn.get(limitId(ref)) ?? 0) + 1);
          for (const [id, n] of waitingOn) {
            const ref = refById.get(id)!;
            const k = c.known.get(id);
            if (k === undefined || usedOf(sweepLimit(k.state, ref, now), ref, now) + n > ref.limit) c.known.set(id, read(ref));
          }
          const releases = c.pending;
          c.pending = new Map();
          const renewals = new Map<string, Set<string>>();
          if (renew) for (const [h, refs] of c.mine) for (const ref of refs) renewals.set(limitId(ref), (renewals.get(limitId(ref)) ?? new Set()).add(h));
          const guess = (ref: LimitRef): LimitState => {
            const s = c.known.get(limitId(ref))?.state ?? emptyLimitState();
            const gone = releases.get(limitId(ref))?.holders;
            if (!gone || ref.kind !== "concurrency") return s;
            const holders = { ...s.holders };
            for (const h of gone) delete holders[h];
            return { holders, starts: s.starts };
          };
          const order = planTakes(c.queue, guess, now);
          const takes = new Map<string, string[]>();
          for (const w of order) for (const ref of w.limits) takes.set(limitId(ref), [...(takes.get(limitId(ref)) ?? []), w.holder]);
          const ids = new Set([...takes.keys(), ...releases.keys(), ...renewals.keys()]);
          const took = new Map<string, Set<string>>();
          const at = new Map<string, number>();
          for (const id of ids) {
            const ref = refById.get(id)!;
            const r = releases.get(id);
            const batch = { ref, release: r?.holders ?? new Set<string>(), unstart: r?.unstart ?? [], renew: renewals.get(id) ?? new Set<string>(), take: takes.get(id) ?? [] };
            // Compare-and-set: the first try on the copy known here, then on what the store holds.
            let k = c.known.get(id);
            for (;;) {
              const cur = k ?? read(ref);
              if (k === undefined) c.known.set(id, cur);
              const res = applyBatch(cur.state, batch, now, LEASE);
              if (res.state === cur.state && k !== undefined) {
                k = undefined;
                continue;
              }
              if (res.state !== cur.state) {
                if (read(ref).revision !== cur.revision) {
                  k = undefined;
                  continue;
                }
                const e = { state: res.state, revision: cur.revision + 1 };
                store.set(id, e);
                c.known.set(id, e);
                writes++;
              }
              took.set(id, new Set(res.took));
              at.set(id, res.at);
              break;
            }
          }
          const settled = settleBatch(order, took);
          for (const g of settled.giveBack) giveBack(c, g.holder, g.refs, at);
          for (const w of settled.left) c.queue.add(w);
          for (const w of settled.went) {
            const conc = w.limits.filter((l) => l.kind === "concurrency");
            if (conc.length > 0) c.mine.set(w.holder, conc);
            flying.set(w.holder, { refs: w.limits, until: now + LEASE, coord: i });
            for (const ref of w.limits) if (ref.kind === "rate") starts.set(limitId(ref), [...(starts.get(limitId(ref)) ?? []), now]);
          }
        };

        const inFlight = (ref: LimitRef): number => [...flying.values()].filter((f) => f.until > now && f.refs.some((r) => limitId(r) === limitId(ref))).length;
        const check = (): void => {
          for (const ref of LIMITS) {
            if (ref.kind === "concurrency") {
              expect(inFlight(ref)).toBeLessThanOrEqual(ref.limit);
              expect(usedOf(read(ref).state, ref, now)).toBeLessThanOrEqual(ref.limit);
            } else {
              const ts = starts.get(limitId(ref)) ?? [];
              for (const t of ts) expect(ts.filter((u) => u > t - ref.periodMs && u <= t).length).toBeLessThanOrEqual(ref.limit);
            }
          }
        };
        /** Passes of every living coordinator in turn until a round writes nothing: then no waiter may have room in all its limits. */
        const settle = (): void => {
          for (let round = 0; ; round++) {
            expect(round).toBeLessThan(50);
            const before = writes;
            for (let i = 0; i < COORDINATORS; i++) pass(i, false);
            check();
            if (writes === before && coords.every((c) => !c.alive || c.pending.size === 0)) break;
          }
          // No slot is kept by an attempt not in flight (a waiter's partial take, a completion), unless its coordinator died.
          for (const ref of LIMITS) {
            if (ref.kind !== "concurrency") continue;
            for (const [h, exp] of Object.entries(read(ref).state.holders)) {
              if (exp > now) expect(flying.has(h) || !coords[coordOf.get(h)!]!.alive, `${h} keeps a slot of ${limitId(ref)}`).toBe(true);
            }
          }
          for (const c of coords) {
            if (!c.alive) continue;
            for (const w of c.queue.waiters()) {
              const room = w.limits.every((ref) => usedOf(read(ref).state, ref, now) < ref.limit);
              expect(room, `waiter ${w.holder} left behind room`).toBe(false);
            }
          }
        };

        for (const o of ops) {
          switch (o.op) {
            case "arrive": {
              const c = coords[o.at]!;
              if (!c.alive) break;
              coordOf.set(`a${next}`, o.at);
              c.queue.add({ holder: `a${next++}`, limits: o.limits.map((i) => LIMITS[i]!), priority: o.priority, since: now });
              break;
            }
            case "complete": {
              const live = [...flying].filter(([, f]) => coords[f.coord]!.alive);
              if (live.length === 0) break;
              const [h, f] = live[o.pick % live.length]!;
              const c = coords[f.coord]!;
              flying.delete(h);
              const refs = c.mine.get(h);
              c.mine.delete(h);
              if (refs) giveBack(c, h, refs);
              break;
            }
            case "pass":
              pass(o.at, false);
              break;
            case "crash": {
              // kill -9: its waiters and pending releases are gone; its attempts fly on until their leases lapse.
              const c = coords[o.at]!;
              if (!c.alive || coords.filter((x) => x.alive).length === 1) break;
              c.alive = false;
              break;
            }
            case "tick": {
              // The living renew (a pass with renewals) before their leases could lapse; then time passes.
              for (let i = 0; i < COORDINATORS; i++) {
                pass(i, true);
                for (const f of flying.values()) if (f.coord === i && coords[i]!.alive) f.until = now + LEASE;
              }
              now += o.ms;
              for (const [h, f] of flying) if (f.until <= now) flying.delete(h);
              break;
            }
          }
          check();
        }
        settle();
      }),
      { numRuns: 300 },
    );
  });

  test("limit batch - one write takes the whole batch when it fits, in queue order, and only as many as fit", () => {
    const ref: LimitRef = { kind: "concurrency", scope: "api/call", key: "", limit: 3 };
    const s0 = applyBatch(emptyLimitState(), { ref, release: new Set(), renew: new Set(), take: ["a", "b"] }, 0, 100);
    expect(s0.took).toEqual(["a", "b"]);
    const s1 = applyBatch(s0.state, { ref, release: new Set(["a"]), renew: new Set(["b", "gone"]), take: ["c", "d", "e"] }, 10, 100);
    expect(s1.took).toEqual(["c", "d"]);
    expect(s1.lapsed).toEqual(["gone"]);
    expect(Object.keys(s1.state.holders).sort()).toEqual(["b", "c", "d"]);
    // Nothing to change: the same object (no write needed).
    expect(applyBatch(s1.state, { ref, release: new Set(["x"]), renew: new Set(), take: ["b"] }, 20, 100).state).toBe(s1.state);
    const rate: LimitRef = { kind: "rate", scope: "mail/send", key: "", limit: 2, periodMs: 50 };
    const r0 = applyBatch(emptyLimitState(), { ref: rate, release: new Set(), renew: new Set(), take: ["a", "b", "c"] }, 0, 100);
    expect(r0.took).toEqual(["a", "b"]);
    const r1 = applyBatch(r0.state, { ref: rate, release: new Set(), renew: new Set(), unstart: [r0.at], take: ["c"] }, 10, 100);
    expect(r1.took).toEqual(["c"]);
    expect(r1.state.starts).toEqual([0, 10]);
  });
});
