/**
 * The limits bookkeeping of the embedded engine (README "Traffic control"): every limit's
 * state in memory (limit-state.ts) and the attempts waiting for them (limit-queue.ts). Pure:
 * the caller passes the time, arms a timer for `nextWakeAt` and dispatches what `grant`
 * lets through. The fleet keeps the same states in a KV store instead (fleet/kv-limits.ts)
 * and the same queue in each coordinator.
 *
 * Invariants (tests/unit/limits-table.property.test.ts): no limit ever has more than
 * `limit` holdings in force (or starts in a window), and after `grant` no waiter is left
 * whose every limit has room.
 */
import { LimitQueue, type Waiter } from "./limit-queue.js";
import { emptyLimitState, fits, limitId, nextChangeAt, release, renew, sweepLimit, take, usedOf, describeWait, type LimitRef, type LimitState } from "./limit-state.js";

export interface LimitUse {
  id: string;
  ref: LimitRef;
  /** Holdings in force, or starts in the window. */
  used: number;
  waiting: number;
}

export class LimitsTable {
  private readonly states = new Map<string, { ref: LimitRef; state: LimitState }>();
  /** holder -> the concurrency limits it holds. */
  private readonly held = new Map<string, string[]>();
  readonly queue = new LimitQueue();

  /** @param leaseMs how long a holding lasts without `renew` (Infinity: until released). */
  constructor(private readonly leaseMs: number) {}

  private entry(ref: LimitRef): { ref: LimitRef; state: LimitState } {
    const id = limitId(ref);
    let e = this.states.get(id);
    if (!e) {
      e = { ref, state: emptyLimitState() };
      this.states.set(id, e);
    }
    // The latest declaration's numbers count (a new version may change them).
    e.ref = ref;
    return e;
  }

  private fitsAll(w: Waiter, now: number): boolean {
    return w.limits.every((ref) => fits(this.entry(ref).state, ref, w.holder, now));
  }

  private takeAll(w: Waiter, now: number): boolean {
    const taken: { e: { ref: LimitRef; state: LimitState }; next: LimitState }[] = [];
    for (const ref of w.limits) {
      const e = this.entry(ref);
      const next = take(e.state, ref, w.holder, now, this.leaseMs);
      if (!next) return false;
      taken.push({ e, next });
    }
    for (const { e, next } of taken) e.state = next;
    const ids = w.limits.filter((l) => l.kind === "concurrency").map(limitId);
    if (ids.length > 0) this.held.set(w.holder, ids);
    return true;
  }

  /** An attempt asks to start: true when it may at once (it holds its limits now), else it waits. */
  request(w: Waiter, now: number): boolean {
    if (this.queue.has(w.holder)) return false;
    // Nobody waits on these limits and they have room: go at once (the common case, O(limits)).
    if (!this.anyWaits(w) && this.fitsAll(w, now) && this.takeAll(w, now)) return true;
    this.queue.add(w);
    return false;
  }

  private anyWaits(w: Waiter): boolean {
    if (this.queue.size === 0) return false;
    const ids = new Set(w.limits.map(limitId));
    for (const o of this.queue.waiters()) if (o.limits.some((l) => ids.has(limitId(l)))) return true;
    return false;
  }

  /** An attempt in flight already (a run resumed): it holds its concurrency limits, room or not. */
  hold(w: Waiter, now: number): void {
    const ids: string[] = [];
    for (const ref of w.limits) {
      if (ref.kind !== "concurrency") continue;
      const e = this.entry(ref);
      e.state = { holders: { ...e.state.holders, [w.holder]: now + this.leaseMs }, starts: e.state.starts };
      ids.push(limitId(ref));
    }
    if (ids.length > 0) this.held.set(w.holder, ids);
  }

  /** Let through every waiter that has room now, in order (priority, keys round-robin, age). */
  grant(now: number): Waiter[] {
    if (this.queue.size === 0) return [];
    return this.queue.release((w) => this.fitsAll(w, now), (w) => this.takeAll(w, now));
  }

  /** The attempt ended (or will never start): free its holdings, or stop its waiting. */
  release(holder: string): void {
    this.queue.remove(holder);
    const ids = this.held.get(holder);
    if (!ids) return;
    this.held.delete(holder);
    for (const id of ids) {
      const e = this.states.get(id);
      if (e) e.state = release(e.state, holder);
    }
  }

  /** The holder is alive: move its leases on. */
  renew(holder: string, now: number): void {
    for (const id of this.held.get(holder) ?? []) {
      const e = this.states.get(id);
      const next = e && renew(e.state, holder, now, this.leaseMs);
      if (e && next) e.state = next;
    }
  }

  /** Drop lapsed holdings and old starts; returns the holders whose leases ran out. */
  expire(now: number): string[] {
    const lapsed: string[] = [];
    for (const [id, e] of this.states) {
      for (const [h, exp] of Object.entries(e.state.holders)) if (exp <= now) lapsed.push(h);
      e.state = sweepLimit(e.state, e.ref, now);
      if (Object.keys(e.state.holders).length === 0 && e.state.starts.length === 0 && !this.waitedOn(id)) this.states.delete(id);
    }
    for (const h of lapsed) {
      const ids = this.held.get(h)?.filter((id) => (this.states.get(id)?.state.holders[h] ?? 0) > now);
      if (ids && ids.length > 0) this.held.set(h, ids);
      else this.held.delete(h);
    }
    return lapsed;
  }

  private waitedOn(id: string): boolean {
    for (const w of this.queue.waiters()) if (w.limits.some((l) => limitId(l) === id)) return true;
    return false;
  }

  /** When time alone may let a waiter through or a lease lapse (a timer to arm), or undefined. */
  nextWakeAt(now: number): number | undefined {
    let at: number | undefined;
    for (const e of this.states.values()) {
      const t = nextChangeAt(e.state, e.ref, now);
      if (t !== undefined && (at === undefined || t < at)) at = t;
    }
    return at;
  }

  /** What `holder` waits for (the first of its limits without room), or undefined when it does not wait. */
  waitingFor(holder: string, now: number): string | undefined {
    const w = this.queue.get(holder);
    if (!w) return undefined;
    const ref = w.limits.find((l) => !fits(this.entry(l).state, l, holder, now)) ?? w.limits[0]!;
    return describeWait(ref, usedOf(this.entry(ref).state, ref, now));
  }

  /** Use of every limit known: for gauges and `queues`. */
  uses(now: number): LimitUse[] {
    const waiting = new Map<string, number>();
    for (const w of this.queue.waiters()) for (const l of w.limits) waiting.set(limitId(l), (waiting.get(limitId(l)) ?? 0) + 1);
    return [...this.states].map(([id, e]) => ({ id, ref: e.ref, used: usedOf(e.state, e.ref, now), waiting: waiting.get(id) ?? 0 }));
  }

  /** Holdings in force of the limit `ref` (tests and gauges). */
  used(ref: LimitRef, now: number): number {
    return usedOf(this.entry(ref).state, ref, now);
  }
}
