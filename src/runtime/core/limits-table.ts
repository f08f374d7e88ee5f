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
import { limitId, describeWait, type LimitRef } from "./limit-state.js";

/**
 * One limit's state, kept mutable here (the same rules as limit-state.ts's values, which the
 * fleet stores): a wide phase of 10,000 attempts under a limit that never binds costs
 * O(1) per attempt, not a copy of every holding.
 */
class Entry {
  readonly holders = new Map<string, number>();
  starts: number[] = [];
  private head = 0;
  constructor(public ref: LimitRef) {}

  /** Drop starts that left the window (amortized O(1)). */
  private slide(now: number): void {
    const r = this.ref;
    if (r.kind !== "rate") return;
    while (this.head < this.starts.length && this.starts[this.head]! <= now - r.periodMs) this.head++;
    if (this.head > 64 && this.head * 2 > this.starts.length) {
      this.starts = this.starts.slice(this.head);
      this.head = 0;
    }
  }

  used(now: number, finite: boolean): number {
    if (this.ref.kind === "rate") {
      this.slide(now);
      return this.starts.length - this.head;
    }
    if (!finite) return this.holders.size;
    let n = 0;
    for (const exp of this.holders.values()) if (exp > now) n++;
    return n;
  }

  fits(holder: string, now: number, finite: boolean): boolean {
    if (this.ref.kind === "concurrency" && (this.holders.get(holder) ?? 0) > now) return true;
    return this.used(now, finite) < this.ref.limit;
  }

  take(holder: string, now: number, leaseMs: number): void {
    if (this.ref.kind === "concurrency") this.holders.set(holder, now + leaseMs);
    else this.starts.push(now);
  }

  sweep(now: number): string[] {
    const lapsed: string[] = [];
    for (const [h, exp] of this.holders) {
      if (exp > now) continue;
      this.holders.delete(h);
      lapsed.push(h);
    }
    this.slide(now);
    return lapsed;
  }

  empty(): boolean {
    return this.holders.size === 0 && this.starts.length === this.head;
  }

  nextChangeAt(now: number): number | undefined {
    if (this.ref.kind === "rate") {
      this.slide(now);
      const first = this.starts[this.head];
      return first === undefined ? undefined : first + this.ref.periodMs;
    }
    let at: number | undefined;
    for (const exp of this.holders.values()) if (exp > now && exp !== Infinity && (at === undefined || exp < at)) at = exp;
    return at;
  }
}

export interface LimitUse {
  id: string;
  ref: LimitRef;
  /** Holdings in force, or starts in the window. */
  used: number;
  waiting: number;
}

export class LimitsTable {
  private readonly states = new Map<string, Entry>();
  private readonly finite: boolean;
  /** holder -> the concurrency limits it holds. */
  private readonly held = new Map<string, string[]>();
  readonly queue = new LimitQueue();

  /** @param leaseMs how long a holding lasts without `renew` (Infinity: until released). */
  constructor(private readonly leaseMs: number) {
    this.finite = Number.isFinite(leaseMs);
  }

  private entry(ref: LimitRef): Entry {
    const id = limitId(ref);
    let e = this.states.get(id);
    if (!e) {
      e = new Entry(ref);
      this.states.set(id, e);
    }
    // The latest declaration's numbers count (a new version may change them).
    e.ref = ref;
    return e;
  }

  private fitsAll(w: Waiter, now: number): boolean {
    for (const ref of w.limits) if (!this.entry(ref).fits(w.holder, now, this.finite)) return false;
    return true;
  }

  private takeAll(w: Waiter, now: number): boolean {
    if (!this.fitsAll(w, now)) return false;
    for (const ref of w.limits) this.entry(ref).take(w.holder, now, this.leaseMs);
    const ids = w.limits.filter((l) => l.kind === "concurrency").map(limitId);
    if (ids.length > 0) this.held.set(w.holder, ids);
    return true;
  }

  /** An attempt asks to start: true when it may at once (it holds its limits now), else it waits. */
  request(w: Waiter, now: number): boolean {
    if (this.queue.has(w.holder)) return false;
    // Nobody waits on these limits and they have room: go at once (the common case, O(limits)).
    if (!this.anyWaits(w) && this.takeAll(w, now)) return true;
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
      this.entry(ref).holders.set(w.holder, now + this.leaseMs);
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
    for (const id of ids) this.states.get(id)?.holders.delete(holder);
  }

  /** The holder is alive: move its leases on. */
  renew(holder: string, now: number): void {
    for (const id of this.held.get(holder) ?? []) {
      const e = this.states.get(id);
      const exp = e?.holders.get(holder);
      if (e && exp !== undefined && exp > now) e.holders.set(holder, now + this.leaseMs);
    }
  }

  /** Drop lapsed holdings and old starts; returns the holders whose leases ran out. */
  expire(now: number): string[] {
    const lapsed: string[] = [];
    for (const [id, e] of this.states) {
      lapsed.push(...e.sweep(now));
      if (e.empty() && !this.waitedOn(id)) this.states.delete(id);
    }
    for (const h of lapsed) {
      const ids = this.held.get(h)?.filter((id) => (this.states.get(id)?.holders.get(h) ?? 0) > now);
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
      const t = e.nextChangeAt(now);
      if (t !== undefined && (at === undefined || t < at)) at = t;
    }
    return at;
  }

  /** What `holder` waits for (the first of its limits without room), or undefined when it does not wait. */
  waitingFor(holder: string, now: number): string | undefined {
    const w = this.queue.get(holder);
    if (!w) return undefined;
    const ref = w.limits.find((l) => !this.entry(l).fits(holder, now, this.finite)) ?? w.limits[0]!;
    return describeWait(ref, this.entry(ref).used(now, this.finite));
  }

  /** Use of every limit known: for gauges and `queues`. */
  uses(now: number): LimitUse[] {
    const waiting = new Map<string, number>();
    for (const w of this.queue.waiters()) for (const l of w.limits) waiting.set(limitId(l), (waiting.get(limitId(l)) ?? 0) + 1);
    return [...this.states].map(([id, e]) => ({ id, ref: e.ref, used: e.used(now, this.finite), waiting: waiting.get(id) ?? 0 }));
  }

  /** Holdings in force of the limit `ref` (tests and gauges). */
  used(ref: LimitRef, now: number): number {
    return this.entry(ref).used(now, this.finite);
  }
}
