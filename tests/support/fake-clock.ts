/**
 * A fake Clock for tests: time moves only when the test says so, so retries, backoff
 * and timeouts run without sleeping. `advance(ms)` fires every timer due within `ms`
 * in due order (ties in creation order), setting `now()` to each timer's due time, and
 * lets pending promise jobs and I/O callbacks (e.g. the memory transport's
 * `setImmediate` deliveries) run before and after each timer.
 *
 * Give the engine AND the worker the same clock.
 */
import type { Clock, TimerHandle } from "../../src/support/clock.js";

interface Timer {
  id: number;
  due: number;
  fn: () => void;
}

export interface FakeClock extends Clock {
  /** Move time forward by `ms`, firing due timers in order; settles pending work first and after each timer. */
  advance(ms: number): Promise<void>;
  /** Fire timers until none is left (at most `limit`, default 10,000: guards against a timer that re-arms forever). */
  runAll(limit?: number): Promise<void>;
  /** Let pending promise jobs and `setImmediate` callbacks run, without moving time. */
  flush(): Promise<void>;
  /** Timers not fired or cleared yet. */
  pending(): number;
  /** Due time of the next timer, if any. */
  nextDue(): number | undefined;
}

/** Turns of the event loop `flush()` yields: enough for a dispatch -> worker -> report -> decision round trip. */
const FLUSH_TURNS = 25;

/**
 * @example
 * const clock = createFakeClock(1_000_000);
 * const engine = createEngine({ registry, clock, random: () => 0.5 });
 * await clock.advance(1500);
 */
export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let now = start;
  let seq = 0;
  const timers = new Map<number, Timer>();

  const next = (limit: number): Timer | undefined => {
    let best: Timer | undefined;
    for (const t of timers.values()) {
      if (t.due > limit) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  };

  const flush = async (): Promise<void> => {
    for (let i = 0; i < FLUSH_TURNS; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  };

  const fire = (t: Timer): void => {
    timers.delete(t.id);
    now = Math.max(now, t.due);
    t.fn();
  };

  return {
    now: () => now,
    setTimeout(fn, ms): TimerHandle {
      const id = ++seq;
      timers.set(id, { id, due: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      if (typeof handle === "number") timers.delete(handle);
    },
    async advance(ms) {
      const target = now + ms;
      await flush();
      for (let t = next(target); t; t = next(target)) {
        fire(t);
        await flush();
      }
      now = target;
      await flush();
    },
    async runAll(limit = 10_000) {
      await flush();
      for (let i = 0; i < limit; i++) {
        const t = next(Number.POSITIVE_INFINITY);
        if (!t) return;
        fire(t);
        await flush();
      }
      throw new Error(`fake clock: still ${timers.size} timers after firing ${limit}; a timer keeps re-arming itself`);
    },
    flush,
    pending: () => timers.size,
    nextDue: () => next(Number.POSITIVE_INFINITY)?.due,
  };
}
