/**
 * The timers of one run shell: the effects `timer` and `cancelTimer` of `decide`, kept by
 * key. Watchdogs (one per dispatched attempt) are the many: they come due in the order
 * they were armed (dispatch time + one window), so they share one clock timer, a FIFO
 * whose head is the next due. Every other key (and a watchdog re-armed to come due
 * before the FIFO's tail, after a heartbeat) gets a clock timer of its own.
 */
import type { Clock, TimerHandle } from "../../support/clock.js";

/** Key prefix of an attempt's watchdog timer (`watchdog:<dispatchId>`). */
export const WATCHDOG = "watchdog:";

/** The dispatch id of an attempt's timer key (`watchdog:d1` -> `d1`). */
export const dispatchIdOfKey = (key: string): string => key.slice(key.indexOf(":") + 1);

export class RunTimers {
  private readonly timers = new Map<string, TimerHandle>();
  /** Watchdog timers in due order, on one clock timer. */
  private readonly fifo = new Map<string, number>();
  private fifoTail = 0;
  private fifoTimer: TimerHandle = undefined;
  private closed = false;

  /** `due` is called with the key of each timer as it comes due, unless `close()` was called first. */
  constructor(
    private readonly clock: Clock,
    private readonly due: (key: string) => void,
  ) {}

  /** Fire `key` at `at` (epoch ms), replacing any timer of that key. */
  arm(key: string, at: number): void {
    if (this.closed) return;
    if (key.startsWith(WATCHDOG) && at >= this.fifoTail) {
      this.fifo.delete(key);
      this.fifo.set(key, at);
      this.fifoTail = at;
      this.scheduleFifo();
      return;
    }
    this.disarm(key);
    const ms = Math.max(0, at - this.clock.now());
    this.timers.set(
      key,
      this.clock.setTimeout(() => {
        this.timers.delete(key);
        this.due(key);
      }, ms),
    );
  }

  disarm(key: string): void {
    if (this.fifo.delete(key)) return;
    const h = this.timers.get(key);
    if (h === undefined) return;
    this.clock.clearTimeout(h);
    this.timers.delete(key);
  }

  /** Clear every timer; none fires or is armed after this. */
  close(): void {
    this.closed = true;
    for (const h of this.timers.values()) this.clock.clearTimeout(h);
    this.timers.clear();
    this.fifo.clear();
    if (this.fifoTimer !== undefined) this.clock.clearTimeout(this.fifoTimer);
    this.fifoTimer = undefined;
  }

  private scheduleFifo(): void {
    if (this.fifoTimer !== undefined || this.closed) return;
    const head = this.fifo.values().next();
    if (head.done === true) return;
    this.fifoTimer = this.clock.setTimeout(() => {
      this.fifoTimer = undefined;
      const now = this.clock.now();
      for (const [key, at] of this.fifo) {
        if (at > now) break;
        this.fifo.delete(key);
        this.due(key);
        if (this.closed) return;
      }
      if (this.fifo.size === 0) this.fifoTail = 0;
      this.scheduleFifo();
    }, Math.max(0, head.value - this.clock.now()));
  }
}
