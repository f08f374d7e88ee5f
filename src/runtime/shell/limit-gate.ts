/**
 * Where the run shells ask for task-level limits (README "Traffic control"): an attempt of a
 * task with `concurrency` or `rateLimit` is not sent to the workers until it holds its
 * limits, so while it waits it holds no worker slot. One gate serves every run of a
 * coordinator: in memory for an embedded engine (this file), in the fleet's KV store for a
 * fleet (fleet/kv-limit-gate.ts), where all coordinators share the limits.
 *
 * A holding belongs to the attempt (its dispatch id) and ends when its report comes in or
 * the attempt is given up (timed out, cancelled, the run ended).
 */
import type { Clock, TimerHandle } from "../../support/clock.js";
import type { Waiter } from "../core/limit-queue.js";
import type { LimitUse } from "../core/limits-table.js";
import { LimitsTable } from "../core/limits-table.js";

export interface LimitGate {
  /**
   * Ask for the attempt's limits. `go` is called once it holds them: at once (maybe before
   * `request` returns) or later, in priority, keys-in-turn, then age order.
   */
  request(w: Waiter, go: () => void): void;
  /** The attempt ended or will never start: free its holdings, or stop its waiting. */
  release(holder: string): void;
  /**
   * An attempt in flight that a new holder of its run found (a takeover or a resume): keep
   * the holdings it has alive. One without them on a fleet was never sent (its coordinator
   * died while it waited): it takes none, and `onMissing` is called.
   */
  adopt(w: Waiter, onMissing?: () => void): void;
  /** The run left this coordinator with the attempt still in flight: stop keeping its holdings alive, without freeing them. */
  forget(holder: string): void;
  /** What the attempt waits for (`limit llm/complete[acme]: 8/8 in use`), or undefined. */
  waitingFor(holder: string): string | undefined;
  /** Use of every limit this gate knows (gauges, `queues`). */
  uses(): LimitUse[];
  close(): void;
}

/** The embedded engine's gate: one table in memory for every run of the engine. */
export function createMemoryLimitGate(clock: Clock): LimitGate {
  const table = new LimitsTable(Infinity);
  const waiting = new Map<string, () => void>();
  let timer: TimerHandle = undefined;
  let timerAt = Infinity;
  let closed = false;

  const pump = (): void => {
    if (closed) return;
    const now = clock.now();
    for (const w of table.grant(now)) {
      const go = waiting.get(w.holder);
      waiting.delete(w.holder);
      go?.();
    }
    // A rate window that slides on lets waiters through by time alone.
    const at = waiting.size > 0 ? table.nextWakeAt(now) : undefined;
    if (at === undefined || at >= timerAt) return;
    if (timer !== undefined) clock.clearTimeout(timer);
    timerAt = at;
    timer = clock.setTimeout(
      () => {
        timer = undefined;
        timerAt = Infinity;
        table.expire(clock.now());
        pump();
      },
      Math.max(1, at - now),
    );
  };

  return {
    request(w, go) {
      if (table.request(w, clock.now())) {
        go();
        return;
      }
      waiting.set(w.holder, go);
      pump();
    },
    release(holder) {
      waiting.delete(holder);
      table.release(holder);
      if (waiting.size > 0) pump();
    },
    adopt(w) {
      table.hold(w, clock.now());
    },
    forget() {},
    waitingFor: (holder) => table.waitingFor(holder, clock.now()),
    uses: () => table.uses(clock.now()),
    close() {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      waiting.clear();
    },
  };
}
