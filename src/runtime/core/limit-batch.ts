/**
 * One pass of a fleet coordinator's task-limit gate, as pure functions (README "Traffic
 * control"): instead of one compare-and-set per attempt and per limit to take a slot and
 * another to give it back, a pass gives back every holding that ended since the last pass,
 * renews the leases due, and takes the limit for every waiter that fits, all in ONE write
 * of each limit's state (limit-state.ts). A burst of 2,000 attempts (or of 200 reports)
 * costs one read and one write per limit instead of thousands of racing writes.
 *
 * - `planTakes` picks, from a coordinator's queue (limit-queue.ts: priority, keys in turn,
 *   age), who goes in this pass, judged on the states it last saw.
 * - `applyBatch` is the write itself, applied to the state read just before it: it never
 *   lets more holders in than the limit allows at that moment (a stale plan only means
 *   fewer go), so the fleet-wide bound rests on compare-and-set alone.
 * - `settleBatch` joins the per-limit outcomes: a waiter goes only when it took every one
 *   of its limits; what a waiter took without the rest (a concurrency slot, or a rate start,
 *   taken back out by its time) is given back by the next pass.
 */
import type { LimitQueue, Waiter } from "./limit-queue.js";
import { limitId, sweepLimit, type LimitRef, type LimitState } from "./limit-state.js";

/** What one pass writes to one limit. */
export interface LimitBatch {
  ref: LimitRef;
  /** Holdings that ended: given back first. */
  release: ReadonlySet<string>;
  /** Holdings in flight here whose lease is moved on (never recreated once lapsed or released). */
  renew: ReadonlySet<string>;
  /** Holders that take the limit, in the order they were let through. */
  take: readonly string[];
  /** Rate limits: starts an earlier pass wrote for waiters that did not go after all (their times), taken out again. */
  unstart?: readonly number[];
}

export interface BatchResult {
  /** The state to write (`s` itself when nothing changed: no write needed). */
  state: LimitState;
  /** Those of `take` that hold the limit now (a holder holding it already counts). */
  took: string[];
  /** Those of `renew` that held nothing any more. */
  lapsed: string[];
  /** The time the takes are recorded at (a rate limit's starts: what `unstart` names to take one back). */
  at: number;
}

/**
 * Apply one pass's batch to a limit's state read at `now`: sweep lapsed holdings and starts
 * out of the window, give back, renew, then take for each of `take` in order while there
 * is room. O(holders + batch).
 */
export function applyBatch(s: LimitState, b: LimitBatch, now: number, leaseMs: number): BatchResult {
  const swept = sweepLimit(s, b.ref, now);
  let holders = swept.holders;
  let starts = swept.starts;
  const own = (): void => {
    if (holders === swept.holders) holders = { ...swept.holders };
  };
  for (const h of b.release) {
    if (!(h in holders)) continue;
    own();
    delete holders[h];
  }
  const lapsed: string[] = [];
  for (const h of b.renew) {
    const exp = holders[h];
    if (exp === undefined || exp <= now) {
      lapsed.push(h);
      continue;
    }
    own();
    holders[h] = now + leaseMs;
  }
  const took: string[] = [];
  if (b.ref.kind === "concurrency") {
    let used = Object.keys(holders).length;
    for (const h of b.take) {
      const exp = holders[h];
      if (exp !== undefined && exp > now) {
        took.push(h);
        continue;
      }
      if (used >= b.ref.limit) continue;
      own();
      holders[h] = now + leaseMs;
      used++;
      took.push(h);
    }
  } else {
    for (const t of b.unstart ?? []) {
      const i = starts.lastIndexOf(t);
      if (i < 0) continue;
      if (starts === swept.starts) starts = [...starts];
      starts.splice(i, 1);
    }
    const room = b.ref.limit - starts.length;
    const n = Math.max(0, Math.min(room, b.take.length));
    if (n > 0) {
      if (starts === swept.starts) starts = [...starts];
      for (let i = 0; i < n; i++) {
        starts.push(now);
        took.push(b.take[i]!);
      }
    }
  }
  const state = holders === s.holders && starts === s.starts ? s : { holders, starts };
  return { state, took, lapsed, at: now };
}

/**
 * Who goes in this pass, in the queue's order, judged on `stateOf` (each limit's state as
 * last seen, with the pass's releases given back): the waiters let through are removed from
 * the queue. O(waiters + holders).
 */
export function planTakes(queue: LimitQueue, stateOf: (ref: LimitRef) => LimitState, now: number): Waiter[] {
  const room = new Map<string, { ref: LimitRef; used: number; holders: Record<string, number> }>();
  const roomOf = (ref: LimitRef): { ref: LimitRef; used: number; holders: Record<string, number> } => {
    const id = limitId(ref);
    let r = room.get(id);
    if (r === undefined) {
      const s = sweepLimit(stateOf(ref), ref, now);
      r = { ref, used: ref.kind === "concurrency" ? Object.keys(s.holders).length : s.starts.length, holders: s.holders };
      room.set(id, r);
    }
    return r;
  };
  const holding = (r: { ref: LimitRef; holders: Record<string, number> }, holder: string): boolean => r.ref.kind === "concurrency" && (r.holders[holder] ?? 0) > now;
  return queue.release(
    (w) => w.limits.every((ref) => {
      const r = roomOf(ref);
      return holding(r, w.holder) || r.used < ref.limit;
    }),
    (w) => {
      for (const ref of w.limits) {
        const r = roomOf(ref);
        if (!holding(r, w.holder)) r.used++;
      }
      return true;
    },
  );
}

/**
 * Which waiters of a pass go: those that took every one of their limits (`took`: limit id ->
 * holders that hold it now). The rest stay (`left`), with what they took anyway
 * (`giveBack`: concurrency slots, and rate starts to take back out), for the next pass.
 */
export function settleBatch(order: readonly Waiter[], took: ReadonlyMap<string, ReadonlySet<string>>): { went: Waiter[]; left: Waiter[]; giveBack: { holder: string; refs: LimitRef[] }[] } {
  const went: Waiter[] = [];
  const left: Waiter[] = [];
  const giveBack: { holder: string; refs: LimitRef[] }[] = [];
  for (const w of order) {
    const got = w.limits.filter((ref) => took.get(limitId(ref))?.has(w.holder) === true);
    if (got.length === w.limits.length) {
      went.push(w);
      continue;
    }
    left.push(w);
    if (got.length > 0) giveBack.push({ holder: w.holder, refs: got });
  }
  return { went, left, giveBack };
}
